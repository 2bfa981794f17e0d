//! Conference backend driver: messages both ways and the 2 s reconnect after an abnormal close.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns
#![allow(clippy::result_large_err)] // the handshake callback signature is tungstenite's

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use red5_signal::backend::{self, ClientMessage, ConnectParams, ServerMessage};
use red5_signal::driver::backend::BackendConnection;
use red5_signal::flow::backend::BackendEvent;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn reconnects_after_abnormal_close_and_delivers_queued_messages() {
    tokio::time::timeout(Duration::from_secs(20), async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel::<(u32, String)>();
        tokio::spawn(async move {
            for n in 1..=2u32 {
                let (tcp, _) = l.accept().await.unwrap();
                let mut ws = tokio_tungstenite::accept_hdr_async(
                    tcp,
                    |req: &tokio_tungstenite::tungstenite::handshake::server::Request, resp| {
                        assert_eq!(
                            req.uri().query(),
                            Some("testbed=conference&room=live/room1&host=true")
                        );
                        Ok(resp)
                    },
                )
                .await
                .unwrap();
                ws.send(Message::text(
                    r#"{"type":"mixerRegions","regions":["nyc3"]}"#,
                ))
                .await
                .unwrap();
                if n == 1 {
                    // abnormal close: drop the TCP connection without a close frame
                    drop(ws);
                    continue;
                }
                while let Some(Ok(Message::Text(t))) = ws.next().await {
                    seen_tx.send((n, t.to_string())).unwrap();
                }
            }
        });
        let url = backend::connect_url(
            &format!("{addr}"),
            &ConnectParams {
                room: "live/room1".into(),
                host: true,
                mixer: None,
                presenter: false,
            },
        );
        assert!(url.starts_with("ws://127.0.0.1:"));
        let mut b = BackendConnection::spawn(url);
        assert_eq!(b.next_event().await, Some(BackendEvent::Connected));
        assert!(matches!(
            b.next_event().await,
            Some(BackendEvent::Message(ServerMessage::MixerRegions { .. }))
        ));
        assert!(matches!(
            b.next_event().await,
            Some(BackendEvent::Disconnected {
                reconnecting: true,
                reason: Some(_)
            })
        ));
        b.send(ClientMessage::Promote {
            room: "live/room1".into(),
            stream_name: "alice".into(),
        });
        assert_eq!(b.next_event().await, Some(BackendEvent::Connected));
        let (n, text) = seen_rx.recv().await.unwrap();
        assert_eq!(n, 2);
        assert_eq!(
            text,
            r#"{"type":"promote","room":"live/room1","streamName":"alice"}"#
        );
        b.stop();
        loop {
            match b.next_event().await {
                Some(BackendEvent::Stopped) => break,
                Some(_) => {}
                None => panic!("ended without Stopped"),
            }
        }
    })
    .await
    .expect("test hung");
}
