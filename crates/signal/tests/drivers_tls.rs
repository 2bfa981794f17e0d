//! wss:// and https:// through our rustls (ring) setup against a self-signed server on 127.0.0.1:
//! refused by default with a readable error, accepted with the certificate trusted or with
//! verification off.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use red5_signal::driver::rest::Sm2Client;
use red5_signal::driver::tls::TlsOptions;
use red5_signal::driver::ws::WsSignalling;
use red5_signal::driver::Signalling;
use red5_signal::flow::ws::{WsConfig, WsRole};
use red5_signal::ws::ServerMessage;
use red5_signal::{Error, Secret};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::Message;

struct Server {
    addr: std::net::SocketAddr,
    pem: String,
}

/// A TLS listener with a fresh self-signed certificate for 127.0.0.1. Each connection is either
/// a WebSocket (Connect.Success + isAvailable:false) or an HTTP/1.1 login answer.
async fn tls_server(websocket: bool) -> Server {
    let ck =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let pem = ck.cert.pem();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![ck.cert.der().clone()], key)
    .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(cfg));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = l.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // Refused handshakes (untrusted certificate) simply end here.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                if websocket {
                    let Ok(mut ws) = tokio_tungstenite::accept_async(tls).await else {
                        return;
                    };
                    ws.send(Message::text(ServerMessage::connect_success().to_json()))
                        .await
                        .unwrap();
                    let _ = ws.next().await; // isAvailable
                    ws.send(Message::text(ServerMessage::IsAvailable(false).to_json()))
                        .await
                        .unwrap();
                    let _ = ws.next().await;
                } else {
                    let mut buf = vec![0u8; 4096];
                    let _ = tls.read(&mut buf).await;
                    let body = r#"{"token":"jwt.over.tls"}"#;
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(resp.as_bytes()).await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    Server { addr, pem }
}

async fn ws_connect(url: &str, opts: &TlsOptions) -> Result<(), Error> {
    let s = WsSignalling::spawn_with_tls(url, WsConfig::new(WsRole::Publisher, "s1"), opts);
    s.connect().await.map(|_| ())
}

#[tokio::test]
async fn wss_through_rustls() {
    tokio::time::timeout(Duration::from_secs(20), async {
        let srv = tls_server(true).await;
        let url = format!(
            "wss://127.0.0.1:{}/live/?id=s1&token=SECRET",
            srv.addr.port()
        );
        let e = ws_connect(&url, &TlsOptions::default()).await.unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, Error::Connect { .. }), "{e:?}");
        assert!(
            text.to_lowercase().contains("certificate") && !text.contains("SECRET"),
            "{text}"
        );
        ws_connect(
            &url,
            &TlsOptions {
                extra_roots_pem: vec![srv.pem.clone()],
                accept_invalid_certs: false,
            },
        )
        .await
        .unwrap();
        ws_connect(
            &url,
            &TlsOptions {
                extra_roots_pem: vec![],
                accept_invalid_certs: true,
            },
        )
        .await
        .unwrap();
        let bad = TlsOptions {
            extra_roots_pem: vec![
                "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n".into(),
            ],
            accept_invalid_certs: false,
        };
        assert!(ws_connect(&url, &bad).await.is_err());
    })
    .await
    .expect("test hung");
}

#[tokio::test]
async fn https_through_rustls() {
    tokio::time::timeout(Duration::from_secs(20), async {
        let srv = tls_server(false).await;
        let base = format!("https://127.0.0.1:{}", srv.addr.port());
        let e = Sm2Client::new(&base)
            .unwrap()
            .login("admin", &Secret::new("pw"))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Connect { .. }), "{e:?}");
        assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
        let trusted = TlsOptions {
            extra_roots_pem: vec![srv.pem.clone()],
            accept_invalid_certs: false,
        };
        let t = Sm2Client::with_tls(&base, &trusted)
            .unwrap()
            .login("admin", &Secret::new("pw"))
            .await
            .unwrap();
        assert_eq!(t.expose(), "jwt.over.tls");
        let any = TlsOptions {
            extra_roots_pem: vec![],
            accept_invalid_certs: true,
        };
        assert!(Sm2Client::with_tls(&base, &any)
            .unwrap()
            .login("admin", &Secret::new("pw"))
            .await
            .is_ok());
    })
    .await
    .expect("test hung");
}
