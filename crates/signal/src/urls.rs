//! URL builders for every endpoint the client talks to (§1, §2, §3.1, §4.1, §7.4).
//!
//! `base` is the server origin (`https://sm.example.com`, `http://127.0.0.1:5080`); a trailing
//! slash is ignored. WebSocket URLs switch `http→ws`, `https→wss`.

use crate::whip::{append_query, encode_component, Kind, Params};

fn trim(base: &str) -> &str {
    base.trim_end_matches('/')
}

/// `http(s)://…` → `ws(s)://…` (already-ws bases stay).
pub fn to_ws(base: &str) -> String {
    let b = trim(base);
    if let Some(r) = b.strip_prefix("https://") {
        format!("wss://{r}")
    } else if let Some(r) = b.strip_prefix("http://") {
        format!("ws://{r}")
    } else {
        b.to_owned()
    }
}

/// Encodes each `/`-separated segment of a stream path, keeping the slashes.
fn path(p: &str) -> String {
    p.trim_matches('/')
        .split('/')
        .map(encode_component)
        .collect::<Vec<_>>()
        .join("/")
}

fn with_id(url: String, id: &str, params: &[(String, String)]) -> String {
    let mut all: Params = vec![("id".into(), id.into())];
    all.extend(params.iter().cloned());
    append_query(&url, &all)
}

// ---- legacy WebSocket (§4.1) -------------------------------------------------------------------

/// Standalone node: `wss://node:443/<app>/?id=<id>[&k=v…]` (`app` may include rooms: `live/room1`).
pub fn ws_standalone(base: &str, app: &str, id: &str, params: &[(String, String)]) -> String {
    with_id(format!("{}/{}/", to_ws(base), path(app)), id, params)
}

/// SM1 proxy: `wss://sm/streammanager/?id=<id>&host=<node>&app=<ctx>[&k=v…]` (`app` encoded: `live%2Froom1`).
pub fn ws_sm1(
    base: &str,
    id: &str,
    node_host: &str,
    context: &str,
    params: &[(String, String)],
) -> String {
    let mut all: Params = vec![
        ("host".into(), node_host.into()),
        ("app".into(), context.into()),
    ];
    all.extend(params.iter().cloned());
    with_id(format!("{}/streammanager/", to_ws(base)), id, &all)
}

/// SM2 proxy: `wss://sm/as/v1/proxy/ws/{publish|subscribe}/<ctx>/<stream>?id=<id>&nodeGroup=<ng>[&k=v…]`.
pub fn ws_sm2(
    base: &str,
    direction: crate::rest::sm2::Direction,
    context: &str,
    stream: &str,
    id: &str,
    node_group: &str,
    params: &[(String, String)],
) -> String {
    let mut all: Params = vec![("nodeGroup".into(), node_group.into())];
    all.extend(params.iter().cloned());
    with_id(
        format!(
            "{}/as/v1/proxy/ws/{}/{}/{}",
            to_ws(base),
            direction.as_str(),
            path(context),
            encode_component(stream)
        ),
        id,
        &all,
    )
}

// ---- WHIP / WHEP (§3.1) --------------------------------------------------------------------------

/// Standalone node or SM1 (WHProxy on the SM host): `…/<ctx>/whip|whep/endpoint/<stream>`;
/// WHEP gets `?requestId=<id>`.
pub fn whip_standalone(
    base: &str,
    kind: Kind,
    context: &str,
    stream: &str,
    request_id: Option<&str>,
) -> String {
    let u = format!(
        "{}/{}/{}/endpoint/{}",
        trim(base),
        path(context),
        kind.as_str(),
        encode_component(stream)
    );
    with_request_id(u, kind, request_id)
}

/// SM2 proxy: `https://sm/as/v1/proxy/whip|whep/<ctx>/<stream>` (WHEP: `?requestId=<id>`).
pub fn whip_sm2(
    base: &str,
    kind: Kind,
    context: &str,
    stream: &str,
    request_id: Option<&str>,
) -> String {
    let u = format!(
        "{}/as/v1/proxy/{}/{}/{}",
        trim(base),
        kind.as_str(),
        path(context),
        encode_component(stream)
    );
    with_request_id(u, kind, request_id)
}

fn with_request_id(u: String, kind: Kind, request_id: Option<&str>) -> String {
    match (kind, request_id) {
        (Kind::Whep, Some(id)) => append_query(&u, &[("requestId".into(), id.into())]),
        _ => u,
    }
}

// ---- SM1 REST (§2.1, §7.2, §7.3) ---------------------------------------------------------------

pub const SM1_API: &str = "/streammanager/api/4.0";

/// Lookup options shared by SM1 and SM2.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lookup {
    pub region: Option<String>,
    pub strict: bool,
    pub subgroup: Option<String>,
    pub transcode: bool,
    pub endpoints: Option<u32>,
}

/// `GET …/event/<ctx>/<stream>?action=broadcast|subscribe[&region][&strict=true][&endpoints][&transcode=true]`.
pub fn sm1_event(
    base: &str,
    context: &str,
    stream: &str,
    action: crate::rest::sm1::Action,
    l: &Lookup,
) -> String {
    let mut q: Params = vec![("action".into(), action.as_str().into())];
    if let Some(r) = &l.region {
        q.push(("region".into(), r.clone()));
    }
    if l.strict {
        q.push(("strict".into(), "true".into()));
    }
    if let Some(n) = l.endpoints {
        q.push(("endpoints".into(), n.to_string()));
    }
    if l.transcode {
        q.push(("transcode".into(), "true".into()));
    }
    append_query(
        &format!(
            "{}{SM1_API}/event/{}/{}",
            trim(base),
            path(context),
            encode_component(stream)
        ),
        &q,
    )
}

/// `GET …/event/<scope>/<room>/join[?region][&strict=true]`.
pub fn sm1_join(base: &str, scope: &str, room: &str, l: &Lookup) -> String {
    let mut q: Params = vec![];
    if let Some(r) = &l.region {
        q.push(("region".into(), r.clone()));
    }
    if l.strict {
        q.push(("strict".into(), "true".into()));
    }
    append_query(
        &format!(
            "{}{SM1_API}/event/{}/{}/join",
            trim(base),
            path(scope),
            encode_component(room)
        ),
        &q,
    )
}

fn token(u: String, access_token: &str) -> String {
    append_query(&u, &[("accessToken".into(), access_token.into())])
}

/// `POST|GET|DELETE …/admin/event/meta/<ctx>/<name>?accessToken=`.
pub fn sm1_event_meta(base: &str, context: &str, name: &str, access_token: &str) -> String {
    token(
        format!(
            "{}{SM1_API}/admin/event/meta/{}/{}",
            trim(base),
            path(context),
            encode_component(name)
        ),
        access_token,
    )
}

/// `…/composition[/<event>]?accessToken=`.
pub fn sm1_composition(base: &str, event: Option<&str>, access_token: &str) -> String {
    let mut u = format!("{}{SM1_API}/composition", trim(base));
    if let Some(e) = event {
        u.push('/');
        u.push_str(&encode_component(e));
    }
    token(u, access_token)
}

/// `…/admin/nodegroup?accessToken=` or `…/admin/nodegroup/<name>/node?accessToken=`.
pub fn sm1_nodegroups(base: &str, group: Option<&str>, access_token: &str) -> String {
    let mut u = format!("{}{SM1_API}/admin/nodegroup", trim(base));
    if let Some(g) = group {
        u.push_str(&format!("/{}/node", encode_component(g)));
    }
    token(u, access_token)
}

// ---- SM2 REST (§2.2) -----------------------------------------------------------------------------

/// `PUT /as/v1/auth/login`.
pub fn sm2_login(base: &str) -> String {
    format!("{}/as/v1/auth/login", trim(base))
}

/// `GET /as/v1/streams/stream/<ng>/publish|subscribe/<ctx>/<stream>[?region|subgroup][&strict=true][&transcode=true][&endpoints=n]`.
pub fn sm2_stream(
    base: &str,
    node_group: &str,
    direction: crate::rest::sm2::Direction,
    context: &str,
    stream: &str,
    l: &Lookup,
) -> String {
    let mut q: Params = vec![];
    if let Some(r) = &l.region {
        q.push(("region".into(), r.clone()));
    }
    if let Some(s) = &l.subgroup {
        q.push(("subgroup".into(), s.clone()));
    }
    if l.strict {
        q.push(("strict".into(), "true".into()));
    }
    if l.transcode {
        q.push(("transcode".into(), "true".into()));
    }
    if let Some(n) = l.endpoints {
        q.push(("endpoints".into(), n.to_string()));
    }
    append_query(
        &format!(
            "{}/as/v1/streams/stream/{}/{}/{}/{}",
            trim(base),
            encode_component(node_group),
            direction.as_str(),
            path(context),
            encode_component(stream)
        ),
        &q,
    )
}

/// `POST /as/v1/streams/provision/<ng>`.
pub fn sm2_provision(base: &str, node_group: &str) -> String {
    format!(
        "{}/as/v1/streams/provision/{}",
        trim(base),
        encode_component(node_group)
    )
}

/// `/as/v1/streams/mixer/<ng>[/<eventId>]`.
pub fn sm2_mixer(base: &str, node_group: &str, event_id: Option<&str>) -> String {
    let mut u = format!(
        "{}/as/v1/streams/mixer/{}",
        trim(base),
        encode_component(node_group)
    );
    if let Some(e) = event_id {
        u.push('/');
        u.push_str(&encode_component(e));
    }
    u
}
