# Shared by scripts/run and scripts/test: install what is missing on Debian 12 / Ubuntu, quickly when
# everything is already there (dpkg-query, command -v), and say what is being done.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export DEBIAN_FRONTEND=noninteractive

say() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# Build dependencies of the desktop app, the media stack and the CLI.
BUILD_PACKAGES=(
  build-essential pkg-config file libssl-dev ca-certificates curl
  libwebkit2gtk-4.1-dev libgtk-3-dev libsoup-3.0-dev libjavascriptcoregtk-4.1-dev
  libayatana-appindicator3-dev librsvg2-dev libxdo-dev
  libvpx-dev nasm cmake libasound2-dev
)
# Only for the test suite: virtual display, WebDriver for WebKitGTK, fake microphone, screenshots.
TEST_PACKAGES=(
  xvfb xauth imagemagick webkit2gtk-driver
  pulseaudio pulseaudio-utils libasound2-plugins alsa-utils
)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "installing system packages needs root: run as root or install sudo (wanted: $*)"
  fi
}

is_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

APT_UPDATED=0
apt_update_once() {
  if [ "$APT_UPDATED" -eq 0 ]; then
    as_root apt-get update -qq
    APT_UPDATED=1
  fi
}

has_candidate() {
  apt_update_once
  [ -n "$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}' | grep -v '(none)')" ]
}

# nokhwa runs bindgen at build time and needs a libclang; Debian 12 has libclang1-14, Ubuntu newer ones.
libclang_package() {
  local p
  for p in libclang1-14 libclang1-15 libclang1-16 libclang1-17 libclang1-18 libclang1-19; do
    if is_installed "$p"; then echo "$p"; return; fi
  done
  for p in libclang1-14 libclang1-19 libclang1-18 libclang1-17 libclang1-16 libclang1-15 libclang-dev; do
    if has_candidate "$p"; then echo "$p"; return; fi
  done
  echo libclang-dev
}

# ensure_apt_packages pkg... : installs the ones that are not installed, in one apt-get call.
ensure_apt_packages() {
  command -v dpkg-query >/dev/null 2>&1 || die "this script supports Debian/Ubuntu (dpkg not found); install the packages listed in scripts/lib/setup.sh by hand"
  local missing=() p
  for p in "$@"; do
    is_installed "$p" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    say "installing system packages: ${missing[*]}"
    apt_update_once
    as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

ensure_build_deps() {
  ensure_apt_packages "${BUILD_PACKAGES[@]}"
  local clang
  clang="$(libclang_package)"
  ensure_apt_packages "$clang"
}

ensure_rust() {
  if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
  fi
  if ! command -v cargo >/dev/null 2>&1; then
    say "installing the Rust toolchain (rustup, stable)"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component clippy,rustfmt >&2
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
  fi
  export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
}

ensure_rust_components() {
  if ! cargo clippy --version >/dev/null 2>&1 || ! cargo fmt --version >/dev/null 2>&1; then
    command -v rustup >/dev/null 2>&1 || die "cargo clippy / cargo fmt are missing and rustup is not available to add them"
    say "adding rustup components clippy and rustfmt"
    rustup component add clippy rustfmt >&2
  fi
}

ensure_tauri_driver() {
  if ! command -v tauri-driver >/dev/null 2>&1; then
    say "installing tauri-driver (cargo install --locked)"
    cargo install tauri-driver --locked --quiet
  fi
}

# Chromium (Debian package `chromium`) drives the official Red5 SDK in the interop tests.
ensure_chromium() {
  if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
    return
  fi
  if has_candidate chromium; then
    ensure_apt_packages chromium
  else
    say "warning: no apt package 'chromium' here (Ubuntu ships it as a snap); interop tests need a Chromium at /usr/bin/chromium"
  fi
}

# npm dependencies of the official-SDK interop tests, when that suite exists.
ensure_node_deps() {
  local dir="$ROOT/tests/interop"
  [ -f "$dir/package.json" ] || return 0
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    ensure_apt_packages nodejs npm
  fi
  # npm ci only when the lock file changed since the last install.
  if [ ! -f "$dir/node_modules/.package-lock.json" ] || { [ -f "$dir/package-lock.json" ] && [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; }; then
    say "installing interop test dependencies (npm ci in tests/interop)"
    if [ -f "$dir/package-lock.json" ]; then
      (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >&2
    else
      (cd "$dir" && npm install --no-audit --no-fund --loglevel=error) >&2
    fi
  fi
}
