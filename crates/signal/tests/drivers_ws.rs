//! The WS driver against scripted tokio-tungstenite servers on 127.0.0.1.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use red5_signal::dc;
use red5_signal::driver::ws::WsSignalling;
use red5_signal::driver::{SignalEvent, Signalling};
use red5_signal::flow::ws::{WsConfig, WsRole};
use red5_signal::ws::{ClientMessage, IceCandidate, ServerMessage};
use red5_signal::Error;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

type Peer = WebSocketStream<TcpStream>;

/// One scripted WS server for one connection; returns `ws://addr/…`.
async fn serve<F, Fut>(script: F) -> String
where
    F: FnOnce(Peer) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        script(ws).await;
    });
    format!("ws://{addr}/streammanager/?id=stream1&host=10.0.0.5&app=live")
}

async fn say(ws: &mut Peer, m: ServerMessage) {
    ws.send(Message::text(m.to_json())).await.unwrap();
}

async fn hear(ws: &mut Peer) -> ClientMessage {
    loop {
        match ws.next().await.unwrap().unwrap() {
            Message::Text(t) => return ClientMessage::parse(t.as_str()).unwrap(),
            Message::Close(_) => panic!("closed"),
            _ => {}
        }
    }
}

fn fast(role: WsRole, name: &str) -> WsConfig {
    let mut c = WsConfig::new(role, name);
    c.timeouts.switch_delay = Duration::from_millis(20);
    c.timeouts.open = Duration::from_millis(1500);
    c
}

async fn until(s: &impl Signalling, pred: impl Fn(&SignalEvent) -> bool) -> SignalEvent {
    loop {
        let e = s.next_event().await.expect("driver ended");
        if pred(&e) {
            return e;
        }
    }
}

/// Guards against hangs only; nothing is timed.
async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("test hung")
}

#[tokio::test]
async fn publisher_end_to_end_with_switch_and_unpublish() {
    within(async {
        let url = serve(|mut ws| async move {
            say(&mut ws, ServerMessage::connect_success()).await;
            // the message queued before the socket existed arrives around isAvailable (it races
            // the server's Connect.Success), never lost
            let mut first = hear(&mut ws).await;
            let mut saw_log = false;
            if first.to_json() == r#"{"log":"INFO","message":"early"}"# {
                saw_log = true;
                first = hear(&mut ws).await;
            }
            assert!(matches!(first, ClientMessage::IsAvailable(ref a) if a.bundle == Some(true)), "{first:?}");
            if !saw_log {
                assert_eq!(hear(&mut ws).await.to_json(), r#"{"log":"INFO","message":"early"}"#);
            }
            say(&mut ws, ServerMessage::IsAvailable(false)).await;
            let ClientMessage::HandleOffer(o) = hear(&mut ws).await else { panic!() };
            assert_eq!(o.data.sdp.sdp, "v=0 offer");
            say(&mut ws, ServerMessage::answer("v=0 answer", None)).await;
            say(&mut ws, ServerMessage::candidate(IceCandidate::new("candidate:9 1 udp 1 127.0.0.1 5000 typ host", Some("0".into()), Some(0)), true)).await;
            say(&mut ws, ServerMessage::EndOfCandidates { typed: true }).await;
            let ClientMessage::HandleCandidate(c) = hear(&mut ws).await else { panic!() };
            assert!(!c.data.candidate.is_end());
            let ClientMessage::HandleCandidate(c) = hear(&mut ws).await else { panic!() };
            assert!(c.data.candidate.is_end());
            say(&mut ws, ServerMessage::trickle_completed(false)).await;
            assert!(matches!(hear(&mut ws).await, ClientMessage::Publish(_)));
            say(&mut ws, ServerMessage::starting("stream1", None)).await;
            say(&mut ws, ServerMessage::data_channel_available("red5pro")).await;
            let m = hear(&mut ws).await;
            assert_eq!(m.to_json(), r#"{"switchChannel":"red5pro"}"#);
            // the client closes the socket itself
            while let Some(Ok(f)) = ws.next().await {
                if matches!(f, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
        let s = WsSignalling::spawn(url, fast(WsRole::Publisher, "stream1"));
        s.send_message(dc::ClientMessage::Log(dc::Log { log: dc::LogLevel::Info, message: "early".into() })).await.unwrap();
        let c = s.connect().await.unwrap();
        assert!(c.ice_servers.is_empty());
        let answer = s.publish_offer("v=0 offer".into()).await.unwrap();
        assert_eq!(answer.sdp, "v=0 answer");
        assert!(matches!(until(&s, |e| matches!(e, SignalEvent::RemoteCandidate(_))).await, SignalEvent::RemoteCandidate(_)));
        s.add_local_candidate(IceCandidate::new("candidate:1 1 udp 1 127.0.0.1 4000 typ host", Some("0".into()), Some(0))).await.unwrap();
        s.end_of_local_candidates(None).await.unwrap();
        s.wait_started().await.unwrap();
        until(&s, |e| *e == SignalEvent::TransportSwitched).await;
        s.send_message(dc::ClientMessage::metadata_text("hello")).await.unwrap();
        let e = until(&s, |e| matches!(e, SignalEvent::SendOnDataChannel(_))).await;
        assert_eq!(e, SignalEvent::SendOnDataChannel(r#"{"send":{"method":"onMetaData","data":{"metadata":"hello"}}}"#.into()));
        // metadata relay arriving on the DC
        s.data_channel_message(r#"{"type":"metadata","method":"onMetaData","data":{"metadata":"back"}}"#.into()).await.unwrap();
        assert!(matches!(until(&s, |e| matches!(e, SignalEvent::Invoke(_))).await, SignalEvent::Invoke(i) if i.data["metadata"] == "back"));
        // unpublish goes on the DC; the server's "stopping" comes back on it
        let s = std::sync::Arc::new(s);
        let s2 = s.clone();
        let stopper = tokio::spawn(async move { s2.stop().await });
        until(&*s, |e| matches!(e, SignalEvent::SendOnDataChannel(t) if t == r#"{"unpublish":"stream1"}"#)).await;
        s.data_channel_message(ServerMessage::stopping("stream1", None).to_json()).await.unwrap();
        stopper.await.unwrap().unwrap();
        until(&*s, |e| *e == SignalEvent::Stopped).await;
    })
    .await;
}

#[tokio::test]
async fn unpublish_round_trip_on_the_data_channel() {
    within(async {
        let url = serve(|mut ws| async move {
            say(&mut ws, ServerMessage::connect_success()).await;
            hear(&mut ws).await;
            say(&mut ws, ServerMessage::IsAvailable(false)).await;
            hear(&mut ws).await;
            say(&mut ws, ServerMessage::answer("a", None)).await;
            hear(&mut ws).await; // candidate
            say(&mut ws, ServerMessage::trickle_completed(false)).await;
            hear(&mut ws).await; // publish
            say(&mut ws, ServerMessage::starting("stream1", None)).await;
            // stay open: unpublish comes on the WS (no switch here)
            let m = hear(&mut ws).await;
            assert_eq!(m.to_json(), r#"{"unpublish":"stream1"}"#);
            say(&mut ws, ServerMessage::stopping("stream1", None)).await;
            let _ = ws.next().await;
        })
        .await;
        let s = WsSignalling::spawn(url, fast(WsRole::Publisher, "stream1"));
        s.connect().await.unwrap();
        s.publish_offer("o".into()).await.unwrap();
        s.add_local_candidate(IceCandidate::new(
            "candidate:1 1 udp 1 127.0.0.1 4000 typ host",
            None,
            None,
        ))
        .await
        .unwrap();
        s.wait_started().await.unwrap();
        s.stop().await.unwrap();
        until(&s, |e| *e == SignalEvent::Stopped).await;
    })
    .await;
}

#[tokio::test]
async fn subscriber_end_to_end() {
    within(async {
        let url = serve(|mut ws| async move {
            say(&mut ws, ServerMessage::connect_success()).await;
            assert_eq!(hear(&mut ws).await.to_json(), r#"{"isAvailable":"stream1"}"#);
            say(&mut ws, ServerMessage::IsAvailable(true)).await;
            assert!(matches!(hear(&mut ws).await, ClientMessage::RequestOffer(r) if r.request_id.as_deref() == Some("subscriber-ab12")));
            say(&mut ws, ServerMessage::offer("v=0 server offer")).await;
            assert!(matches!(hear(&mut ws).await, ClientMessage::HandleAnswer(_)));
            assert!(matches!(hear(&mut ws).await, ClientMessage::HandleCandidate(_)));
            say(&mut ws, ServerMessage::trickle_completed(true)).await;
            assert!(matches!(hear(&mut ws).await, ClientMessage::Subscribe(_)));
            say(&mut ws, ServerMessage::starting("stream1", Some(dc::code::PLAY_START))).await;
            // two RPCs: one answered with data, one refused
            for ok in [true, false] {
                let ClientMessage::Transport(dc::ClientMessage::CallAdapter(c)) = hear(&mut ws).await else { panic!() };
                assert_eq!(c.call.method, "switchStreams");
                let id = c.id.unwrap();
                let reply = if ok {
                    dc::RpcReply::ok(id, serde_json::json!({"switched": true}))
                } else {
                    dc::RpcReply::err(id, serde_json::json!("no such stream"))
                };
                ws.send(Message::text(dc::ServerMessage::RpcReply(reply).to_json())).await.unwrap();
            }
            ws.send(Message::text(r#"{"type":"metadata","metadata":{"orientation":90}}"#)).await.unwrap();
            say(&mut ws, ServerMessage::unpublish_notify()).await;
            let _ = ws.next().await;
        })
        .await;
        let s = WsSignalling::spawn(url, fast(WsRole::Subscriber { request_id: "subscriber-ab12".into() }, "stream1"));
        s.connect().await.unwrap();
        assert_eq!(s.request_offer(None).await.unwrap(), "v=0 server offer");
        s.send_answer("v=0 answer".into()).await.unwrap();
        s.end_of_local_candidates(None).await.unwrap_or(());
        s.add_local_candidate(IceCandidate::new("candidate:1 1 udp 1 127.0.0.1 4000 typ host", None, None)).await.unwrap();
        s.wait_started().await.unwrap();
        let args = vec![serde_json::json!({"path": "live/stream2", "isImmediate": true})];
        assert_eq!(s.call("switchStreams", args.clone()).await.unwrap(), serde_json::json!({"switched": true}));
        let e = s.call("switchStreams", args).await.unwrap_err();
        assert_eq!(e.to_string(), "the server refused the call switchStreams: no such stream");
        let e = until(&s, |e| matches!(e, SignalEvent::Invoke(_))).await;
        assert!(matches!(e, SignalEvent::Invoke(i) if i.form == dc::RelayForm::E && i.data["orientation"] == 90));
        until(&s, |e| *e == SignalEvent::PublisherUnpublished).await;
        s.stop().await.unwrap();
    })
    .await;
}

async fn failure_of(url: String, cfg: WsConfig) -> Error {
    let s = WsSignalling::spawn(url, cfg);
    s.connect().await.expect_err("must fail")
}

#[tokio::test]
async fn connection_refused() {
    within(async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let e = failure_of(
            format!("ws://{addr}/live/?id=s&token=SECRET"),
            fast(WsRole::Publisher, "s"),
        )
        .await;
        assert!(matches!(e, Error::Connect { .. }), "{e:?}");
        let text = e.to_string();
        assert!(
            text.contains("could not connect") && !text.contains("SECRET"),
            "{text}"
        );
    })
    .await;
}

#[tokio::test]
async fn upgrade_refused_with_404() {
    within(async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut tcp, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 2048];
            let _ = tcp.read(&mut buf).await;
            let _ = tcp
                .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                .await;
        });
        let e = failure_of(
            format!("ws://{addr}/streammanager/?id=s"),
            fast(WsRole::Publisher, "s"),
        )
        .await;
        assert!(e.to_string().contains("WebSocket proxy enabled"), "{e}");
    })
    .await;
}

/// Answers one HTTP request with `status` and a JSON body, as a server refusing the upgrade.
async fn refuse_upgrade(status: &'static str, body: &'static str) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut tcp, _) = l.accept().await.unwrap();
        let mut buf = [0u8; 2048];
        let _ = tcp.read(&mut buf).await;
        let resp = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let _ = tcp.write_all(resp.as_bytes()).await;
    });
    addr
}

#[tokio::test]
async fn a_disabled_proxy_is_named_and_later_calls_keep_the_real_failure() {
    within(async {
        let addr = refuse_upgrade(
            "404 Not Found",
            r#"{"error":"The Stream Manager proxy is disabled (proxy.enabled=false in red5-web.properties)."}"#,
        )
        .await;
        let s = WsSignalling::spawn(
            format!("ws://{addr}/as/v1/proxy/ws/publish/live/s?id=s"),
            fast(WsRole::Publisher, "s"),
        );
        let e = s.connect().await.expect_err("must fail");
        assert_eq!(e, Error::ProxyDisabled);
        assert!(e.to_string().contains("proxy.enabled=false"), "{e}");
        assert!(!e.is_retryable());
        // The driver has ended; calls made now still say why, not just "closed".
        while s.next_event().await.is_some() {}
        assert_eq!(s.publish_offer("v=0".into()).await, Err(Error::ProxyDisabled));
        assert_eq!(s.wait_started().await, Err(Error::ProxyDisabled));
        assert_eq!(
            s.send_message(dc::ClientMessage::metadata_text("x")).await,
            Err(Error::ProxyDisabled)
        );
        assert_eq!(s.stop().await, Ok(()));

        // Another refusal keeps its status and the server's own words.
        let addr = refuse_upgrade("403 Forbidden", r#"{"error":"Node group not found: eu"}"#).await;
        let e = failure_of(
            format!("ws://{addr}/as/v1/proxy/ws/publish/live/s?id=s"),
            fast(WsRole::Publisher, "s"),
        )
        .await;
        let text = e.to_string();
        assert!(
            text.contains("HTTP 403") && text.contains("Node group not found: eu"),
            "{text}"
        );
    })
    .await;
}

#[tokio::test]
async fn calls_after_a_refused_connection_report_the_refusal() {
    within(async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let s = WsSignalling::spawn(
            format!("ws://{addr}/live/?id=s"),
            fast(WsRole::Publisher, "s"),
        );
        let first = s.connect().await.expect_err("must fail");
        assert!(matches!(first, Error::Connect { .. }), "{first:?}");
        while s.next_event().await.is_some() {}
        let later = s.publish_offer("v=0".into()).await.expect_err("must fail");
        assert_eq!(later, first);
    })
    .await;
}

#[tokio::test]
async fn rejected_timeout_malformed_binary_unexpected_and_close() {
    within(async {
        // Connect.Rejected
        let url = serve(|mut ws| async move {
            say(&mut ws, ServerMessage::connect_rejected()).await;
            let _ = ws.next().await;
        })
        .await;
        let e = failure_of(url, fast(WsRole::Publisher, "s")).await;
        assert!(
            matches!(e, Error::ConnectionRejected { .. }) && e.to_string().contains("rejected"),
            "{e}"
        );

        // no Connect.Success → open timeout
        let url = serve(|mut ws| async move {
            let _ = ws.next().await;
        })
        .await;
        let mut cfg = fast(WsRole::Publisher, "s");
        cfg.timeouts.open = Duration::from_millis(300);
        let e = failure_of(url, cfg).await;
        assert!(matches!(e, Error::OpenTimeout(_)), "{e:?}");

        // malformed JSON
        let url = serve(|mut ws| async move {
            ws.send(Message::text("{\"data\": ")).await.unwrap();
            let _ = ws.next().await;
        })
        .await;
        let e = failure_of(url, fast(WsRole::Publisher, "s")).await;
        assert!(matches!(e, Error::MalformedJson { .. }), "{e:?}");

        // non-JSON text and binary frames
        let url = serve(|mut ws| async move {
            ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
            let _ = ws.next().await;
        })
        .await;
        let e = failure_of(url, fast(WsRole::Publisher, "s")).await;
        assert!(matches!(e, Error::BinaryFrame), "{e:?}");

        // unexpected message
        let url = serve(|mut ws| async move {
            say(&mut ws, ServerMessage::connect_success()).await;
            hear(&mut ws).await;
            say(&mut ws, ServerMessage::offer("v=0")).await;
            let _ = ws.next().await;
        })
        .await;
        let s = WsSignalling::spawn(url, fast(WsRole::Publisher, "s"));
        let e = s.connect().await.unwrap_err();
        assert!(matches!(e, Error::UnexpectedMessage { .. }), "{e:?}");

        // server closes mid-flow (after the offer)
        let url = serve(|mut ws| async move {
            say(&mut ws, ServerMessage::connect_success()).await;
            hear(&mut ws).await;
            say(&mut ws, ServerMessage::IsAvailable(false)).await;
            hear(&mut ws).await;
            ws.close(None).await.unwrap();
        })
        .await;
        let s = WsSignalling::spawn(url, fast(WsRole::Publisher, "s"));
        s.connect().await.unwrap();
        let e = s.publish_offer("v=0".into()).await.unwrap_err();
        assert!(matches!(e, Error::ClosedByServer { .. }), "{e:?}");
        assert!(e.to_string().contains("waiting for the answer"), "{e}");
        // later calls fail fast with the same error instead of hanging
        assert!(s.wait_started().await.is_err());
        assert!(s.stop().await.is_ok());

        // name taken
        let url = serve(|mut ws| async move {
            say(&mut ws, ServerMessage::connect_success()).await;
            hear(&mut ws).await;
            say(&mut ws, ServerMessage::IsAvailable(true)).await;
            let _ = ws.next().await;
        })
        .await;
        let e = failure_of(url, fast(WsRole::Publisher, "s")).await;
        assert!(matches!(e, Error::InvalidName(_)), "{e:?}");
    })
    .await;
}

#[tokio::test]
async fn conference_participant_over_ws() {
    within(async {
        let url = serve(|mut ws| async move {
            say(&mut ws, ServerMessage::connect_success()).await;
            hear(&mut ws).await;
            say(&mut ws, ServerMessage::IsAvailable(false)).await;
            let ClientMessage::JoinGroup(j) = hear(&mut ws).await else {
                panic!()
            };
            assert_eq!(
                (j.group.as_str(), j.stream_name.as_str()),
                ("room1", "alice")
            );
            say(
                &mut ws,
                ServerMessage::answer("v=0 a", Some("1f2e3".into())),
            )
            .await;
            let ClientMessage::HandleCandidate(c) = hear(&mut ws).await else {
                panic!()
            };
            assert_eq!(c.stream.as_deref(), Some("1f2e3"));
            say(&mut ws, ServerMessage::trickle_completed(false)).await;
            say(
                &mut ws,
                ServerMessage::participant_starting("1f2e3", "room1"),
            )
            .await;
            assert_eq!(
                hear(&mut ws).await.to_json(),
                r#"{"leaveGroup":"room1","streamName":"alice"}"#
            );
            say(&mut ws, ServerMessage::leaving_group("room1")).await;
            let _ = ws.next().await;
        })
        .await;
        let s = WsSignalling::spawn(
            url,
            fast(
                WsRole::Participant {
                    group: "room1".into(),
                },
                "alice",
            ),
        );
        s.connect().await.unwrap();
        let a = s.publish_offer("v=0".into()).await.unwrap();
        assert_eq!(a.participant_id.as_deref(), Some("1f2e3"));
        s.add_local_candidate(IceCandidate::new(
            "candidate:1 1 udp 1 127.0.0.1 4000 typ host",
            None,
            None,
        ))
        .await
        .unwrap();
        s.wait_started().await.unwrap();
        until(&s, |e| matches!(e, SignalEvent::ParticipantJoined { .. })).await;
        s.stop().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn dropping_the_handle_unpublishes_and_ends_the_driver() {
    within(async {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let url = serve(|mut ws| async move {
            say(&mut ws, ServerMessage::connect_success()).await;
            hear(&mut ws).await;
            say(&mut ws, ServerMessage::IsAvailable(false)).await;
            hear(&mut ws).await;
            say(&mut ws, ServerMessage::answer("a", None)).await;
            hear(&mut ws).await;
            say(&mut ws, ServerMessage::trickle_completed(false)).await;
            hear(&mut ws).await;
            say(&mut ws, ServerMessage::starting("stream1", None)).await;
            // the dropped handle still unpublishes
            assert_eq!(hear(&mut ws).await.to_json(), r#"{"unpublish":"stream1"}"#);
            say(&mut ws, ServerMessage::stopping("stream1", None)).await;
            // and then the client closes the socket
            loop {
                match ws.next().await {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    _ => {}
                }
            }
            let _ = done_tx.send(());
        })
        .await;
        let s = WsSignalling::spawn(url, fast(WsRole::Publisher, "stream1"));
        s.connect().await.unwrap();
        s.publish_offer("o".into()).await.unwrap();
        s.add_local_candidate(IceCandidate::new(
            "candidate:1 1 udp 1 127.0.0.1 4000 typ host",
            None,
            None,
        ))
        .await
        .unwrap();
        s.wait_started().await.unwrap();
        drop(s);
        done_rx.await.unwrap();
    })
    .await;
}
