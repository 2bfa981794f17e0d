//! Conference backend WebSocket driver with the 2 s reconnect of [`BackendClient`].

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::timers::Timers;
use super::tls;
use crate::backend::ClientMessage;
use crate::flow::backend::{BackendClient, BackendEvent, BackendOutput};

/// Handle to a running backend connection.
#[derive(Debug)]
pub struct BackendConnection {
    cmd: mpsc::UnboundedSender<Option<ClientMessage>>,
    events: mpsc::UnboundedReceiver<BackendEvent>,
}

impl BackendConnection {
    /// Connects to `url` (see [`crate::backend::connect_url`]) and keeps reconnecting after
    /// abnormal closes until [`BackendConnection::stop`].
    pub fn spawn(url: impl Into<String>) -> Self {
        Self::spawn_with_tls(url, &tls::TlsOptions::default())
    }

    pub fn spawn_with_tls(url: impl Into<String>, tls_opts: &tls::TlsOptions) -> Self {
        Self::spawn_with(url, tls_opts, BackendClient::new())
    }

    /// One connection that does not reconnect by itself: the first close or failed connect
    /// ends it with `Disconnected { reconnecting: false, reason }` (for owners with their own
    /// reconnect policy).
    pub fn spawn_once(url: impl Into<String>, tls_opts: &tls::TlsOptions) -> Self {
        Self::spawn_with(
            url,
            tls_opts,
            BackendClient::new().with_reconnect_delay(None),
        )
    }

    fn spawn_with(url: impl Into<String>, tls_opts: &tls::TlsOptions, m: BackendClient) -> Self {
        let (cmd, cmd_rx) = mpsc::unbounded_channel();
        let (ev_tx, events) = mpsc::unbounded_channel();
        let connector = tls::rustls_config(tls_opts)
            .ok()
            .map(tokio_tungstenite::Connector::Rustls);
        tokio::spawn(run(url.into(), connector, m, cmd_rx, ev_tx));
        BackendConnection { cmd, events }
    }

    pub fn send(&self, m: ClientMessage) {
        let _ = self.cmd.send(Some(m));
    }

    pub async fn next_event(&mut self) -> Option<BackendEvent> {
        self.events.recv().await
    }

    pub fn stop(&self) {
        let _ = self.cmd.send(None);
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next(
    ws: &mut Option<Ws>,
) -> Option<Result<Message, tokio_tungstenite::tungstenite::Error>> {
    match ws {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

async fn run(
    url: String,
    connector: Option<tokio_tungstenite::Connector>,
    mut m: BackendClient,
    mut cmd_rx: mpsc::UnboundedReceiver<Option<ClientMessage>>,
    ev: mpsc::UnboundedSender<BackendEvent>,
) {
    let mut ws: Option<Ws> = None;
    let mut timers = Timers::default();
    let mut stopped = false;
    m.start();
    loop {
        while let Some(o) = m.poll_output() {
            match o {
                BackendOutput::Connect => {
                    match tokio_tungstenite::connect_async_tls_with_config(
                        url.as_str(),
                        None,
                        false,
                        connector.clone(),
                    )
                    .await
                    {
                        Ok((s, _)) => {
                            ws = Some(s);
                            m.handle_open();
                        }
                        Err(e) => {
                            tracing::debug!("backend connect failed: {e}");
                            let why = crate::driver::ws::describe_connect_error(&e);
                            m.handle_closed_because(
                                None,
                                Some(format!("could not reach the conference backend: {why}")),
                            );
                        }
                    }
                }
                BackendOutput::Send(msg) => {
                    let failed = match &mut ws {
                        Some(s) => s.send(Message::text(msg.to_json())).await.is_err(),
                        None => false,
                    };
                    if failed {
                        ws = None;
                        m.handle_closed_because(
                            None,
                            Some("the conference backend connection broke".into()),
                        );
                    }
                }
                BackendOutput::Close => {
                    if let Some(mut s) = ws.take() {
                        let _ = s.close(None).await;
                    }
                }
                BackendOutput::ArmTimer(t, d) => timers.arm(t, d),
                BackendOutput::CancelTimer(t) => timers.cancel(t),
                BackendOutput::Event(e) => {
                    if e == BackendEvent::Stopped {
                        stopped = true;
                    }
                    let _ = ev.send(e);
                }
            }
        }
        if stopped {
            return;
        }
        tokio::select! {
            c = cmd_rx.recv() => match c {
                Some(Some(msg)) => m.send(msg),
                Some(None) | None => m.stop(),
            },
            f = next(&mut ws) => match f {
                Some(Ok(Message::Text(t))) => m.handle_text(t.as_str()),
                Some(Ok(Message::Close(frame))) => {
                    ws = None;
                    m.handle_closed(Some(frame.map_or(1005, |f| u16::from(f.code))));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    ws = None;
                    m.handle_closed_because(None, Some(format!("the conference backend connection broke: {e}")));
                }
                None => {
                    ws = None;
                    m.handle_closed_because(None, Some("the conference backend closed the connection".into()));
                }
            },
            _ = tokio::time::sleep_until(timers.next()) => {
                for t in timers.due() {
                    m.on_timer(t);
                }
            }
        }
    }
}
