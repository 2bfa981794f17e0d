//! Red5 WHIP/WHEP pieces shared by client and server (§3): status-code meanings, `sdpfrag`
//! bodies, `Link` / `Session-Host` headers, query parameters in Red5's order, and `Location`
//! resolution.

use url::Url;

use crate::error::{Error, Result};

pub const CONTENT_TYPE_SDP: &str = "application/sdp";
pub const CONTENT_TYPE_SDPFRAG: &str = "application/trickle-ice-sdpfrag";
pub const SESSION_HOST: &str = "Session-Host";
pub const LINK: &str = "Link";

/// WHIP (publish) or Red5's WHEP (subscribe: the server sends the offer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Whip,
    Whep,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Whip => "whip",
            Kind::Whep => "whep",
        }
    }
}

/// The HTTP request within a WHIP/WHEP session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Request {
    Options,
    Post,
    /// WHEP: the client's answer (`application/sdp`).
    PatchAnswer,
    /// Both: `application/trickle-ice-sdpfrag`.
    PatchTrickle,
    Delete,
}

impl Request {
    pub fn describe(self, kind: Kind) -> &'static str {
        match (kind, self) {
            (_, Request::Options) => "the WHIP/WHEP discovery request (OPTIONS)",
            (Kind::Whip, Request::Post) => "publishing (WHIP offer)",
            (Kind::Whep, Request::Post) => "subscribing (WHEP offer request)",
            (_, Request::PatchAnswer) => "sending the WHEP answer",
            (_, Request::PatchTrickle) => "sending ICE candidates",
            (_, Request::Delete) => "ending the session (DELETE)",
        }
    }
}

/// Red5's meaning of an HTTP status, as the SDK maps it (§3.4, §3.5) plus the node and SM2 docs
/// (red5-server-side.md §5). `None` for statuses Red5 does not document.
pub fn status_message(kind: Kind, req: Request, status: u16) -> Option<&'static str> {
    use Kind::*;
    use Request::*;
    Some(match (kind, req, status) {
        (_, Options, 401) | (_, Post, 401) | (_, PatchAnswer, 401) | (_, PatchTrickle, 401) => {
            "Not authorized."
        }
        (Whip, Post, 400) => "Invalid offer SDP.",
        (Whip, Post, 404) => "Scope resolver failed for the publish name and / or scope.",
        (Whip, Post, 406) => "Scope connection rejected.",
        (Whip, Post, 409) => "Session already initialized.",
        (Whip, Post, 412) => "Invalid request body.",
        (Whip, Post, 417) => "Session lookup or creation failure.",
        (Whep, Post, 400) => "Offer already sent, double POST assumed.",
        (Whep, Post, 404) => "Scope resolver failed for the playback name and / or scope.",
        (Whep, Post, 406) => "Playback failed due to an exception during creation.",
        (Whep, Post, 409) => "Stream is not available to playback.",
        (_, _, 405) => "Remember to update the URL passed into the WHIP or WHEP client.",
        (_, PatchAnswer | PatchTrickle | Delete, 404) => "Session not found.",
        (_, Options, 404) => "No node group or node available for this stream.",
        (_, _, 500) => "Server error (for example: publisher limit reached).",
        (_, _, 503) => {
            "The Stream Manager has no capacity for this stream (publisher/subscriber limit)."
        }
        _ => return None,
    })
}

/// 404 and 409 on POST mean "invalid name" (SDK: `Publish.InvalidName` / `Subscribe.InvalidName`).
pub fn is_invalid_name(req: Request, status: u16) -> bool {
    req == Request::Post && matches!(status, 404 | 409)
}

/// Success statuses Red5 returns: POST 201, WHIP PATCH 200, WHEP PATCH 204, DELETE 200,
/// OPTIONS 200/204. Clients accept any 2xx.
pub fn success_status(kind: Kind, req: Request) -> u16 {
    match (kind, req) {
        (_, Request::Options) => 204,
        (_, Request::Post) => 201,
        (Kind::Whip, Request::PatchTrickle | Request::PatchAnswer) => 200,
        (Kind::Whep, Request::PatchTrickle | Request::PatchAnswer) => 204,
        (_, Request::Delete) => 200,
    }
}

// ================================================================================================
// sdpfrag (§3.6)
// ================================================================================================

/// A trickle-ice-sdpfrag body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SdpFrag {
    pub ice_ufrag: Option<String>,
    pub ice_pwd: Option<String>,
    /// The first `m=` line verbatim (without `m=`).
    pub media: Option<String>,
    pub mid: Option<String>,
    /// `candidate:…` attribute values (without `a=`), in order.
    pub candidates: Vec<String>,
    pub end_of_candidates: bool,
}

impl SdpFrag {
    /// Builds the fragment from a local SDP exactly as the SDK does: last ice-ufrag/ice-pwd, the
    /// first `m=` line, `a=mid:0` hard-coded, every candidate of every section, end marker.
    pub fn from_local_sdp(sdp: &str) -> Self {
        let mut f = SdpFrag {
            mid: Some("0".into()),
            end_of_candidates: true,
            ..Default::default()
        };
        for line in sdp.lines().map(|l| l.trim_end_matches('\r')) {
            if let Some(v) = line.strip_prefix("a=ice-ufrag:") {
                f.ice_ufrag = Some(v.to_owned());
            } else if let Some(v) = line.strip_prefix("a=ice-pwd:") {
                f.ice_pwd = Some(v.to_owned());
            } else if let Some(v) = line.strip_prefix("m=") {
                if f.media.is_none() {
                    f.media = Some(v.to_owned());
                }
            } else if let Some(v) = line.strip_prefix("a=") {
                if v.starts_with("candidate:") {
                    f.candidates.push(v.to_owned());
                }
            }
        }
        f
    }

    /// CRLF-joined, no trailing CRLF (§3.6).
    pub fn to_body(&self) -> String {
        let mut lines = Vec::with_capacity(self.candidates.len() + 5);
        if let Some(u) = &self.ice_ufrag {
            lines.push(format!("a=ice-ufrag:{u}"));
        }
        if let Some(p) = &self.ice_pwd {
            lines.push(format!("a=ice-pwd:{p}"));
        }
        if let Some(m) = &self.media {
            lines.push(format!("m={m}"));
        }
        if let Some(mid) = &self.mid {
            lines.push(format!("a=mid:{mid}"));
        }
        for c in &self.candidates {
            lines.push(format!("a={c}"));
        }
        if self.end_of_candidates {
            lines.push("a=end-of-candidates".into());
        }
        lines.join("\r\n")
    }

    /// Lenient parse: LF or CRLF, any order, unknown lines ignored, `candidate:` with or without `a=`.
    /// Fails only on a body with no ICE content at all.
    pub fn parse(body: &str) -> Result<Self> {
        let mut f = SdpFrag::default();
        let mut seen = false;
        for raw in body.lines() {
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            let attr = line.strip_prefix("a=").unwrap_or(line);
            if let Some(v) = attr.strip_prefix("ice-ufrag:") {
                f.ice_ufrag = Some(v.to_owned());
                seen = true;
            } else if let Some(v) = attr.strip_prefix("ice-pwd:") {
                f.ice_pwd = Some(v.to_owned());
                seen = true;
            } else if let Some(v) = line.strip_prefix("m=") {
                if f.media.is_none() {
                    f.media = Some(v.to_owned());
                }
            } else if let Some(v) = attr.strip_prefix("mid:") {
                if f.mid.is_none() {
                    f.mid = Some(v.to_owned());
                }
            } else if attr.starts_with("candidate:") {
                f.candidates.push(attr.to_owned());
                seen = true;
            } else if attr == "end-of-candidates" {
                f.end_of_candidates = true;
                seen = true;
            }
        }
        if seen {
            Ok(f)
        } else {
            Err(Error::InvalidSdp {
                reason: "the sdpfrag has no ICE credentials, candidates or end marker".into(),
            })
        }
    }
}

// ================================================================================================
// Headers (§3.3)
// ================================================================================================

/// One `Link` entry: `<url>; rel="…"; k="v"…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub url: String,
    pub rel: Option<String>,
    pub params: Vec<(String, String)>,
}

impl Link {
    pub fn param(&self, k: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    }

    pub fn ice_server(url: &str, username: Option<&str>, credential: Option<&str>) -> Self {
        let mut params = Vec::new();
        if let (Some(u), Some(c)) = (username, credential) {
            params.push(("username".into(), u.into()));
            params.push(("credential".into(), c.into()));
        }
        Link {
            url: url.into(),
            rel: Some("ice-server".into()),
            params,
        }
    }

    pub fn statistics(url: &str) -> Self {
        Link {
            url: url.into(),
            rel: Some("statistics".into()),
            params: Vec::new(),
        }
    }

    /// `<stun:host:port>; rel="ice-server"; username="u"; credential="c"`.
    pub fn to_header(&self) -> String {
        let mut s = format!("<{}>", self.url);
        if let Some(r) = &self.rel {
            s.push_str(&format!("; rel=\"{r}\""));
        }
        for (k, v) in &self.params {
            s.push_str(&format!("; {k}=\"{v}\""));
        }
        s
    }

    /// Parses one header value, which may hold several comma-separated links.
    pub fn parse_header(value: &str) -> Vec<Link> {
        split_outside(value, ',')
            .into_iter()
            .filter_map(|part| Link::parse_one(&part))
            .collect()
    }

    fn parse_one(part: &str) -> Option<Link> {
        let mut url = None;
        let mut rel = None;
        let mut params = Vec::new();
        for piece in split_outside(part, ';') {
            let p = piece.trim();
            if let Some(u) = p.strip_prefix('<').and_then(|p| p.strip_suffix('>')) {
                url = Some(u.trim().to_owned());
            } else if let Some((k, v)) = p.split_once('=') {
                let k = k.trim().to_ascii_lowercase();
                let v = v.trim().trim_matches('"').to_owned();
                if k == "rel" {
                    rel = Some(v);
                } else {
                    params.push((k, v));
                }
            }
        }
        url.map(|url| Link { url, rel, params })
    }
}

/// Splits on `sep` outside `<…>` and quotes.
fn split_outside(s: &str, sep: char) -> Vec<String> {
    let (mut out, mut cur, mut angle, mut quote) = (Vec::new(), String::new(), false, false);
    for ch in s.chars() {
        match ch {
            '<' if !quote => angle = true,
            '>' if !quote => angle = false,
            '"' => quote = !quote,
            c if c == sep && !angle && !quote => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

/// An ICE server announced by `Link: …; rel="ice-server"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceServer {
    pub urls: Vec<String>,
    pub username: Option<String>,
    pub credential: Option<crate::Secret>,
}

/// What an OPTIONS response tells the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discovery {
    /// `Session-Host`: the node the proxy picked; sent back as `host=` afterwards.
    pub session_host: Option<String>,
    pub ice_servers: Vec<IceServer>,
    /// `Link: <…>; rel="statistics"` (SDK15).
    pub statistics_url: Option<String>,
}

impl Discovery {
    /// From `(name, value)` header pairs; names are matched case-insensitively.
    pub fn from_headers<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut d = Discovery::default();
        for (name, value) in headers {
            if name.eq_ignore_ascii_case(SESSION_HOST) {
                let v = value.trim();
                if !v.is_empty() {
                    d.session_host = Some(v.to_owned());
                }
            } else if name.eq_ignore_ascii_case(LINK) {
                for link in Link::parse_header(value) {
                    match link.rel.as_deref() {
                        Some(r) if r.eq_ignore_ascii_case("ice-server") => {
                            // Credentials only when the url has a scheme and both are present (SDK).
                            let has_scheme = link.url.contains(':');
                            let (u, c) = (link.param("username"), link.param("credential"));
                            let (username, credential) = match (has_scheme, u, c) {
                                (true, Some(u), Some(c)) => {
                                    (Some(u.to_owned()), Some(crate::Secret::new(c)))
                                }
                                _ => (None, None),
                            };
                            d.ice_servers.push(IceServer {
                                urls: vec![link.url.clone()],
                                username,
                                credential,
                            });
                        }
                        Some(r) if r.eq_ignore_ascii_case("statistics") => {
                            d.statistics_url = Some(link.url.clone())
                        }
                        _ => {}
                    }
                }
            }
        }
        d
    }
}

// ================================================================================================
// Query parameters (§3.2)
// ================================================================================================

/// `encodeURIComponent`: what the testbeds apply to values before handing them to the SDK.
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'!'
            | b'~'
            | b'*'
            | b'\''
            | b'('
            | b')' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Ordered `connectionParams` (`nodeGroup`, `region`, `strict`, `username`, `token`, `transcode`…).
pub type Params = Vec<(String, String)>;

/// Appends `k=v` pairs by concatenation as the SDK does: `?` unless the URL already has a query,
/// values `encodeURIComponent`-ed (as the testbeds pre-encode them).
pub fn append_query(url: &str, params: &[(String, String)]) -> String {
    let mut out = url.to_owned();
    for (k, v) in params {
        let has_query = out.contains('?') && out.contains('=');
        out.push(if has_query { '&' } else { '?' });
        out.push_str(k);
        out.push('=');
        out.push_str(&encode_component(v));
    }
    out
}

fn p(k: &str, v: impl ToString) -> (String, String) {
    (k.to_owned(), v.to_string())
}

fn without_transcode(params: &[(String, String)]) -> impl Iterator<Item = (String, String)> + '_ {
    params.iter().filter(|(k, _)| k != "transcode").cloned()
}

fn has_host(params: &[(String, String)]) -> bool {
    params.iter().any(|(k, _)| k == "host")
}

/// Options the client sends on WHIP/WHEP POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostOptions {
    /// `signal=` = include the `red5pro` data channel.
    pub signal: bool,
    pub mode: crate::ws::PublishMode,
    pub transport: crate::ws::IceTransport,
    pub key_framerate_ms: u32,
    pub video_encoding: Option<String>,
    pub audio_encoding: Option<String>,
    /// WHEP `doNotSwitch` (= `maintainStreamVariant`).
    pub do_not_switch: bool,
}

impl Default for PostOptions {
    fn default() -> Self {
        PostOptions {
            signal: true,
            mode: crate::ws::PublishMode::Live,
            transport: crate::ws::IceTransport::Udp,
            key_framerate_ms: 3000,
            video_encoding: None,
            audio_encoding: None,
            do_not_switch: false,
        }
    }
}

/// OPTIONS: `signal`, then every connection param (SDK15 order, `transcode` included).
pub fn options_params(signal: bool, params: &[(String, String)]) -> Params {
    let mut v = vec![p("signal", signal)];
    v.extend(params.iter().cloned());
    v
}

/// WHIP POST: `signal`, params minus `transcode`, `mode`, `transport`, `keyFramerate`,
/// `videoEncoding`, `audioEncoding`, then `host` (from Session-Host unless given).
pub fn whip_post_params(
    o: &PostOptions,
    params: &[(String, String)],
    session_host: Option<&str>,
) -> Params {
    let mut v = vec![p("signal", o.signal)];
    v.extend(without_transcode(params));
    v.push(p("mode", o.mode.as_str()));
    v.push(p("transport", o.transport.as_str()));
    v.push(p("keyFramerate", o.key_framerate_ms));
    push_encodings(&mut v, o);
    push_host(&mut v, params, session_host);
    v
}

/// WHEP POST (`requestId` is already in the endpoint URL): `signal`, params minus `transcode`,
/// `transport`, `doNotSwitch`, encodings, `host`.
pub fn whep_post_params(
    o: &PostOptions,
    params: &[(String, String)],
    session_host: Option<&str>,
) -> Params {
    let mut v = vec![p("signal", o.signal)];
    v.extend(without_transcode(params));
    v.push(p("transport", o.transport.as_str()));
    v.push(p("doNotSwitch", o.do_not_switch));
    push_encodings(&mut v, o);
    push_host(&mut v, params, session_host);
    v
}

/// PATCH and DELETE: params minus `transcode`, then `host`.
pub fn resource_params(params: &[(String, String)], session_host: Option<&str>) -> Params {
    let mut v: Params = without_transcode(params).collect();
    push_host(&mut v, params, session_host);
    v
}

fn push_encodings(v: &mut Params, o: &PostOptions) {
    if let Some(e) = o
        .video_encoding
        .as_deref()
        .filter(|e| !e.eq_ignore_ascii_case("none"))
    {
        v.push(p("videoEncoding", e));
    }
    if let Some(e) = o
        .audio_encoding
        .as_deref()
        .filter(|e| !e.eq_ignore_ascii_case("none"))
    {
        v.push(p("audioEncoding", e));
    }
}

fn push_host(v: &mut Params, params: &[(String, String)], session_host: Option<&str>) {
    if let Some(h) = session_host {
        if !has_host(params) {
            v.push(p("host", h));
        }
    }
}

/// Splits a query string into ordered pairs (percent-decoded), for servers.
pub fn parse_query(query: &str) -> Params {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

// ================================================================================================
// Location (§3.4)
// ================================================================================================

/// Resolves the resource URL from the endpoint and an optional `Location` header (SDK15):
/// absolute → verbatim; relative → the endpoint with its path replaced by Location's path (Location's
/// query dropped, the endpoint's query kept); missing → the endpoint. Then `/endpoint/`→`/resource/`.
/// On the SM2 proxy there is no `/endpoint/` and the URL stays the same path.
pub fn resolve_resource(endpoint: &Url, location: Option<&str>) -> Result<Url> {
    let loc = location.map(str::trim).filter(|l| !l.is_empty());
    let mut url = match loc {
        Some(l) if Url::parse(l).is_ok_and(|u| u.has_host()) => {
            return Url::parse(l).map_err(|e| Error::InvalidUrl {
                url: l.into(),
                reason: e.to_string(),
            });
        }
        Some(l) => {
            let path = l.split(['?', '#']).next().unwrap_or("");
            let joined = endpoint.join(path).map_err(|e| Error::InvalidUrl {
                url: l.into(),
                reason: e.to_string(),
            })?;
            let mut u = endpoint.clone();
            u.set_path(joined.path());
            u
        }
        None => endpoint.clone(),
    };
    let path = url.path().replacen("/endpoint/", "/resource/", 1);
    url.set_path(&path);
    Ok(url)
}
