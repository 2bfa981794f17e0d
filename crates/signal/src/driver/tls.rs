//! One rustls crypto provider (ring) for reqwest and tokio-tungstenite.

use std::sync::Once;

static INSTALL: Once = Once::new();

/// Installs ring as the process-wide rustls provider unless one is already installed.
pub fn ensure_crypto_provider() {
    INSTALL.call_once(|| {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Another thread may win the race; either way a provider is installed afterwards.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
    });
}

/// A reqwest client with our TLS setup and sane timeouts.
pub fn http_client() -> crate::Result<reqwest::Client> {
    ensure_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(30))
        .user_agent(concat!("red5-desk/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| crate::Error::Transport(format!("could not set up HTTPS: {e}")))
}
