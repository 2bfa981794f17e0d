//! Which server a session talks to: a saved profile (by name or id; the active one by default)
//! or an address given on the command line, with per-run overrides.

use red5_config::{ServerProfile, SettingsStore};
use red5_session::{Auth, Endpoint, IceServerConfig, Transport};
use red5_signal::Secret;

use crate::{CliError, Context};

/// Signalling choices on the command line (`red5_session::Transport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TransportArg {
    /// WHIP/WHEP through the Stream Manager 2.0 proxy (also the built-in server).
    WhipSm2,
    /// WHIP/WHEP straight to a node (or SM1's WHProxy).
    WhipNode,
    /// WebSocket signalling through the Stream Manager 2.0 proxy.
    WsSm2,
    /// WebSocket signalling through the Stream Manager 1.0 proxy (after a node lookup).
    WsSm1,
    /// WebSocket signalling straight to a node.
    WsStandalone,
}

impl From<TransportArg> for Transport {
    fn from(t: TransportArg) -> Self {
        match t {
            TransportArg::WhipSm2 => Transport::WhipSm2,
            TransportArg::WhipNode => Transport::WhipNode,
            TransportArg::WsSm2 => Transport::WsSm2,
            TransportArg::WsSm1 => Transport::WsSm1,
            TransportArg::WsStandalone => Transport::WsStandalone,
        }
    }
}

#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Server")]
pub struct ServerArgs {
    /// Saved server profile to use, by name or id (see `profiles`). Default: the active profile.
    #[arg(long, short = 'p', conflicts_with = "url", global = true)]
    pub profile: Option<String>,
    /// Server address instead of a profile: http(s)://host:port of the Stream Manager or node.
    #[arg(long, value_name = "URL", global = true)]
    pub url: Option<String>,
    /// Signalling to use (default: the profile's; whip-sm2 with --url).
    #[arg(long, value_enum, global = true)]
    pub transport: Option<TransportArg>,
    /// Application scope, e.g. `live` or `live/room1` (default: the profile's; `live` with --url).
    #[arg(long, global = true)]
    pub app: Option<String>,
    /// Stream Manager 2.0 node group (default: the profile's, else `default`).
    #[arg(long, global = true)]
    pub node_group: Option<String>,
    /// Round-trip authentication user name.
    #[arg(long, global = true)]
    pub username: Option<String>,
    /// Round-trip authentication password (prefer the environment variable: arguments show up in `ps`).
    #[arg(
        long,
        env = "RED5_DESK_PASSWORD",
        hide_env_values = true,
        global = true
    )]
    pub password: Option<String>,
    /// Round-trip authentication token.
    #[arg(long, env = "RED5_DESK_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
}

impl ServerArgs {
    /// The endpoint and ICE servers for this run.
    pub fn resolve(&self, ctx: &Context) -> Result<(Endpoint, Vec<IceServerConfig>), CliError> {
        let (mut ep, ice) = match &self.url {
            Some(url) => {
                let url = url.trim().trim_end_matches('/');
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(CliError::Usage(format!(
                        "--url '{url}' is not a server address; write it as http://host:port or https://host"
                    )));
                }
                (Endpoint::new(url, Transport::WhipSm2, "live"), Vec::new())
            }
            None => Endpoint::from_profile(&self.profile(ctx)?),
        };
        if let Some(t) = self.transport {
            ep.transport = t.into();
        }
        if let Some(app) = &self.app {
            ep.app = app.trim_matches('/').to_owned();
        }
        if let Some(ng) = &self.node_group {
            ep.node_group = ng.clone();
        }
        if self.username.is_some() || self.password.is_some() || self.token.is_some() {
            let old = ep.auth.take().unwrap_or_default();
            ep.auth = Some(Auth {
                username: self.username.clone().unwrap_or(old.username),
                password: self
                    .password
                    .clone()
                    .map(Secret::new)
                    .unwrap_or(old.password),
                token: self.token.clone().map(Secret::new).unwrap_or(old.token),
            });
        }
        Ok((ep, ice))
    }

    fn profile(&self, ctx: &Context) -> Result<ServerProfile, CliError> {
        let store = SettingsStore::open(&ctx.config_dir);
        if let Some(p) = store.problem() {
            eprintln!("warning: {}", p.message());
        }
        let Some(want) = &self.profile else {
            return Ok(store.active().clone());
        };
        let found = store
            .profile(want)
            .or_else(|| {
                store
                    .profiles()
                    .iter()
                    .find(|p| p.name.eq_ignore_ascii_case(want.trim()))
            })
            .cloned();
        found.ok_or_else(|| {
            let names: Vec<String> = store
                .profiles()
                .iter()
                .map(|p| format!("\"{}\"", p.name))
                .collect();
            CliError::Usage(format!(
                "there is no server profile \"{want}\"; saved profiles: {}",
                names.join(", ")
            ))
        })
    }
}

/// One line describing where a session goes (no secrets).
pub fn describe(ep: &Endpoint) -> serde_json::Value {
    serde_json::json!({
        "server": ep.base_url,
        "transport": ep.transport,
        "app": ep.app,
    })
}

/// A session failure as the person at the terminal should read it: what failed (`context`),
/// why, and what to try next.
pub fn failure_text(context: &str, e: &red5_session::Error) -> String {
    if let red5_session::Error::Signal(red5_signal::Error::Connect { url, reason }) = e {
        return format!(
            "{context}: could not connect to the server at {} ({}); is it running, and is the address right?",
            origin(url),
            root_cause(reason)
        );
    }
    let hint = if e.is_unauthorized() {
        " (check --username/--password/--token or the profile's credentials)"
    } else if e.is_invalid_name() {
        " (check the stream name and the app; is the broadcaster live?)"
    } else {
        ""
    };
    format!("{context}: {}{hint}", said_once(&e.to_string()))
}

/// `scheme://host:port` of a URL (the path and query say nothing to a user here).
fn origin(url: &str) -> &str {
    let start = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[start..].find(['/', '?']) {
        Some(i) => &url[..start + i],
        None => url,
    }
}

/// The innermost reason of a chained HTTP client error: `…: tcp connect error: Connection
/// refused (os error 111)` → `connection refused`.
fn root_cause(reason: &str) -> String {
    let last = reason.rsplit(": ").next().unwrap_or(reason).trim();
    let last = match last.find(" (os error") {
        Some(i) => &last[..i],
        None => last,
    };
    let mut c = last.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => reason.to_owned(),
    }
}

/// Servers often repeat their description as the detail: `X (X)` reads as `X`.
fn said_once(text: &str) -> String {
    if let Some(body) = text.strip_suffix(')') {
        if let Some((a, b)) = body.split_once(" (") {
            if a == b {
                return a.to_owned();
            }
        }
    }
    text.to_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn args() -> ServerArgs {
        ServerArgs {
            profile: None,
            url: None,
            transport: None,
            app: None,
            node_group: None,
            username: None,
            password: None,
            token: None,
        }
    }

    #[test]
    fn active_profile_by_default_and_overrides_apply() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context {
            config_dir: dir.path().into(),
        };
        let (ep, _) = args().resolve(&ctx).unwrap();
        assert_eq!(ep.base_url, "http://127.0.0.1:5080");
        assert_eq!(ep.transport, Transport::WhipSm2);
        let a = ServerArgs {
            transport: Some(TransportArg::WsSm2),
            app: Some("/live/room1/".into()),
            password: Some("pw".into()),
            ..args()
        };
        let (ep, _) = a.resolve(&ctx).unwrap();
        assert_eq!(
            (ep.transport, ep.app.as_str()),
            (Transport::WsSm2, "live/room1")
        );
        assert_eq!(ep.auth.unwrap().password.expose(), "pw");
    }

    #[test]
    fn failure_texts_are_short_sentences() {
        let e = red5_session::Error::Signal(red5_signal::Error::Connect {
            url: "http://127.0.0.1:1/as/v1/proxy/whip/live/x".into(),
            reason: "error sending request for url (http://127.0.0.1:1/x?signal=true): client \
                     error (Connect): tcp connect error: Connection refused (os error 111)"
                .into(),
        });
        assert_eq!(
            failure_text("could not publish \"x\"", &e),
            "could not publish \"x\": could not connect to the server at http://127.0.0.1:1 \
             (connection refused); is it running, and is the address right?"
        );
        assert_eq!(said_once("Gone. (Gone.)"), "Gone.");
        assert_eq!(said_once("Gone (HTTP 404)"), "Gone (HTTP 404)");
        assert_eq!(origin("wss://h:1?x=1"), "wss://h:1");
    }

    #[test]
    fn unknown_profile_and_bad_url_are_usage_errors() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context {
            config_dir: dir.path().into(),
        };
        let e = ServerArgs {
            profile: Some("nope".into()),
            ..args()
        }
        .resolve(&ctx)
        .unwrap_err();
        assert!(e.to_string().contains("no server profile \"nope\""), "{e}");
        assert!(e.to_string().contains("Built-in local server"), "{e}");
        let e = ServerArgs {
            url: Some("localhost:5080".into()),
            ..args()
        }
        .resolve(&ctx)
        .unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let found = ServerArgs {
            profile: Some("built-in LOCAL server".into()),
            ..args()
        }
        .resolve(&ctx)
        .unwrap();
        assert_eq!(found.0.app, "live");
    }
}
