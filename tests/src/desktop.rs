//! Runs the real Red5 Desk window for end-to-end tests: builds/locates the `red5-desk` binary, provides
//! an X display (Xvfb when there is no `DISPLAY`), starts tauri-driver (→ WebKitWebDriver) on free ports,
//! and isolates every config/log/webview directory in a temp dir.
//!
//! Missing tools are an error with an install hint, never a silent skip: `./scripts/test` installs them.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::webdriver::{Client, Session};

#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("{tool} was not found. {hint}")]
    MissingTool {
        tool: &'static str,
        hint: &'static str,
    },
    #[error("could not build the red5-desk binary:\n{0}")]
    Build(String),
    #[error("{what} failed to start: {detail}")]
    Start { what: &'static str, detail: String },
    #[error("I/O error while {0}: {1}")]
    Io(&'static str, std::io::Error),
    #[error(transparent)]
    WebDriver(#[from] crate::webdriver::WdError),
    #[error("the page answered {0}")]
    Page(String),
}

pub type Result<T> = std::result::Result<T, HarnessError>;

/// The workspace root (this crate lives in `<root>/tests`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Where screenshots go: `$RED5_ARTIFACTS_DIR` or `<root>/artifacts`, plus a sub-folder per test.
pub fn artifacts_dir(test: &str) -> PathBuf {
    let base = std::env::var_os("RED5_ARTIFACTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("artifacts"));
    base.join(test)
}

/// Finds `name` in `PATH` (or `~/.cargo/bin`, where `cargo install` puts tools).
pub fn which(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
    {
        dirs.push(home.join("bin"));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// Builds `red5-desk` into the same target dir and profile as the running test, and returns its path.
///
/// Cargo only builds a package's binaries for that package's own integration tests, so the e2e crate
/// asks cargo itself (a no-op when the binary is up to date, e.g. after `cargo build --workspace`).
pub fn app_binary() -> Result<PathBuf> {
    // <target>/<profile>/deps/<this test>  →  <target>/<profile>
    let exe =
        std::env::current_exe().map_err(|e| HarnessError::Io("locating the test binary", e))?;
    let profile_dir = exe.parent().and_then(Path::parent).ok_or_else(|| {
        HarnessError::Build(format!("unexpected test binary location {}", exe.display()))
    })?;
    let target_dir = profile_dir.parent().unwrap_or(profile_dir);
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("debug");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    // Cargo gives test processes CARGO_PKG_*, CARGO_MANIFEST_* etc. Build scripts such as ring's
    // watch those with rerun-if-env-changed, so passing them on would make this build and the outer
    // `cargo test` rebuild each other's dependencies every time.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        let inherited_from_test = (k.starts_with("CARGO_")
            && !matches!(&*k, "CARGO_HOME" | "CARGO_TARGET_DIR")
            && !k.starts_with("CARGO_NET_")
            && !k.starts_with("CARGO_REGISTRIES_")
            && !k.starts_with("CARGO_HTTP_")
            && !k.starts_with("CARGO_BUILD_"))
            || matches!(&*k, "OUT_DIR" | "LD_LIBRARY_PATH" | "RUST_TEST_THREADS");
        if inherited_from_test {
            cmd.env_remove(&*k);
        }
    }
    cmd.current_dir(workspace_root())
        .args([
            "build",
            "-p",
            "red5-desk",
            "--bin",
            "red5-desk",
            "--target-dir",
        ])
        .arg(target_dir);
    if profile != "debug" {
        cmd.args([
            "--profile",
            if profile == "release" {
                "release"
            } else {
                profile
            },
        ]);
    }
    let out = cmd
        .output()
        .map_err(|e| HarnessError::Io("running cargo build", e))?;
    if !out.status.success() {
        return Err(HarnessError::Build(
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    let bin = profile_dir.join(format!("red5-desk{}", std::env::consts::EXE_SUFFIX));
    if !bin.is_file() {
        return Err(HarnessError::Build(format!(
            "cargo succeeded but {} does not exist",
            bin.display()
        )));
    }
    Ok(bin)
}

fn free_port() -> Result<u16> {
    let l =
        TcpListener::bind("127.0.0.1:0").map_err(|e| HarnessError::Io("finding a free port", e))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| HarnessError::Io("finding a free port", e))
}

/// A child process that is killed when dropped, with its output collected for error messages.
struct Proc {
    child: Child,
    output: Arc<Mutex<String>>,
}

impl Proc {
    fn spawn(what: &'static str, mut cmd: Command) -> Result<Self> {
        // Its own process group, so dropping it also ends what it started (tauri-driver's
        // WebKitWebDriver would otherwise outlive the test).
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| HarnessError::Start {
            what,
            detail: e.to_string(),
        })?;
        let output = Arc::new(Mutex::new(String::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let out = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream)
                    .lines()
                    .map_while(std::result::Result::ok)
                {
                    if let Ok(mut o) = out.lock() {
                        o.push_str(&line);
                        o.push('\n');
                    }
                }
            });
        }
        Ok(Self { child, output })
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn output(&self) -> String {
        self.output.lock().map(|o| o.clone()).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            // The group id is the child's pid (process_group(0) above).
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg("--")
                .arg(format!("-{}", self.child.id()))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private X server, or the one in `DISPLAY`.
pub struct Display {
    name: String,
    _xvfb: Option<Proc>,
}

impl Display {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn acquire() -> Result<Self> {
        if let Some(d) = std::env::var("DISPLAY").ok().filter(|d| !d.is_empty()) {
            return Ok(Self {
                name: d,
                _xvfb: None,
            });
        }
        let xvfb = which("Xvfb").ok_or(HarnessError::MissingTool {
            tool: "Xvfb",
            hint: "Install the Debian/Ubuntu package `xvfb` (./scripts/test does), or run with DISPLAY set.",
        })?;
        // Pick a display number nobody uses; if Xvfb loses a race for it, try the next one.
        let start = 100 + (std::process::id() % 400);
        for n in start..start + 20 {
            if Path::new(&format!("/tmp/.X{n}-lock")).exists()
                || Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
            {
                continue;
            }
            let mut cmd = Command::new(&xvfb);
            cmd.arg(format!(":{n}"))
                .args(["-screen", "0", "1280x800x24", "-nolisten", "tcp"]);
            let mut p = Proc::spawn("Xvfb", cmd)?;
            let socket = PathBuf::from(format!("/tmp/.X11-unix/X{n}"));
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if socket.exists() {
                    return Ok(Self {
                        name: format!(":{n}"),
                        _xvfb: Some(p),
                    });
                }
                if p.exited().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Err(HarnessError::Start {
            what: "Xvfb",
            detail: "no free display between :100 and :520".into(),
        })
    }
}

/// One tauri-driver with an isolated app environment. Sessions launch the app; closing a session
/// closes it, and a new session starts it again with the same settings directory (a restart).
pub struct Desktop {
    driver: Proc,
    client: Client,
    pub app: PathBuf,
    /// Temp home for everything the app writes: `config/`, `logs/`, `data/`, `cache/`.
    pub root: tempfile::TempDir,
    _display: Display,
}

impl Desktop {
    pub fn config_dir(&self) -> PathBuf {
        self.root.path().join("config")
    }

    pub fn log_dir(&self) -> PathBuf {
        self.root.path().join("logs")
    }

    /// Checks the tools, builds the app and starts tauri-driver.
    pub fn start() -> Result<Self> {
        Self::start_with_env(&[])
    }

    /// Like [`Desktop::start`], with extra environment variables for the app (e.g.
    /// `RED5_DESK_BUILTIN_PORT`).
    pub fn start_with_env(env: &[(&str, &str)]) -> Result<Self> {
        let tauri_driver = which("tauri-driver").ok_or(HarnessError::MissingTool {
            tool: "tauri-driver",
            hint: "Install it with `cargo install tauri-driver --locked` (./scripts/test does).",
        })?;
        let native = which("WebKitWebDriver").ok_or(HarnessError::MissingTool {
            tool: "WebKitWebDriver",
            hint: "Install the Debian/Ubuntu package `webkit2gtk-driver` (./scripts/test does).",
        })?;
        let app = app_binary()?;
        let display = Display::acquire()?;
        let root = tempfile::Builder::new()
            .prefix("red5-desk-e2e-")
            .tempdir()
            .map_err(|e| HarnessError::Io("creating the temp dir", e))?;
        for d in ["config", "logs", "data", "cache", "xdg-config"] {
            std::fs::create_dir_all(root.path().join(d))
                .map_err(|e| HarnessError::Io("creating temp dirs", e))?;
        }

        let port = free_port()?;
        let native_port = free_port()?;
        let mut cmd = Command::new(tauri_driver);
        cmd.args([
            "--port",
            &port.to_string(),
            "--native-port",
            &native_port.to_string(),
        ])
        .arg("--native-driver")
        .arg(&native)
        // Inherited by WebKitWebDriver and the app it launches.
        .env("DISPLAY", display.name())
        .env("RED5_DESK_CONFIG_DIR", root.path().join("config"))
        .env("RED5_DESK_LOG_DIR", root.path().join("logs"))
        .env("XDG_DATA_HOME", root.path().join("data"))
        .env("XDG_CACHE_HOME", root.path().join("cache"))
        .env("XDG_CONFIG_HOME", root.path().join("xdg-config"))
        .env_remove("WAYLAND_DISPLAY")
        .env("GDK_BACKEND", "x11")
        .env("NO_AT_BRIDGE", "1")
        .envs(env.iter().copied());
        let mut driver = Proc::spawn("tauri-driver", cmd)?;
        let client = Client::new(port);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !client.is_up() {
            if let Some(status) = driver.exited() {
                return Err(HarnessError::Start {
                    what: "tauri-driver",
                    detail: format!("exited with {status}:\n{}", driver.output()),
                });
            }
            if Instant::now() > deadline {
                return Err(HarnessError::Start {
                    what: "tauri-driver",
                    detail: format!("no answer on port {port} within 30 s:\n{}", driver.output()),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Self {
            driver,
            client,
            app,
            root,
            _display: display,
        })
    }

    /// Launches the app in a new WebDriver session and waits until the UI has loaded its state.
    pub fn launch(&self) -> Result<Session> {
        let s = self
            .client
            .new_session(&self.app)
            .map_err(|e| HarnessError::Start {
                what: "the Red5 Desk window",
                detail: format!("{e}\n--- tauri-driver output ---\n{}", self.driver.output()),
            })?;
        s.wait_until(
            "the UI to load its snapshot",
            "document.body && document.body.dataset.ready",
            Duration::from_secs(30),
        )?;
        Ok(s)
    }

    /// tauri-driver / WebKitWebDriver / app output so far (for failure messages).
    pub fn driver_output(&self) -> String {
        self.driver.output()
    }
}

/// Saves a screenshot as `<artifacts>/<test>/<name>.png` and returns the path: the window as
/// the display shows it (the app reads it back, native video included), or WebKit's own
/// rendering where the app cannot read the display.
pub fn save_screenshot(session: &Session, test: &str, name: &str) -> Result<PathBuf> {
    use base64::Engine as _;
    let shown = session.execute_async(
        "const done = arguments[arguments.length - 1]; \
         window.red5Desk.snapshot().then(done, () => done(null));",
        vec![],
    )?;
    let png = match shown
        .as_str()
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
    {
        Some(png) => png,
        None => webkit_screenshot(session)?,
    };
    let dir = artifacts_dir(test);
    std::fs::create_dir_all(&dir).map_err(|e| HarnessError::Io("creating the artifacts dir", e))?;
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).map_err(|e| HarnessError::Io("writing a screenshot", e))?;
    Ok(path)
}

fn webkit_screenshot(session: &Session) -> Result<Vec<u8>> {
    // WebKitWebDriver's snapshot waits for a rendering update. Without a GPU the app paints
    // without accelerated compositing (src-tauri/src/rendering.rs), where an idle page makes
    // none and the screenshot never returns; an invisible 1-pixel change each animation frame
    // keeps one coming (the window itself paints either way).
    session.execute(
        "if (!window.__red5Repaint) { window.__red5Repaint = true; \
           const d = document.createElement('div'); \
           d.style.cssText = 'position:fixed;left:0;top:0;width:1px;height:1px;opacity:0.01;pointer-events:none'; \
           d.setAttribute('aria-hidden', 'true'); document.body.append(d); let n = 0; \
           const f = () => { d.style.background = n++ % 2 ? '#000' : '#111'; requestAnimationFrame(f); }; f(); } \
         return true;",
        vec![],
    )?;
    Ok(session.screenshot()?)
}

/// What a video canvas shows in a region given as fractions of its size `[x, y, w, h]`:
/// `[R, G, B, luma spread, share of pixels not near-black]`. The page reads its own pixels, or
/// with the native video surface the app reads the display back (`window.red5Desk.probeCanvas`).
pub fn probe_canvas(session: &Session, selector: &str, region: [f64; 4]) -> Result<[f64; 5]> {
    let v = session.execute_async(
        "const done = arguments[arguments.length - 1]; \
         window.red5Desk.probeCanvas(arguments[0], arguments[1]).then(done, (e) => done(String(e)));",
        vec![selector.into(), serde_json::json!(region)],
    )?;
    let a = v
        .as_array()
        .filter(|a| a.len() == 5)
        .ok_or_else(|| HarnessError::Page(format!("{v} to a probe of {selector}")))?;
    let mut out = [0.0; 5];
    for (o, x) in out.iter_mut().zip(a) {
        *o = x.as_f64().unwrap_or(0.0);
    }
    Ok(out)
}
