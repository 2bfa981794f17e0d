//! Server profiles: which Red5 server (or the built-in one) the app talks to, and how.
//!
//! [`ServerProfile`] is the stored, always-valid model. The UI edits a flat [`ProfileForm`] of strings and
//! sends it back; [`ProfileForm::parse`] turns it into a profile or a [`FieldErrors`] map (field → message)
//! for inline messages. Field names in that map are the form's camelCase keys, e.g. `port`,
//! `nodeGroup`, `iceServers.0.urls`.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use red5_signal::Secret;
use serde::{Deserialize, Deserializer, Serialize};

/// Id of the always-present built-in local server profile.
pub const BUILT_IN_PROFILE_ID: &str = "builtin";

/// Field → human message, sorted by field name.
pub type FieldErrors = BTreeMap<String, String>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }

    /// The matching WebSocket scheme (`ws`/`wss`).
    pub fn ws(self) -> &'static str {
        match self {
            Self::Http => "ws",
            Self::Https => "wss",
        }
    }
}

/// How a session signals: Red5's WHIP/WHEP, or the legacy WebSocket signalling (through the SM proxy).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Transport {
    WhipWhep,
    WsProxy,
}

impl Transport {
    pub fn label(self) -> &'static str {
        match self {
            Self::WhipWhep => "WHIP/WHEP",
            Self::WsProxy => "WebSocket proxy",
        }
    }
}

/// What kind of server a profile points at, with the settings only that kind has.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ProfileKind {
    /// The Red5-compatible server inside Red5 Desk, on 127.0.0.1.
    BuiltIn,
    /// Stream Manager 2.0 (`/as/v1`): the proxy picks a node from `node_group`; the admin user/password are
    /// exchanged for a JWT for host features.
    #[serde(rename = "sm2", rename_all = "camelCase")]
    Sm2 {
        node_group: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        region: Option<String>,
        #[serde(default)]
        admin_user: String,
        #[serde(default)]
        admin_password: Secret,
    },
    /// Stream Manager 1.x (`/streammanager/api/4.0`), admin calls carry `accessToken`.
    #[serde(rename = "sm1", rename_all = "camelCase")]
    Sm1 {
        #[serde(default)]
        access_token: Secret,
    },
    /// A single Red5 Pro server without a Stream Manager.
    Standalone,
}

impl ProfileKind {
    pub fn key(&self) -> &'static str {
        match self {
            Self::BuiltIn => "builtIn",
            Self::Sm2 { .. } => "sm2",
            Self::Sm1 { .. } => "sm1",
            Self::Standalone => "standalone",
        }
    }

    pub fn label(&self) -> &'static str {
        kind_label(self.key()).unwrap_or("Server")
    }
}

/// Every profile kind as (form key, label), in the order the UI lists them.
pub const KINDS: [(&str, &str); 4] = [
    ("builtIn", "Built-in local server"),
    ("sm2", "Stream Manager 2.0"),
    ("sm1", "Stream Manager 1.x"),
    ("standalone", "Standalone node"),
];

/// The label for a form kind key (`sm2` → "Stream Manager 2.0").
pub fn kind_label(key: &str) -> Option<&'static str> {
    KINDS.iter().find(|(k, _)| *k == key).map(|(_, l)| *l)
}

/// Red5 round-trip authentication parameters, sent as connection params when publishing/subscribing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RoundTripAuth {
    pub username: String,
    pub password: Secret,
    pub token: Secret,
}

impl RoundTripAuth {
    pub fn is_empty(&self) -> bool {
        self.username.is_empty() && self.password.is_empty() && self.token.is_empty()
    }
}

/// One `RTCIceServer`: STUN/TURN urls and, for TURN, credentials.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub credential: Secret,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerProfile {
    pub id: String,
    pub name: String,
    pub kind: ProfileKind,
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
    /// Red5 app/context, e.g. `live` or `live/room1`.
    pub app: String,
    #[serde(default)]
    pub auth: RoundTripAuth,
    #[serde(default)]
    pub ice_servers: Vec<IceServer>,
    pub transport: Transport,
}

/// Default port of the built-in server (Red5's usual HTTP port).
pub const BUILT_IN_PORT: u16 = 5080;

impl ServerProfile {
    /// The default profile: the built-in local server on 127.0.0.1.
    pub fn built_in() -> Self {
        Self {
            id: BUILT_IN_PROFILE_ID.to_owned(),
            name: "Built-in local server".to_owned(),
            kind: ProfileKind::BuiltIn,
            scheme: Scheme::Http,
            host: "127.0.0.1".to_owned(),
            port: BUILT_IN_PORT,
            app: "live".to_owned(),
            auth: RoundTripAuth::default(),
            ice_servers: Vec::new(),
            transport: Transport::WhipWhep,
        }
    }

    pub fn is_built_in(&self) -> bool {
        matches!(self.kind, ProfileKind::BuiltIn)
    }

    /// `https://sm.example.com:443` (brackets IPv6 literals).
    pub fn base_url(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{}://{}:{}", self.scheme.as_str(), host, self.port)
    }

    /// One line for tables and the status bar: `https://sm.example.com:443/live`.
    pub fn endpoint_summary(&self) -> String {
        format!("{}/{}", self.base_url(), self.app)
    }

    /// Re-checks a stored profile with the same rules the form uses.
    pub fn validate(&self) -> Result<(), FieldErrors> {
        ProfileForm::from(self).parse().map(|_| ())
    }
}

/// The profile editor's fields, as the UI holds them: strings (so a bad port is a validation message, not a
/// deserialisation failure) in one flat object. Secrets stay [`Secret`] so a form never reaches a log.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProfileForm {
    /// Empty for a new profile.
    pub id: String,
    pub name: String,
    /// `builtIn`, `sm2`, `sm1` or `standalone`.
    pub kind: String,
    pub scheme: String,
    pub host: String,
    #[serde(deserialize_with = "string_or_number")]
    pub port: String,
    pub app: String,
    pub username: String,
    pub password: Secret,
    pub token: Secret,
    pub node_group: String,
    pub region: String,
    pub admin_user: String,
    pub admin_password: Secret,
    pub access_token: Secret,
    pub ice_servers: Vec<IceServerForm>,
    /// `whipWhep` or `wsProxy`.
    pub transport: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct IceServerForm {
    /// One or more urls separated by commas, spaces or new lines.
    pub urls: String,
    pub username: String,
    pub credential: Secret,
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Loose {
        S(String),
        N(serde_json::Number),
        Null,
    }
    Ok(match Loose::deserialize(d)? {
        Loose::S(s) => s,
        Loose::N(n) => n.to_string(),
        Loose::Null => String::new(),
    })
}

impl From<&ServerProfile> for ProfileForm {
    fn from(p: &ServerProfile) -> Self {
        let mut f = ProfileForm {
            id: p.id.clone(),
            name: p.name.clone(),
            kind: p.kind.key().to_owned(),
            scheme: p.scheme.as_str().to_owned(),
            host: p.host.clone(),
            port: p.port.to_string(),
            app: p.app.clone(),
            username: p.auth.username.clone(),
            password: p.auth.password.clone(),
            token: p.auth.token.clone(),
            ice_servers: p
                .ice_servers
                .iter()
                .map(|s| IceServerForm {
                    urls: s.urls.join(", "),
                    username: s.username.clone(),
                    credential: s.credential.clone(),
                })
                .collect(),
            transport: match p.transport {
                Transport::WhipWhep => "whipWhep",
                Transport::WsProxy => "wsProxy",
            }
            .to_owned(),
            ..Default::default()
        };
        match &p.kind {
            ProfileKind::Sm2 {
                node_group,
                region,
                admin_user,
                admin_password,
            } => {
                f.node_group = node_group.clone();
                f.region = region.clone().unwrap_or_default();
                f.admin_user = admin_user.clone();
                f.admin_password = admin_password.clone();
            }
            ProfileKind::Sm1 { access_token } => f.access_token = access_token.clone(),
            ProfileKind::BuiltIn | ProfileKind::Standalone => {}
        }
        f
    }
}

impl ProfileForm {
    /// A blank form for a new profile of `kind`, with that kind's defaults filled in.
    pub fn new_of_kind(kind: &str) -> Self {
        ProfileForm {
            kind: kind.to_owned(),
            scheme: "https".to_owned(),
            port: "443".to_owned(),
            app: "live".to_owned(),
            transport: "whipWhep".to_owned(),
            ..Default::default()
        }
    }

    /// Validates every field and builds the profile; all problems are reported at once.
    /// An empty `id` gets a fresh one.
    pub fn parse(&self) -> Result<ServerProfile, FieldErrors> {
        let mut errs = FieldErrors::new();
        let mut err = |field: &str, msg: &str| {
            errs.entry(field.to_owned())
                .or_insert_with(|| msg.to_owned());
        };

        let name = self.name.trim().to_owned();
        if name.is_empty() {
            err("name", "Give the profile a name.");
        } else if name.chars().count() > 64 {
            err("name", "Keep the name under 64 characters.");
        }

        let scheme = match self.scheme.trim() {
            "http" => Some(Scheme::Http),
            "https" | "" => Some(Scheme::Https),
            _ => {
                err("scheme", "Choose http or https.");
                None
            }
        };

        let host = normalise_host(&self.host);
        if let Err(m) = check_host(&self.host) {
            err("host", &m);
        }

        let port = match self.port.trim().parse::<u32>() {
            Ok(p @ 1..=65535) => Some(p as u16),
            Ok(_) => {
                err("port", "Port must be between 1 and 65535.");
                None
            }
            Err(_) if self.port.trim().is_empty() => {
                err("port", "Enter a port (e.g. 443).");
                None
            }
            Err(_) => {
                err("port", "Port must be a whole number between 1 and 65535.");
                None
            }
        };

        let app = self.app.trim().trim_matches('/').to_owned();
        if app.is_empty() {
            err("app", "Enter the app/context, e.g. live.");
        } else if !app.split('/').all(is_path_segment) {
            err(
                "app",
                "Use letters, digits, '-', '_' and '.' separated by '/', e.g. live or live/room1.",
            );
        }

        let transport = match self.transport.trim() {
            "whipWhep" | "" => Some(Transport::WhipWhep),
            "wsProxy" => Some(Transport::WsProxy),
            _ => {
                err("transport", "Choose WHIP/WHEP or WebSocket proxy.");
                None
            }
        };

        let kind = match self.kind.trim() {
            "builtIn" => {
                if self.id != BUILT_IN_PROFILE_ID {
                    err("kind", "There is only one built-in local server profile.");
                }
                if !is_loopback(&host) {
                    err(
                        "host",
                        "The built-in server only listens on this computer (127.0.0.1).",
                    );
                }
                Some(ProfileKind::BuiltIn)
            }
            "sm2" => {
                let node_group = self.node_group.trim().to_owned();
                if node_group.is_empty() {
                    err("nodeGroup", "Enter the node group (e.g. default).");
                } else if !is_path_segment(&node_group) {
                    err("nodeGroup", "Use letters, digits, '-', '_' or '.' only.");
                }
                let region = self.region.trim().to_owned();
                if !region.is_empty() && !is_path_segment(&region) {
                    err("region", "Use letters, digits, '-', '_' or '.' only.");
                }
                let admin_user = self.admin_user.trim().to_owned();
                if admin_user.is_empty() && !self.admin_password.is_empty() {
                    err(
                        "adminUser",
                        "Enter the admin user that goes with the password.",
                    );
                }
                if !admin_user.is_empty() && self.admin_password.is_empty() {
                    err(
                        "adminPassword",
                        "Enter the admin password (both are needed to get a token).",
                    );
                }
                if admin_user.contains(':') {
                    err("adminUser", "The admin user can't contain ':'.");
                }
                Some(ProfileKind::Sm2 {
                    node_group,
                    region: (!region.is_empty()).then_some(region),
                    admin_user,
                    admin_password: self.admin_password.clone(),
                })
            }
            "sm1" => Some(ProfileKind::Sm1 {
                access_token: trimmed_secret(&self.access_token),
            }),
            "standalone" => Some(ProfileKind::Standalone),
            _ => {
                err("kind", "Choose a server type.");
                None
            }
        };

        if self.password.expose().trim() != self.password.expose() && !self.password.is_empty() {
            err(
                "password",
                "The password starts or ends with a space; remove it.",
            );
        }

        let mut ice_servers = Vec::new();
        for (i, s) in self.ice_servers.iter().enumerate() {
            let urls: Vec<String> = s
                .urls
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|u| !u.is_empty())
                .map(str::to_owned)
                .collect();
            if urls.is_empty() {
                err(
                    &format!("iceServers.{i}.urls"),
                    "Enter a STUN or TURN url, or remove this server.",
                );
            }
            let mut needs_credentials = false;
            for u in &urls {
                match check_ice_url(u) {
                    Ok(turn) => needs_credentials |= turn,
                    Err(m) => err(&format!("iceServers.{i}.urls"), &m),
                }
            }
            if needs_credentials && s.username.trim().is_empty() {
                err(
                    &format!("iceServers.{i}.username"),
                    "TURN servers need a username.",
                );
            }
            if needs_credentials && s.credential.is_empty() {
                err(
                    &format!("iceServers.{i}.credential"),
                    "TURN servers need a credential.",
                );
            }
            ice_servers.push(IceServer {
                urls,
                username: s.username.trim().to_owned(),
                credential: s.credential.clone(),
            });
        }

        match (errs.is_empty(), kind, scheme, port, transport) {
            (true, Some(kind), Some(scheme), Some(port), Some(transport)) => Ok(ServerProfile {
                id: if self.id.trim().is_empty() {
                    new_id()
                } else {
                    self.id.trim().to_owned()
                },
                name,
                kind,
                scheme,
                host,
                port,
                app,
                auth: RoundTripAuth {
                    username: self.username.trim().to_owned(),
                    password: self.password.clone(),
                    token: trimmed_secret(&self.token),
                },
                ice_servers,
                transport,
            }),
            _ => Err(errs),
        }
    }
}

fn new_id() -> String {
    format!("p-{}", uuid::Uuid::new_v4().simple())
}

fn trimmed_secret(s: &Secret) -> Secret {
    Secret::new(s.expose().trim())
}

fn is_path_segment(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Hosts are stored without brackets; IPv6 literals get them back in [`ServerProfile::base_url`].
fn normalise_host(raw: &str) -> String {
    let h = raw.trim();
    h.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(h)
        .to_ascii_lowercase()
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
        || host.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback())
}

fn check_host(raw: &str) -> Result<(), String> {
    let h = raw.trim();
    if h.is_empty() {
        return Err("Enter the server's host name or IP address.".to_owned());
    }
    if h.contains("://") {
        return Err(match url::Url::parse(h).ok().and_then(|u| u.host_str().map(str::to_owned)) {
            Some(host) => format!("Enter only the host name, e.g. {host} (the scheme and port have their own fields)."),
            None => "That is not a valid URL; enter only the host name, e.g. sm.example.com.".to_owned(),
        });
    }
    let bare = normalise_host(h);
    if bare.parse::<Ipv6Addr>().is_ok() || bare.parse::<Ipv4Addr>().is_ok() {
        return Ok(());
    }
    if bare.contains('/') || bare.contains(':') {
        return Err(
            "Enter only the host name, without a path or port (the port has its own field)."
                .to_owned(),
        );
    }
    if bare.len() > 253 || !bare.trim_end_matches('.').split('.').all(is_dns_label) {
        return Err("That is not a valid host name or IP address.".to_owned());
    }
    // All-numeric dotted names that are not an IPv4 address ("1.2.3") are typos.
    if bare
        .split('.')
        .all(|l| l.chars().all(|c| c.is_ascii_digit()))
    {
        return Err("That is not a valid IP address.".to_owned());
    }
    Ok(())
}

fn is_dns_label(l: &str) -> bool {
    (1..=63).contains(&l.len())
        && !l.starts_with('-')
        && !l.ends_with('-')
        && l.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Checks a `stun:`/`stuns:`/`turn:`/`turns:` url (RFC 7064/7065). Returns whether it is a TURN url.
fn check_ice_url(u: &str) -> Result<bool, String> {
    let lower = u.to_ascii_lowercase();
    let (scheme, rest) = lower.split_once(':').ok_or_else(|| {
        format!("'{u}' is not a STUN/TURN url; it should look like stun:stun.example.com:3478.")
    })?;
    let turn = match scheme {
        "stun" | "stuns" => false,
        "turn" | "turns" => true,
        _ => {
            return Err(format!(
                "'{u}' must start with stun:, stuns:, turn: or turns:."
            ))
        }
    };
    let (hostport, query) = match rest.split_once('?') {
        Some((hp, q)) => (hp, Some(q)),
        None => (rest, None),
    };
    if let Some(q) = query {
        if !turn || !matches!(q, "transport=udp" | "transport=tcp") {
            return Err(format!(
                "'{u}': only TURN urls may end with ?transport=udp or ?transport=tcp."
            ));
        }
    }
    let hostport = hostport.trim_start_matches("//");
    let (host, port) = if let Some(rest6) = hostport.strip_prefix('[') {
        match rest6.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':')),
            None => return Err(format!("'{u}' has an unterminated IPv6 address.")),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if let Some(p) = port {
        if !matches!(p.parse::<u32>(), Ok(1..=65535)) {
            return Err(format!(
                "'{u}' has a bad port; use a number between 1 and 65535."
            ));
        }
    }
    if host.is_empty() || check_host(host).is_err() {
        return Err(format!("'{u}' has no valid host name."));
    }
    Ok(turn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sm2_form() -> ProfileForm {
        ProfileForm {
            name: "Production".into(),
            host: "sm.example.com".into(),
            node_group: "default".into(),
            admin_user: "admin".into(),
            admin_password: "s3cret".into(),
            ..ProfileForm::new_of_kind("sm2")
        }
    }

    #[test]
    fn valid_sm2_form_parses() {
        let p = sm2_form().parse().unwrap();
        assert!(p.id.starts_with("p-"));
        assert_eq!(p.port, 443);
        assert_eq!(p.scheme, Scheme::Https);
        assert_eq!(p.app, "live");
        assert_eq!(p.endpoint_summary(), "https://sm.example.com:443/live");
        match &p.kind {
            ProfileKind::Sm2 {
                node_group,
                region,
                admin_user,
                admin_password,
            } => {
                assert_eq!(node_group, "default");
                assert_eq!(region, &None);
                assert_eq!(admin_user, "admin");
                assert_eq!(admin_password.expose(), "s3cret");
            }
            k => panic!("wrong kind {k:?}"),
        }
    }

    #[test]
    fn form_round_trips_through_profile() {
        let mut f = sm2_form();
        f.region = "us-east".into();
        f.ice_servers = vec![IceServerForm {
            urls: "turn:turn.example.com:3478?transport=udp, turns:turn.example.com:5349".into(),
            username: "u".into(),
            credential: "c".into(),
        }];
        f.username = "rt-user".into();
        f.password = "rt-pass".into();
        f.token = "rt-token".into();
        f.transport = "wsProxy".into();
        let p = f.parse().unwrap();
        let back = ProfileForm::from(&p);
        assert_eq!(back.parse().unwrap(), p);
        assert_eq!(p.ice_servers[0].urls.len(), 2);
        assert_eq!(p.transport, Transport::WsProxy);
    }

    #[test]
    fn bad_port_empty_host_and_bad_url_get_inline_messages() {
        let mut f = sm2_form();
        f.port = "99999".into();
        f.host = "".into();
        f.ice_servers = vec![IceServerForm {
            urls: "http://stun.example.com".into(),
            ..Default::default()
        }];
        let e = f.parse().unwrap_err();
        assert_eq!(e["port"], "Port must be between 1 and 65535.");
        assert!(e["host"].contains("host name"), "{e:?}");
        assert!(e["iceServers.0.urls"].contains("stun:"), "{e:?}");

        f.port = "abc".into();
        assert!(f.parse().unwrap_err()["port"].contains("whole number"));
        f.port = "0".into();
        assert!(f.parse().unwrap_err().contains_key("port"));
    }

    #[test]
    fn host_with_scheme_is_explained() {
        let mut f = sm2_form();
        f.host = "https://sm.example.com/as/v1".into();
        let e = f.parse().unwrap_err();
        assert!(e["host"].contains("e.g. sm.example.com"), "{e:?}");
        f.host = "not a host".into();
        assert!(f.parse().unwrap_err()["host"].contains("not a valid host"));
        f.host = "http//broken".into();
        assert!(f.parse().is_err());
        f.host = "1.2.3".into();
        assert!(f.parse().is_err());
    }

    #[test]
    fn hosts_accepted() {
        for h in [
            "sm.example.com",
            "10.0.0.5",
            "::1",
            "[2001:db8::1]",
            "localhost",
            "node_1.internal",
        ] {
            let mut f = sm2_form();
            f.host = h.into();
            assert!(f.parse().is_ok(), "{h}");
        }
        let mut f = sm2_form();
        f.host = "[2001:db8::1]".into();
        assert_eq!(f.parse().unwrap().base_url(), "https://[2001:db8::1]:443");
    }

    #[test]
    fn sm2_requires_node_group_and_paired_admin_credentials() {
        let mut f = sm2_form();
        f.node_group = " ".into();
        f.admin_password = Secret::default();
        let e = f.parse().unwrap_err();
        assert!(e.contains_key("nodeGroup"));
        assert!(e.contains_key("adminPassword"));
    }

    #[test]
    fn turn_needs_credentials_and_ice_urls_are_checked() {
        let mut f = sm2_form();
        f.ice_servers = vec![IceServerForm {
            urls: "turn:turn.example.com".into(),
            ..Default::default()
        }];
        let e = f.parse().unwrap_err();
        assert!(e.contains_key("iceServers.0.username"));
        assert!(e.contains_key("iceServers.0.credential"));
        for bad in [
            "stun:",
            "stun:host:70000",
            "stun:h?transport=udp",
            "turn:[::1",
            "ftp:x",
        ] {
            assert!(check_ice_url(bad).is_err(), "{bad}");
        }
        for good in [
            "stun:stun.l.google.com:19302",
            "stuns:1.2.3.4",
            "turn:[::1]:3478?transport=tcp",
        ] {
            assert!(check_ice_url(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn app_context_rules() {
        let mut f = sm2_form();
        for good in ["live", "live/room1", "/live/"] {
            f.app = good.into();
            assert!(f.parse().is_ok(), "{good}");
        }
        for bad in ["", "live/../x", "live room", "live//x"] {
            f.app = bad.into();
            assert!(f.parse().unwrap_err().contains_key("app"), "{bad}");
        }
    }

    #[test]
    fn port_may_arrive_as_number_or_string() {
        let f: ProfileForm = serde_json::from_value(serde_json::json!({"port": 8443})).unwrap();
        assert_eq!(f.port, "8443");
        let f: ProfileForm = serde_json::from_value(serde_json::json!({"port": "x1"})).unwrap();
        assert_eq!(f.port, "x1");
    }

    #[test]
    fn built_in_is_valid_and_stays_on_loopback() {
        let b = ServerProfile::built_in();
        b.validate().unwrap();
        let mut f = ProfileForm::from(&b);
        f.host = "example.com".into();
        assert!(f.parse().unwrap_err().contains_key("host"));
        let mut f = ProfileForm::from(&b);
        f.id = String::new();
        assert!(f.parse().unwrap_err().contains_key("kind"));
    }

    #[test]
    fn stored_json_shape_is_stable() {
        let p = sm2_form().parse().unwrap();
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["kind"]["type"], "sm2");
        assert_eq!(v["kind"]["nodeGroup"], "default");
        assert_eq!(v["kind"]["adminPassword"], "s3cret");
        assert_eq!(v["iceServers"], serde_json::json!([]));
        let back: ServerProfile = serde_json::from_value(v).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let mut f = sm2_form();
        f.password = "rt-pass-123".into();
        f.access_token = "tok-456".into();
        let p = f.parse().unwrap();
        let dbg = format!("{f:?} {p:?}");
        for s in ["s3cret", "rt-pass-123", "tok-456"] {
            assert!(!dbg.contains(s), "{s} leaked in {dbg}");
        }
    }
}
