//! TLS for every driver: rustls with the ring provider (no native-tls/openssl, no aws-lc),
//! public roots (webpki-roots for WebSockets, the platform verifier for HTTPS), plus options for
//! Stream Managers with private or self-signed certificates.

use std::sync::{Arc, Once};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::error::{Error, Result};

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

/// Trust settings beyond the public web PKI.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// Extra CA or server certificates (PEM) to trust, e.g. a company CA.
    pub extra_roots_pem: Vec<String>,
    /// Skip certificate verification entirely (self-signed test servers only; the UI must warn).
    pub accept_invalid_certs: bool,
}

impl TlsOptions {
    pub fn is_default(&self) -> bool {
        self.extra_roots_pem.is_empty() && !self.accept_invalid_certs
    }

    fn extra_roots(&self) -> Result<Vec<CertificateDer<'static>>> {
        let mut out = Vec::new();
        for pem in &self.extra_roots_pem {
            for c in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                out.push(c.map_err(|e| {
                    Error::Transport(format!("a trusted certificate is not valid PEM: {e}"))
                })?);
            }
        }
        Ok(out)
    }
}

/// A rustls client configuration for WebSockets honouring `opts`.
pub fn rustls_config(opts: &TlsOptions) -> Result<Arc<rustls::ClientConfig>> {
    ensure_crypto_provider();
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Transport(format!("TLS setup failed: {e}")))?;
    let cfg = if opts.accept_invalid_certs {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for c in opts.extra_roots()? {
            roots.add(c).map_err(|e| {
                Error::Transport(format!("cannot trust the given certificate: {e}"))
            })?;
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(Arc::new(cfg))
}

/// A reqwest client with our TLS setup and sane timeouts.
pub fn http_client() -> Result<reqwest::Client> {
    http_client_with(&TlsOptions::default())
}

/// A reqwest client honouring `opts`.
pub fn http_client_with(opts: &TlsOptions) -> Result<reqwest::Client> {
    ensure_crypto_provider();
    let mut b = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(30))
        .user_agent(concat!("red5-desk/", env!("CARGO_PKG_VERSION")));
    if !opts.is_default() {
        // Same verifier as the WebSockets, so both transports trust the same servers.
        b = b.tls_backend_preconfigured(Arc::unwrap_or_clone(rustls_config(opts)?));
    }
    b.build()
        .map_err(|e| Error::Transport(format!("could not set up HTTPS: {e}")))
}

/// Accepts any certificate but still checks the handshake signatures.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
