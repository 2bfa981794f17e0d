//! A Stream Manager with `proxy.enabled=false` (the built-in server's `proxy_enabled: false`):
//! every engine over both transports (WHIP/WHEP and the WS proxy of SM1 and SM2) tells the user
//! exactly that and how to fix it, instead of a bare connection error.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::time::Duration;

use red5_localsm::{LocalServer, ServerConfig};
use red5_session::subscriber::AudioOutput;
use red5_session::{
    Endpoint, Publisher, PublisherConfig, PublisherEvent, Subscriber, SubscriberConfig,
    SubscriberEvent, Transport,
};
use tokio::sync::mpsc;

const WORDS: &str = "The Stream Manager's WebRTC proxy is turned off (proxy.enabled=false in \
red5-web.properties). Turn it on, or connect to the node directly with a Standalone profile.";

async fn failure<E: std::fmt::Debug>(
    rx: &mut mpsc::UnboundedReceiver<E>,
    text: impl Fn(&E) -> Option<String>,
) -> String {
    let mut seen = Vec::new();
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(e) = rx.recv().await {
            if let Some(t) = text(&e) {
                return Some(t);
            }
            seen.push(format!("{e:?}"));
        }
        None
    })
    .await;
    match found {
        Ok(Some(t)) => t,
        _ => panic!("no failure; saw {seen:#?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_engine_says_the_proxy_is_off_over_both_transports() {
    let s = LocalServer::start(ServerConfig {
        proxy_enabled: false,
        ..Default::default()
    })
    .await
    .unwrap();
    for t in [Transport::WhipSm2, Transport::WsSm2, Transport::WsSm1] {
        let cfg = PublisherConfig::new(
            Endpoint::new(s.base_url(), t, "live"),
            "s1",
            Some("synthetic:pattern"),
            Some("synthetic:tone:440"),
        );
        let (p, mut rx) = Publisher::start(cfg).await.unwrap();
        let text = failure(&mut rx, |e| match e {
            PublisherEvent::Failed { error } => Some(error.to_string()),
            _ => None,
        })
        .await;
        assert_eq!(text, WORDS, "publisher over {t:?}");
        p.stop().await;

        let mut ep = Endpoint::new(s.base_url(), t, "live");
        // SM1's subscribe lookup already says nobody publishes "s1"; skip it to reach the proxy.
        ep.sm1_node_host = Some("127.0.0.1".into());
        let mut cfg = SubscriberConfig::new(ep, "s1");
        cfg.audio_output = AudioOutput::Silent;
        let (sub, mut rx) = Subscriber::start(cfg).await.unwrap();
        let text = failure(&mut rx, |e| match e {
            SubscriberEvent::Failed { error } => Some(error.to_string()),
            _ => None,
        })
        .await;
        assert_eq!(text, WORDS, "subscriber over {t:?}");
        sub.stop().await;
    }
    // Straight to the node still works with the proxy off (the advice is real).
    let cfg = PublisherConfig::new(
        Endpoint::new(s.base_url(), Transport::WhipNode, "live"),
        "s2",
        Some("synthetic:pattern"),
        None,
    );
    let (p, mut rx) = Publisher::start(cfg).await.unwrap();
    failure(&mut rx, |e| match e {
        PublisherEvent::Started => Some(String::new()),
        PublisherEvent::Failed { error } => panic!("node publish failed: {error}"),
        _ => None,
    })
    .await;
    p.stop().await;
    s.shutdown().await;
}
