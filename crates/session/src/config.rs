//! Where and how a session connects: the server profile's endpoint (which signalling: WHIP/WHEP
//! through the SM2 proxy or a node, or the WS proxy of SM1/SM2 or a standalone node), the app,
//! and the round-trip auth parameters.

use red5_signal::driver::http::WhipSignalling;
use red5_signal::driver::rest::Sm1Client;
use red5_signal::driver::ws::WsSignalling;
use red5_signal::driver::Signalling;
use red5_signal::flow::http::HttpConfig;
use red5_signal::flow::ws::{WsConfig, WsRole};
use red5_signal::rest::{sm1, sm2};
use red5_signal::urls;
use red5_signal::whip::Kind;
use red5_signal::Secret;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Which signalling a session uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// WHIP (publish) / Red5 WHEP (subscribe) through the Stream Manager 2 proxy
    /// (`/as/v1/proxy/whip|whep/<app>/<stream>`).
    WhipSm2,
    /// WHIP/WHEP straight to a node (`/<app>/whip|whep/endpoint/<stream>`).
    WhipNode,
    /// WebSocket signalling through the Stream Manager 2 proxy (`/as/v1/proxy/ws/…`).
    WsSm2,
    /// WebSocket signalling through the Stream Manager 1 proxy (`/streammanager/?host=…`),
    /// after an SM1 lookup of the node.
    WsSm1,
    /// WebSocket signalling straight to a node (`/<app>/?id=…`).
    WsStandalone,
}

impl Transport {
    pub fn is_ws(self) -> bool {
        matches!(
            self,
            Transport::WsSm1 | Transport::WsSm2 | Transport::WsStandalone
        )
    }
}

/// Round-trip authentication (`username` / `password` / `token` connection params).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Auth {
    pub username: String,
    pub password: Secret,
    pub token: Secret,
}

/// A server to talk to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Endpoint {
    /// Origin of the Stream Manager or node: `https://sm.example.com`, `http://127.0.0.1:5080`.
    pub base_url: String,
    pub transport: Transport,
    /// Application scope, rooms included: `live`, `live/room1`.
    pub app: String,
    /// SM2 node group (`default`).
    pub node_group: String,
    /// SM1: the node to proxy to; `None` = ask the Stream Manager (lookup).
    pub sm1_node_host: Option<String>,
    pub auth: Option<Auth>,
    /// Extra connection params (`region`, `transcode`…), sent as given.
    pub params: Vec<(String, String)>,
}

impl Endpoint {
    pub fn new(base_url: impl Into<String>, transport: Transport, app: impl Into<String>) -> Self {
        Endpoint {
            base_url: base_url.into(),
            transport,
            app: app.into(),
            node_group: "default".into(),
            sm1_node_host: None,
            auth: None,
            params: Vec::new(),
        }
    }

    /// The endpoint a saved server profile (red5-config) stands for, with its auth and ICE
    /// servers. The built-in server serves the Stream Manager 2 proxy paths.
    pub fn from_profile(
        p: &red5_config::profile::ServerProfile,
    ) -> (Endpoint, Vec<IceServerConfig>) {
        use red5_config::profile::{ProfileKind, Transport as Sig};
        let ws = p.transport == Sig::WsProxy;
        let transport = match (&p.kind, ws) {
            (ProfileKind::BuiltIn | ProfileKind::Sm2 { .. }, false) => Transport::WhipSm2,
            (ProfileKind::BuiltIn | ProfileKind::Sm2 { .. }, true) => Transport::WsSm2,
            // SM1 hosts WHProxy under the node-style path.
            (ProfileKind::Sm1 { .. } | ProfileKind::Standalone, false) => Transport::WhipNode,
            (ProfileKind::Sm1 { .. }, true) => Transport::WsSm1,
            (ProfileKind::Standalone, true) => Transport::WsStandalone,
        };
        let mut ep = Endpoint::new(p.base_url(), transport, p.app.clone());
        if let ProfileKind::Sm2 { node_group, .. } = &p.kind {
            if !node_group.trim().is_empty() {
                ep.node_group = node_group.clone();
            }
        }
        if !p.auth.is_empty() {
            ep.auth = Some(Auth {
                username: p.auth.username.clone(),
                password: p.auth.password.clone(),
                token: p.auth.token.clone(),
            });
        }
        let ice = p
            .ice_servers
            .iter()
            .map(|s| IceServerConfig {
                urls: s.urls.clone(),
                username: s.username.clone(),
                credential: s.credential.clone(),
            })
            .collect();
        (ep, ice)
    }

    pub fn with_auth(mut self, auth: Auth) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Connection params in the order the SDK sends them (auth first, then extras).
    pub(crate) fn connection_params(&self) -> Vec<(String, String)> {
        let mut v = Vec::new();
        if let Some(a) = &self.auth {
            for (k, val) in [
                ("username", a.username.as_str()),
                ("password", a.password.expose()),
                ("token", a.token.expose()),
            ] {
                if !val.is_empty() {
                    v.push((k.to_owned(), val.to_owned()));
                }
            }
        }
        v.extend(self.params.iter().cloned());
        v
    }

    pub(crate) fn validate(&self, stream: &str) -> Result<()> {
        if stream.trim().is_empty() {
            return Err(Error::Config("the stream name is empty".into()));
        }
        if self.app.trim_matches('/').is_empty() {
            return Err(Error::Config("the application (app) is empty".into()));
        }
        if !(self.base_url.starts_with("http://")
            || self.base_url.starts_with("https://")
            || self.base_url.starts_with("ws://")
            || self.base_url.starts_with("wss://"))
        {
            return Err(Error::Config(format!(
                "'{}' is not a server address (http(s)://host:port)",
                self.base_url
            )));
        }
        Ok(())
    }
}

/// A STUN/TURN server from the settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServerConfig {
    pub urls: Vec<String>,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub credential: Secret,
}

/// Who is signalling.
#[derive(Debug, Clone)]
pub(crate) enum Role {
    Publisher { key_framerate_ms: u32 },
    Subscriber { request_id: String },
}

fn http_base(base: &str) -> String {
    base.replacen("wss://", "https://", 1)
        .replacen("ws://", "http://", 1)
}

/// Opens the signalling this endpoint calls for (the drivers start connecting at once).
pub(crate) async fn open_signalling(
    ep: &Endpoint,
    role: &Role,
    stream: &str,
) -> Result<Box<dyn Signalling>> {
    let params = ep.connection_params();
    let base = http_base(&ep.base_url);
    let app = ep.app.trim_matches('/');
    match ep.transport {
        Transport::WhipSm2 | Transport::WhipNode => {
            let (kind, rid) = match role {
                Role::Publisher { .. } => (Kind::Whip, None),
                Role::Subscriber { request_id } => (Kind::Whep, Some(request_id.as_str())),
            };
            let url = if ep.transport == Transport::WhipSm2 {
                urls::whip_sm2(&base, kind, app, stream, rid)
            } else {
                urls::whip_standalone(&base, kind, app, stream, rid)
            };
            let endpoint = url::Url::parse(&url)
                .map_err(|e| Error::Config(format!("'{url}' is not a valid URL: {e}")))?;
            let mut cfg = HttpConfig::new(kind, endpoint);
            cfg.params = params;
            if let Role::Publisher { key_framerate_ms } = role {
                cfg.post.key_framerate_ms = *key_framerate_ms;
            }
            Ok(Box::new(WhipSignalling::spawn(cfg)?))
        }
        Transport::WsSm2 | Transport::WsSm1 | Transport::WsStandalone => {
            let (wsrole, id, dir, action) = match role {
                Role::Publisher { .. } => (
                    WsRole::Publisher,
                    stream.to_owned(),
                    sm2::Direction::Publish,
                    sm1::Action::Broadcast,
                ),
                Role::Subscriber { request_id } => (
                    WsRole::Subscriber {
                        request_id: request_id.clone(),
                    },
                    request_id.clone(),
                    sm2::Direction::Subscribe,
                    sm1::Action::Subscribe,
                ),
            };
            let url = match ep.transport {
                Transport::WsSm2 => {
                    urls::ws_sm2(&base, dir, app, stream, &id, &ep.node_group, &params)
                }
                Transport::WsSm1 => {
                    let host = match &ep.sm1_node_host {
                        Some(h) => h.clone(),
                        None => sm1_lookup(&base, app, stream, action).await?,
                    };
                    urls::ws_sm1(&base, &id, &host, app, &params)
                }
                _ => urls::ws_standalone(&base, app, &id, &params),
            };
            let mut cfg = WsConfig::new(wsrole, stream);
            if let Role::Publisher { key_framerate_ms } = role {
                cfg.key_framerate_ms = *key_framerate_ms;
            }
            Ok(Box::new(WsSignalling::spawn(url, cfg)))
        }
    }
}

async fn sm1_lookup(base: &str, app: &str, stream: &str, action: sm1::Action) -> Result<String> {
    let client = Sm1Client::new(base, Secret::default())?;
    let found = client
        .lookup(app, stream, action, &urls::Lookup::default())
        .await?;
    found
        .into_iter()
        .next()
        .map(|l| l.server_address)
        .ok_or_else(|| {
            Error::Config(format!(
                "the Stream Manager has no server for '{app}/{stream}'"
            ))
        })
}

/// A signalling call answered "closed" because the driver had already ended: its event
/// stream still holds the reason (the driver replies `Closed` to calls made after it stopped).
pub(crate) async fn explain(sig: &dyn Signalling, e: red5_signal::Error) -> Error {
    if !matches!(e, red5_signal::Error::Closed) {
        return Error::Signal(e);
    }
    let found = tokio::time::timeout(std::time::Duration::from_millis(500), async {
        while let Some(ev) = sig.next_event().await {
            if let red5_signal::driver::SignalEvent::Failed(info) = ev {
                return Some(info);
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(info)) if info.invalid_name => {
            Error::Signal(red5_signal::Error::InvalidName(info.message))
        }
        Ok(Some(info)) => Error::ConnectionLost(info.message),
        _ => Error::Signal(e),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn auth_params_skip_empty_values_and_keep_order() {
        let ep = Endpoint::new("http://127.0.0.1:1", Transport::WhipSm2, "live").with_auth(Auth {
            username: "u".into(),
            password: "p".into(),
            token: Secret::default(),
        });
        assert_eq!(
            ep.connection_params(),
            vec![
                ("username".into(), "u".into()),
                ("password".into(), "p".into())
            ]
        );
        assert!(format!("{:?}", ep).contains("u") && !format!("{:?}", ep.auth).contains("\"p\""));
    }

    #[test]
    fn profiles_map_to_the_right_signalling() {
        use red5_config::profile::{ProfileKind, RoundTripAuth, ServerProfile, Transport as Sig};
        let mut p = ServerProfile::built_in();
        let (ep, ice) = Endpoint::from_profile(&p);
        assert_eq!(
            (ep.transport, ep.base_url.as_str(), ep.app.as_str()),
            (Transport::WhipSm2, "http://127.0.0.1:5080", "live")
        );
        assert!(ep.auth.is_none() && ice.is_empty());
        p.transport = Sig::WsProxy;
        assert_eq!(Endpoint::from_profile(&p).0.transport, Transport::WsSm2);
        p.kind = ProfileKind::Sm1 {
            access_token: Secret::default(),
        };
        assert_eq!(Endpoint::from_profile(&p).0.transport, Transport::WsSm1);
        p.kind = ProfileKind::Standalone;
        assert_eq!(
            Endpoint::from_profile(&p).0.transport,
            Transport::WsStandalone
        );
        p.transport = Sig::WhipWhep;
        assert_eq!(Endpoint::from_profile(&p).0.transport, Transport::WhipNode);
        p.kind = ProfileKind::Sm2 {
            node_group: "eu".into(),
            region: None,
            admin_user: String::new(),
            admin_password: Secret::default(),
        };
        p.auth = RoundTripAuth {
            username: "u".into(),
            password: "p".into(),
            token: Secret::default(),
        };
        let (ep, _) = Endpoint::from_profile(&p);
        assert_eq!(
            (ep.transport, ep.node_group.as_str()),
            (Transport::WhipSm2, "eu")
        );
        assert_eq!(
            ep.connection_params(),
            vec![
                ("username".into(), "u".into()),
                ("password".into(), "p".into())
            ]
        );
    }

    #[test]
    fn validation_messages_are_for_people() {
        let ep = Endpoint::new("127.0.0.1:5080", Transport::WsSm2, "live");
        assert!(ep
            .validate("s")
            .unwrap_err()
            .to_string()
            .contains("not a server address"));
        let ep = Endpoint::new("http://127.0.0.1:5080", Transport::WsSm2, "live");
        assert!(ep
            .validate(" ")
            .unwrap_err()
            .to_string()
            .contains("stream name is empty"));
        assert!(ep.validate("s1").is_ok());
    }
}
