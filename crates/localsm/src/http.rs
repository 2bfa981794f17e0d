//! HTTP + WebSocket front of the built-in Stream Manager (axum): SM2 `/as/v1/…`, SM1
//! `/streammanager/…`, node-style WHIP/WHEP and the standalone WS. Paths carry nested contexts
//! (`live/room1`), so one dispatcher splits them instead of a route table.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use red5_signal::whip::SdpFrag;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use webrtc::peer_connection::RTCIceCandidateInit;

use crate::conference::compositions::StoreConfig;
use crate::conference::{self, ConferenceConfig, ConferenceState};
use crate::config::ServerConfig;
use crate::error::{LocalSmError, Result};
use crate::session::{Cmd, Role, Session, Shared, WsIn, WsOut};
use crate::sfu::Registry;

/// Address of the (only) node behind this Stream Manager.
const NODE_ADDRESS: &str = "127.0.0.1";
const PROXY_DISABLED: &str = "The Stream Manager proxy is disabled (proxy.enabled=false in \
streammanager/WEB-INF/red5-web.properties). Enable it, or connect to the node directly.";

struct App {
    shared: Arc<Shared>,
    shutdown_tx: tokio::sync::watch::Sender<bool>,
    http_sessions: Mutex<HashMap<String, mpsc::UnboundedSender<Cmd>>>,
    /// SM2 login tokens (shared with the conference's Brew routes).
    tokens: Arc<Mutex<HashSet<String>>>,
    /// SM2 `/as/v1/streams/provision` records. SM1 `admin/event/meta` provisions live in the
    /// conference store (one store: `join` and the REST routes see the same ones).
    provisions: Mutex<HashMap<String, Value>>,
    conf: ConferenceState,
    mixers: Arc<conference::MixerHost>,
    mixer_tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// The built-in Stream Manager.
pub struct LocalServer;

/// A running server; dropping it (or [`ServerHandle::shutdown`]) stops it.
pub struct ServerHandle {
    addr: SocketAddr,
    app: Arc<App>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl LocalServer {
    /// Binds (loopback only) and starts serving on the current tokio runtime.
    pub async fn start(cfg: ServerConfig) -> Result<ServerHandle> {
        let ip: std::net::IpAddr = cfg
            .host
            .parse()
            .map_err(|_| LocalSmError::NotLoopback(cfg.host.clone()))?;
        if !ip.is_loopback() {
            return Err(LocalSmError::NotLoopback(cfg.host.clone()));
        }
        let addr = SocketAddr::new(ip, cfg.port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| LocalSmError::Bind {
                addr: addr.to_string(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| LocalSmError::Bind {
            addr: addr.to_string(),
            source,
        })?;
        let (shutdown_tx, shutdown) = tokio::sync::watch::channel(false);
        let tokens: Arc<Mutex<HashSet<String>>> = Arc::default();
        let conf = ConferenceState::new(conference_config(&cfg, &tokens));
        let registry = Arc::new(Registry::default());
        // The internal webhook: every client publish/unpublish reaches the conference backend.
        let hook = conf.clone();
        registry.set_listener(Arc::new(move |guid: &str, published: bool| {
            if published {
                hook.stream_published(guid)
            } else {
                hook.stream_unpublished(guid)
            }
        }));
        let (mixers, sink, mixer_tasks) =
            crate::mixfeed::start(conf.clone(), registry.clone(), cfg.mix_minus);
        let app = Arc::new(App {
            shared: Arc::new(Shared {
                registry,
                cfg: Arc::new(cfg),
                shutdown,
                mix: sink.clone(),
                conf: conf.clone(),
            }),
            shutdown_tx,
            http_sessions: Mutex::new(HashMap::new()),
            tokens,
            provisions: Mutex::new(HashMap::new()),
            conf: conf.clone(),
            mixers,
            mixer_tasks,
        });
        // Conference routes win over `dispatch` for their paths; the backend WS layer wraps
        // everything so `testbed=conference` upgrades on any path reach it first.
        let router = conference::with_backend_ws(
            Router::new()
                .fallback(dispatch)
                .with_state(app.clone())
                .merge(conference::router(conf.clone())),
            conf,
        );
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            });
            if let Err(e) = serve.await {
                tracing::warn!("built-in server stopped: {e}");
            }
        });
        tracing::info!(%addr, "built-in Stream Manager listening");
        Ok(ServerHandle {
            addr,
            app,
            stop: Some(stop_tx),
            task: Some(task),
        })
    }
}

impl ServerHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// `ws://127.0.0.1:<port>`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.addr)
    }
    /// Base of the conference backend WebSocket (§7.4), `ws://127.0.0.1:<port>/`: add
    /// `?testbed=conference&room=<app>/<room>[_wr]` and `&host=true` for a host.
    pub fn backend_ws_url(&self) -> String {
        format!("ws://{}/", self.addr)
    }
    /// The full backend WebSocket URL for `room` (`live/room1` or `live/room1_wr`).
    pub fn backend_ws_url_for(&self, room: &str, host: bool) -> String {
        let host = if host { "&host=true" } else { "" };
        format!("ws://{}/?testbed=conference&room={room}{host}", self.addr)
    }
    /// SM1 REST base (`http://127.0.0.1:<port>/streammanager/api/4.0`): compositions, conference
    /// provisions, `event/<scope>/<room>/join`, node groups.
    pub fn sm1_api_url(&self) -> String {
        format!("http://{}/streammanager/api/4.0", self.addr)
    }
    /// The SM1 `accessToken` admin calls need (`None` = the server runs without auth and
    /// accepts any or none).
    pub fn sm1_access_token(&self) -> Option<red5_signal::Secret> {
        self.app
            .cfg()
            .auth
            .as_ref()
            .map(|a| a.sm1_access_token.clone())
    }
    /// The conference control plane (compositions, rooms, events) of this server.
    pub fn conference(&self) -> &ConferenceState {
        &self.app.conf
    }
    /// GUIDs of the streams being published.
    pub fn published_streams(&self) -> Vec<String> {
        self.app.shared.registry.guids()
    }
    pub fn subscriber_count(&self, guid: &str) -> usize {
        self.app
            .shared
            .registry
            .get(guid)
            .map(|s| s.subscriber_count())
            .unwrap_or(0)
    }
    /// Stops accepting, ends every stream and waits for the HTTP server to finish.
    pub async fn shutdown(mut self) {
        self.stop_now();
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    }
    fn stop_now(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = self.app.shutdown_tx.send(true);
        for t in &self.app.mixer_tasks {
            t.abort();
        }
        self.app.mixers.shutdown();
        self.app.conf.close_sockets();
        self.app.shared.registry.unpublish_all();
        if let Ok(mut m) = self.app.http_sessions.lock() {
            for (_, tx) in m.drain() {
                let _ = tx.send(Cmd::Delete);
            }
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop_now();
    }
}

// ---------------------------------------------------------------------------------- helpers

fn json_response(status: StatusCode, v: Value) -> Response {
    let mut r = (status, axum::Json(v)).into_response();
    cors(r.headers_mut());
    r
}

fn sm2_error(status: StatusCode, msg: &str) -> Response {
    json_response(status, json!({ "error": msg }))
}

fn sm1_error(status: StatusCode, msg: &str) -> Response {
    json_response(
        status,
        json!({ "errorMessage": msg, "timestamp": now_ms() }),
    )
}

fn text(status: StatusCode, body: &str) -> Response {
    let mut r = (status, body.to_owned()).into_response();
    cors(r.headers_mut());
    r
}

fn cors(h: &mut HeaderMap) {
    h.insert("Access-Control-Allow-Origin", HeaderValue::from_static("*"));
    h.insert(
        "Access-Control-Expose-Headers",
        HeaderValue::from_static("Location, Link, Session-Host, Content-Type, ETag"),
    );
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn parse_query(q: Option<&str>) -> HashMap<String, String> {
    url::form_urlencoded::parse(q.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn valid_segment(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains('\\')
}

/// `[ctx…, stream]` → (`ctx/…`, `stream`), requiring at least one context segment.
fn split_guid(parts: &[&str]) -> Option<(String, String)> {
    let parts: Vec<&str> = parts.iter().copied().filter(|s| !s.is_empty()).collect();
    if parts.len() < 2 || !parts.iter().all(|s| valid_segment(s)) {
        return None;
    }
    let (stream, ctx) = parts.split_last()?;
    Some((ctx.join("/"), (*stream).to_owned()))
}

impl App {
    fn cfg(&self) -> &ServerConfig {
        &self.shared.cfg
    }

    fn node_group_ok(&self, ng: &str) -> bool {
        ng == self.cfg().node_group || ng == "default"
    }

    /// Round-trip auth: `username`/`password`/`token` must match when configured.
    fn round_trip_ok(&self, q: &HashMap<String, String>) -> bool {
        let Some(rt) = self.cfg().auth.as_ref().and_then(|a| a.round_trip.as_ref()) else {
            return true;
        };
        let get = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
        get("username") == rt.username
            && get("password") == rt.password.expose()
            && get("token") == rt.token.expose()
    }

    fn bearer_ok(&self, headers: &HeaderMap) -> bool {
        if self.cfg().auth.is_none() {
            return true;
        }
        let Some(v) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let Some(tok) = v.strip_prefix("Bearer ").map(str::trim) else {
            return false;
        };
        self.tokens.lock().map(|t| t.contains(tok)).unwrap_or(false)
    }
}

/// The conference control plane as this server runs it: same region/node group/auth.
fn conference_config(cfg: &ServerConfig, tokens: &Arc<Mutex<HashSet<String>>>) -> ConferenceConfig {
    let tokens = tokens.clone();
    ConferenceConfig {
        store: StoreConfig {
            region: cfg.region.clone(),
            server_address: NODE_ADDRESS.into(),
            node_group: cfg.node_group.clone(),
        },
        access_token: cfg.auth.as_ref().map(|a| a.sm1_access_token.clone()),
        bearer_check: cfg.auth.as_ref().map(|_| {
            let check: conference::http::BearerCheck =
                Arc::new(move |t: &str| tokens.lock().map(|s| s.contains(t)).unwrap_or(false));
            check
        }),
        round_trip: cfg
            .auth
            .as_ref()
            .and_then(|a| a.round_trip.as_ref())
            .map(|r| (r.username.clone(), r.password.clone())),
    }
}

// ---------------------------------------------------------------------------------- dispatch

async fn dispatch(State(app): State<Arc<App>>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let q = parse_query(query.as_deref());
    let method = req.method().clone();
    let is_ws = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let seg = |i: usize| segs.get(i).copied().unwrap_or("");

    if seg(0) == "_static" && method == Method::GET {
        return static_file(&app, &segs[1..]).await;
    }
    if path == "/" && method == Method::GET && !is_ws {
        return json_response(
            StatusCode::OK,
            json!({ "server": "Red5 Desk built-in Stream Manager", "nodeGroup": app.cfg().node_group,
                    "proxyEnabled": app.cfg().proxy_enabled, "streams": app.shared.registry.guids() }),
        );
    }

    // ---- SM2
    if seg(0) == "as" && seg(1) == "v1" {
        match (seg(2), seg(3)) {
            ("auth", "login") => return login(&app, &method, req.headers()),
            ("streams", "stream") => return sm2_lookup(&app, &method, &segs[4..], &q),
            ("streams", "provision") => {
                let headers = req.headers().clone();
                let body = axum::body::to_bytes(req.into_body(), 1 << 20)
                    .await
                    .unwrap_or_default();
                return sm2_provision(&app, &method, &headers, seg(4), &body);
            }
            ("proxy", "ws") => {
                if !is_ws {
                    return sm2_error(StatusCode::BAD_REQUEST, "A WebSocket upgrade is required");
                }
                if !app.cfg().proxy_enabled {
                    return sm2_error(StatusCode::NOT_FOUND, PROXY_DISABLED);
                }
                let role = match seg(4) {
                    "publish" => Role::Publisher,
                    "subscribe" => Role::Subscriber,
                    _ => {
                        return sm2_error(
                            StatusCode::NOT_FOUND,
                            "Use /as/v1/proxy/ws/publish|subscribe/<context>/<stream>",
                        )
                    }
                };
                let Some((scope, stream)) = split_guid(&segs[5..]) else {
                    return sm2_error(
                        StatusCode::NOT_FOUND,
                        "The proxy path needs /<context>/<stream>",
                    );
                };
                if let Some(ng) = q.get("nodeGroup") {
                    if !app.node_group_ok(ng) {
                        return sm2_error(
                            StatusCode::NOT_FOUND,
                            &format!("Node group not found: {ng}"),
                        );
                    }
                }
                return upgrade(app, req, scope, Some(stream), Some(role), q).await;
            }
            ("proxy", kind @ ("whip" | "whep")) => {
                if !app.cfg().proxy_enabled {
                    return sm2_error(StatusCode::SERVICE_UNAVAILABLE, PROXY_DISABLED);
                }
                let Some((scope, stream)) = split_guid(&segs[4..]) else {
                    return sm2_error(
                        StatusCode::NOT_FOUND,
                        "The proxy path needs /<context>/<stream>",
                    );
                };
                let whep = kind == "whep";
                let loc = format!("/as/v1/proxy/{kind}/{scope}/{stream}");
                return whip_whep(app, req, whep, true, scope, stream, loc, q).await;
            }
            _ => {
                return sm2_error(
                    StatusCode::NOT_FOUND,
                    &format!("No such Stream Manager 2.0 endpoint: {path}"),
                )
            }
        }
    }

    // ---- SM1
    if seg(0) == "streammanager" {
        if seg(1) == "api" {
            if seg(2) != "4.0" {
                return sm1_error(StatusCode::NOT_FOUND, "Only API version 4.0 is served");
            }
            return match (seg(3), seg(4)) {
                // `admin/event/meta/…` and `event/<a>/<b>/join` are conference routes.
                ("event", _) => sm1_event(&app, &method, &segs[4..], &q),
                _ => sm1_error(
                    StatusCode::NOT_FOUND,
                    &format!("No such Stream Manager endpoint: {path}"),
                ),
            };
        }
        if segs.len() <= 2 && seg(1).is_empty() {
            if !is_ws {
                return sm1_error(StatusCode::BAD_REQUEST, "A WebSocket upgrade is required");
            }
            if !app.cfg().proxy_enabled {
                // Stand-in: what a disabled SM1 proxy answers is undocumented (red5-server-side.md §8).
                return sm1_error(StatusCode::NOT_FOUND, PROXY_DISABLED);
            }
            let scope = q
                .get("app")
                .cloned()
                .unwrap_or_default()
                .trim_matches('/')
                .to_owned();
            if scope.is_empty() || !scope.split('/').all(valid_segment) {
                return sm1_error(
                    StatusCode::BAD_REQUEST,
                    "The WebSocket proxy needs an app parameter (context)",
                );
            }
            if let Some(h) = q.get("host") {
                if h != NODE_ADDRESS && h != "localhost" {
                    return sm1_error(StatusCode::BAD_REQUEST, &format!("Unknown node host {h}"));
                }
            }
            return upgrade(app, req, scope, None, None, q).await;
        }
    }

    // ---- node-style WHIP/WHEP: /<app…>/whip|whep/endpoint|resource/<stream>
    if let Some(pos) = segs.iter().position(|s| *s == "whip" || *s == "whep") {
        if pos >= 1 && segs.len() == pos + 3 && matches!(seg(pos + 1), "endpoint" | "resource") {
            let scope_parts = &segs[..pos];
            let stream = seg(pos + 2).to_owned();
            if scope_parts.iter().all(|s| valid_segment(s)) && valid_segment(&stream) {
                let scope = scope_parts.join("/");
                let kind = seg(pos);
                let loc = format!("/{scope}/{kind}/resource/{stream}");
                return whip_whep(app, req, kind == "whep", false, scope, stream, loc, q).await;
            }
        }
    }

    // ---- standalone WS: /<app…>/?id=
    if is_ws {
        let scope_parts: Vec<&str> = segs.iter().copied().filter(|s| !s.is_empty()).collect();
        if !scope_parts.is_empty() && scope_parts.iter().all(|s| valid_segment(s)) {
            return upgrade(app, req, scope_parts.join("/"), None, None, q).await;
        }
    }
    json_response(
        StatusCode::NOT_FOUND,
        json!({ "error": format!("Not found: {path}") }),
    )
}

// ---------------------------------------------------------------------------------- REST

fn login(app: &App, method: &Method, headers: &HeaderMap) -> Response {
    if method != Method::PUT {
        return sm2_error(StatusCode::METHOD_NOT_ALLOWED, "Use PUT /as/v1/auth/login");
    }
    let creds = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned())));
    let user = match (&app.cfg().auth, creds) {
        (Some(a), Some((u, p))) if u == a.admin_user && p == a.admin_password.expose() => u,
        (Some(_), _) => {
            return json_response(
                StatusCode::UNAUTHORIZED,
                json!({ "errorMessage": "Invalid username or password" }),
            )
        }
        (None, c) => c.map(|(u, _)| u).unwrap_or_else(|| "admin".into()),
    };
    let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let now = now_ms() / 1000;
    let header = b64(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = b64(
        json!({ "sub": user, "roles": "admin", "iat": now, "exp": now + 3600 })
            .to_string()
            .as_bytes(),
    );
    let sig = b64(&rand::random::<[u8; 32]>());
    let token = format!("{header}.{payload}.{sig}");
    if let Ok(mut t) = app.tokens.lock() {
        t.insert(token.clone());
    }
    json_response(StatusCode::OK, json!({ "token": token }))
}

fn sm2_lookup(app: &App, method: &Method, rest: &[&str], q: &HashMap<String, String>) -> Response {
    if method != Method::GET {
        return sm2_error(StatusCode::METHOD_NOT_ALLOWED, "Use GET");
    }
    let ng = rest.first().copied().unwrap_or("");
    if !app.node_group_ok(ng) {
        return sm2_error(
            StatusCode::NOT_FOUND,
            &format!("Node group not found: {ng}"),
        );
    }
    let location = |guid: &str, subs: usize| {
        json!({ "streamGuid": guid, "serverAddress": NODE_ADDRESS, "nodeRole": "allinone",
                "subGroup": app.cfg().region, "nodeState": "INSERVICE", "subscribers": subs })
    };
    if rest.len() <= 1 || (rest.len() == 2 && rest[1].is_empty()) {
        let list: Vec<Value> = app
            .shared
            .registry
            .guids()
            .iter()
            .map(|g| {
                let mut v = location(
                    g,
                    app.shared
                        .registry
                        .get(g)
                        .map(|s| s.subscriber_count())
                        .unwrap_or(0),
                );
                v["durationMs"] = json!(0);
                v
            })
            .collect();
        return json_response(StatusCode::OK, Value::Array(list));
    }
    let dir = rest[1];
    let Some((scope, stream)) = split_guid(&rest[2..]) else {
        return sm2_error(
            StatusCode::BAD_REQUEST,
            "Expected /<context>/<stream> after publish|subscribe",
        );
    };
    if let Some(e) = q.get("endpoints") {
        match e.parse::<i64>() {
            Ok(n) if n < 1 => {
                return sm2_error(StatusCode::BAD_REQUEST, "endpoints must be at least 1")
            }
            Ok(n) if n > 1 && q.get("transcode").is_some_and(|t| t == "true") => {
                return sm2_error(
                    StatusCode::BAD_REQUEST,
                    "endpoints greater than one is not allowed with transcode",
                )
            }
            Ok(_) => {}
            Err(_) => return sm2_error(StatusCode::BAD_REQUEST, "endpoints must be a number"),
        }
    }
    let guid = format!("{scope}/{stream}");
    let existing = app.shared.registry.get(&guid);
    match dir {
        "publish" => {
            if existing.is_some() {
                return sm2_error(
                    StatusCode::BAD_REQUEST,
                    &format!("Stream already exists: {guid}"),
                );
            }
            json_response(StatusCode::OK, json!([location(&guid, 0)]))
        }
        "subscribe" => match existing {
            Some(s) => json_response(
                StatusCode::OK,
                json!([location(&guid, s.subscriber_count())]),
            ),
            None => sm2_error(StatusCode::NOT_FOUND, &format!("Stream not found: {guid}")),
        },
        other => sm2_error(
            StatusCode::NOT_FOUND,
            &format!("Unknown lookup type {other}; use publish or subscribe"),
        ),
    }
}

fn sm2_provision(
    app: &App,
    method: &Method,
    headers: &HeaderMap,
    ng: &str,
    body: &Bytes,
) -> Response {
    if !app.bearer_ok(headers) {
        return json_response(
            StatusCode::UNAUTHORIZED,
            json!({ "errorMessage": "A valid Bearer token is required" }),
        );
    }
    if !app.node_group_ok(ng) {
        return sm2_error(
            StatusCode::NOT_FOUND,
            &format!("Node group not found: {ng}"),
        );
    }
    let Ok(mut provs) = app.provisions.lock() else {
        return sm2_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "provision store unavailable",
        );
    };
    match *method {
        Method::GET => json_response(
            StatusCode::OK,
            Value::Array(provs.values().cloned().collect()),
        ),
        Method::POST => {
            let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(body) else {
                return sm2_error(
                    StatusCode::BAD_REQUEST,
                    "The body must be a JSON array of provisions",
                );
            };
            let mut keys = Vec::new();
            for it in &items {
                let Some(guid) = it
                    .get("streamGuid")
                    .or_else(|| it.get("guid"))
                    .and_then(Value::as_str)
                else {
                    return sm2_error(StatusCode::BAD_REQUEST, "Each provision needs a streamGuid");
                };
                if provs.contains_key(guid) {
                    return sm2_error(
                        StatusCode::CONFLICT,
                        &format!("Provision already exists: {guid}"),
                    );
                }
                keys.push(guid.to_owned());
            }
            for (k, v) in keys.into_iter().zip(items.iter()) {
                provs.insert(k, v.clone());
            }
            json_response(StatusCode::CREATED, Value::Array(items))
        }
        _ => sm2_error(StatusCode::METHOD_NOT_ALLOWED, "Use GET or POST"),
    }
}

fn sm1_event(app: &App, method: &Method, rest: &[&str], q: &HashMap<String, String>) -> Response {
    if method != Method::GET {
        return sm1_error(StatusCode::METHOD_NOT_ALLOWED, "Use GET");
    }
    let Some((scope, stream)) = split_guid(rest) else {
        return sm1_error(
            StatusCode::BAD_REQUEST,
            "Expected /event/<context>/<stream>",
        );
    };
    let guid = format!("{scope}/{stream}");
    let endpoints = match q.get("endpoints").map(|e| e.parse::<usize>()) {
        None => 1,
        Some(Ok(n)) if n >= 1 => n,
        Some(_) => {
            return sm1_error(
                StatusCode::BAD_REQUEST,
                "endpoints must be a positive number",
            )
        }
    };
    let body = json!({ "name": stream, "scope": format!("/{scope}"), "serverAddress": NODE_ADDRESS,
                       "region": app.cfg().region });
    let published = app.shared.registry.is_published(&guid);
    match q.get("action").map(String::as_str) {
        Some("broadcast") => {
            if published {
                return sm1_error(
                    StatusCode::BAD_REQUEST,
                    &format!("Stream {guid} is already being broadcast"),
                );
            }
        }
        Some("subscribe") => {
            if !published {
                return sm1_error(
                    StatusCode::NOT_FOUND,
                    &format!("No stream {guid} is being broadcast"),
                );
            }
        }
        Some(other) => {
            return sm1_error(StatusCode::BAD_REQUEST, &format!("Unknown action {other}"))
        }
        None => {
            return sm1_error(
                StatusCode::BAD_REQUEST,
                "The action parameter (broadcast|subscribe) is required",
            )
        }
    }
    if endpoints > 1 {
        json_response(StatusCode::OK, Value::Array(vec![body; endpoints.min(1)]))
    } else {
        json_response(StatusCode::OK, body)
    }
}

async fn static_file(app: &App, rest: &[&str]) -> Response {
    let Some(root) = &app.cfg().static_root else {
        return text(StatusCode::NOT_FOUND, "no static root configured");
    };
    if rest.is_empty() || !rest.iter().all(|s| valid_segment(s)) {
        return text(StatusCode::NOT_FOUND, "not found");
    }
    let mut p = root.clone();
    for s in rest {
        p.push(s);
    }
    let ct = match p.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css",
        Some("json" | "map") => "application/json",
        _ => "application/octet-stream",
    };
    match tokio::fs::read(&p).await {
        Ok(bytes) => {
            let mut r = Response::new(Body::from(bytes));
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            r
        }
        Err(_) => text(StatusCode::NOT_FOUND, "not found"),
    }
}

// ---------------------------------------------------------------------------------- WebSocket

async fn upgrade(
    app: Arc<App>,
    req: Request,
    scope: String,
    path_stream: Option<String>,
    role: Option<Role>,
    q: HashMap<String, String>,
) -> Response {
    let (mut parts, _body) = req.into_parts();
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(ws) => ws,
        Err(e) => return e.into_response(),
    };
    let auth_ok = app.round_trip_ok(&q);
    let shared = app.shared.clone();
    // Echo the `json` sub-protocol when offered (the SM1 proxy dials nodes with it).
    let offers_json = parts
        .headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|p| p.trim() == "json"));
    let ws = if offers_json {
        ws.protocols(["json"])
    } else {
        ws
    };
    ws.on_upgrade(move |socket| async move {
        let session = Session::new(shared.clone(), scope, path_stream, role);
        run_socket(socket, session, shared.cfg.ws_idle_timeout, auth_ok).await;
    })
}

async fn run_socket(socket: WebSocket, session: Session, idle: Duration, auth_ok: bool) {
    let (mut sink, mut stream) = socket.split();
    if !auth_ok {
        let rejected = red5_signal::ws::ServerMessage::connect_rejected().to_json();
        let _ = sink.send(Message::Text(rejected.into())).await;
        let _ = sink.close().await;
        return;
    }
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<WsOut>();
    let (in_tx, in_rx) = mpsc::unbounded_channel::<WsIn>();
    let writer = tokio::spawn(async move {
        let mut ping = tokio::time::interval(Duration::from_secs(15));
        ping.tick().await;
        loop {
            tokio::select! {
                m = out_rx.recv() => match m {
                    Some(WsOut::Text(t)) => {
                        if sink.send(Message::Text(t.into())).await.is_err() {
                            break;
                        }
                    }
                    Some(WsOut::Close) | None => {
                        let _ = sink.close().await;
                        break;
                    }
                },
                _ = ping.tick() => {
                    if sink.send(Message::Ping(Bytes::from_static(b"red5"))).await.is_err() {
                        break;
                    }
                }
            }
        }
    });
    let reader = tokio::spawn(async move {
        loop {
            match tokio::time::timeout(idle, stream.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => {
                    if in_tx.send(WsIn::Text(t.to_string())).is_err() {
                        break;
                    }
                }
                Ok(Some(Ok(Message::Binary(b)))) => {
                    let _ = in_tx.send(WsIn::Text(String::from_utf8_lossy(&b).into_owned()));
                }
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
                Ok(Some(Ok(Message::Close(_)))) | Ok(Some(Err(_))) | Ok(None) => break,
                Err(_) => {
                    tracing::debug!("WebSocket idle for {idle:?}: closing");
                    break;
                }
            }
        }
        let _ = in_tx.send(WsIn::Closed);
    });
    session.run_ws(out_tx, in_rx).await;
    reader.abort();
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
}

// ---------------------------------------------------------------------------------- WHIP / WHEP

fn whip_text(status: StatusCode, msg: &str) -> Response {
    text(status, msg)
}

#[allow(clippy::too_many_arguments)]
async fn whip_whep(
    app: Arc<App>,
    req: Request,
    whep: bool,
    sm2: bool,
    scope: String,
    stream: String,
    location: String,
    q: HashMap<String, String>,
) -> Response {
    let method = req.method().clone();
    let guid = format!("{scope}/{stream}");
    let request_id = q.get("requestId").cloned();
    let key = |rid: &str| {
        if whep {
            format!("whep:{guid}:{rid}")
        } else {
            format!("whip:{guid}")
        }
    };

    if method == Method::OPTIONS {
        if let Some(ng) = q.get("nodeGroup") {
            if sm2 && !app.node_group_ok(ng) {
                return sm2_error(
                    StatusCode::NOT_FOUND,
                    &format!("Node group not found: {ng}"),
                );
            }
        }
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NO_CONTENT;
        let h = r.headers_mut();
        cors(h);
        h.insert("Session-Host", HeaderValue::from_static(NODE_ADDRESS));
        ice_links(h, app.cfg());
        h.insert(
            "Access-Control-Allow-Methods",
            HeaderValue::from_static("OPTIONS, POST, PATCH, DELETE"),
        );
        h.insert(
            "Access-Control-Allow-Headers",
            HeaderValue::from_static("Content-Type, Authorization, If-Match"),
        );
        return r;
    }
    if !app.round_trip_ok(&q) {
        return whip_text(StatusCode::UNAUTHORIZED, "Not authorized.");
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let body = match axum::body::to_bytes(req.into_body(), 1 << 20).await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) => return whip_text(StatusCode::PAYLOAD_TOO_LARGE, "Invalid request body."),
    };

    match method {
        Method::POST => {
            if whep {
                whep_post(&app, scope, stream, location, request_id, &body).await
            } else {
                whip_post(&app, scope, stream, location, &content_type, &body).await
            }
        }
        Method::PATCH | Method::DELETE => {
            if sm2 && app.cfg().sm2_require_host && !q.contains_key("host") {
                return sm2_error(StatusCode::BAD_REQUEST, "The host parameter is required");
            }
            let rid = match (whep, &request_id) {
                (true, None) => {
                    return whip_text(
                        StatusCode::BAD_REQUEST,
                        "The requestId parameter is required",
                    )
                }
                (true, Some(r)) => r.clone(),
                (false, _) => String::new(),
            };
            let k = key(&rid);
            let tx = app
                .http_sessions
                .lock()
                .ok()
                .and_then(|m| m.get(&k).cloned());
            let Some(tx) = tx else {
                return whip_text(StatusCode::NOT_FOUND, "Session not found.");
            };
            if method == Method::DELETE {
                let _ = tx.send(Cmd::Delete);
                if let Ok(mut m) = app.http_sessions.lock() {
                    m.remove(&k);
                }
                return whip_text(StatusCode::OK, "");
            }
            let ok = if whep {
                StatusCode::NO_CONTENT
            } else {
                StatusCode::OK
            };
            if content_type == "application/sdp" {
                if !whep {
                    return whip_text(
                        StatusCode::BAD_REQUEST,
                        "A WHIP session takes only ICE fragments on PATCH.",
                    );
                }
                let (rtx, rrx) = oneshot::channel();
                if tx.send(Cmd::Answer(body, rtx)).is_err() {
                    return whip_text(StatusCode::NOT_FOUND, "Session not found.");
                }
                return match rrx.await {
                    Ok(Ok(())) => whip_text(ok, ""),
                    Ok(Err(e)) => {
                        whip_text(StatusCode::BAD_REQUEST, &format!("Invalid answer SDP: {e}"))
                    }
                    Err(_) => whip_text(StatusCode::NOT_FOUND, "Session not found."),
                };
            }
            if content_type == "application/trickle-ice-sdpfrag" {
                let frag = match SdpFrag::parse(&body) {
                    Ok(f) => f,
                    Err(e) => {
                        return whip_text(
                            StatusCode::BAD_REQUEST,
                            &format!("Invalid ICE fragment: {e}"),
                        )
                    }
                };
                let mid = frag.mid.clone().unwrap_or_else(|| "0".into());
                let cands = frag
                    .candidates
                    .iter()
                    .map(|c| RTCIceCandidateInit {
                        candidate: c.clone(),
                        sdp_mid: Some(mid.clone()),
                        sdp_mline_index: Some(0),
                        username_fragment: frag.ice_ufrag.clone(),
                        ..Default::default()
                    })
                    .collect();
                let _ = tx.send(Cmd::Candidates(cands));
                return whip_text(ok, "");
            }
            whip_text(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Use application/sdp or application/trickle-ice-sdpfrag.",
            )
        }
        _ => {
            let mut r = whip_text(
                StatusCode::METHOD_NOT_ALLOWED,
                "Remember to update the URL passed into the WHIP or WHEP client.",
            );
            r.headers_mut().insert(
                header::ALLOW,
                HeaderValue::from_static("OPTIONS, POST, PATCH, DELETE"),
            );
            r
        }
    }
}

/// `Link: <url>; rel="ice-server"[; username=…; credential=…]`, one per URL (WHIP/WHEP drafts).
fn ice_links(h: &mut HeaderMap, cfg: &ServerConfig) {
    for s in &cfg.ice_servers {
        let cred = s.credential.as_ref().map(|c| c.expose());
        for url in &s.urls {
            let link = red5_signal::whip::Link::ice_server(url, s.username.as_deref(), cred);
            if let Ok(v) = HeaderValue::from_str(&link.to_header()) {
                h.append(header::LINK, v);
            }
        }
    }
}

fn created(location: &str, sdp: String, etag: &str, cfg: &ServerConfig) -> Response {
    let mut r = Response::new(Body::from(sdp));
    *r.status_mut() = StatusCode::CREATED;
    let h = r.headers_mut();
    cors(h);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/sdp"),
    );
    if let Ok(v) = HeaderValue::from_str(location) {
        h.insert(header::LOCATION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        h.insert(header::ETAG, v);
    }
    h.insert("Session-Host", HeaderValue::from_static(NODE_ADDRESS));
    ice_links(h, cfg);
    r
}

fn spawn_http_session(app: &Arc<App>, key: String, session: Session) {
    let (tx, rx) = mpsc::unbounded_channel();
    if let Ok(mut m) = app.http_sessions.lock() {
        m.insert(key.clone(), tx.clone());
    }
    let app2 = app.clone();
    tokio::spawn(async move {
        session.run_http(rx).await;
        if let Ok(mut m) = app2.http_sessions.lock() {
            if m.get(&key).is_some_and(|t| t.same_channel(&tx)) {
                m.remove(&key);
            }
        }
    });
}

async fn whip_post(
    app: &Arc<App>,
    scope: String,
    stream: String,
    location: String,
    content_type: &str,
    body: &str,
) -> Response {
    if body.trim().is_empty() || (!content_type.is_empty() && content_type != "application/sdp") {
        return whip_text(StatusCode::PRECONDITION_FAILED, "Invalid request body.");
    }
    let guid = format!("{scope}/{stream}");
    let key = format!("whip:{guid}");
    if app
        .http_sessions
        .lock()
        .map(|m| m.contains_key(&key))
        .unwrap_or(false)
    {
        return whip_text(StatusCode::CONFLICT, "Session already initialized.");
    }
    let mut s = Session::new(
        app.shared.clone(),
        scope,
        Some(stream.clone()),
        Some(Role::Publisher),
    );
    match s.accept_offer(&stream, body, true).await {
        Ok(answer) => {
            if let Err(e) = s.register_stream() {
                return whip_text(
                    StatusCode::CONFLICT,
                    &format!("Stream is not available to publish: {e}"),
                );
            }
            s.mark_started_http();
            let etag = format!("{:08x}", rand::random::<u32>());
            spawn_http_session(app, key, s);
            created(&location, answer, &etag, app.cfg())
        }
        Err(LocalSmError::InvalidSdp(e)) => {
            whip_text(StatusCode::BAD_REQUEST, &format!("Invalid offer SDP. {e}"))
        }
        Err(LocalSmError::AlreadyPublished(_)) => {
            whip_text(StatusCode::CONFLICT, "Stream is not available to publish")
        }
        Err(e) => whip_text(
            StatusCode::EXPECTATION_FAILED,
            &format!("Session lookup or creation failure. {e}"),
        ),
    }
}

async fn whep_post(
    app: &Arc<App>,
    scope: String,
    stream: String,
    location: String,
    request_id: Option<String>,
    body: &str,
) -> Response {
    let rid = request_id.unwrap_or_else(|| format!("subscriber-{:04x}", rand::random::<u16>()));
    let guid = format!("{scope}/{stream}");
    let key = format!("whep:{guid}:{rid}");
    if app
        .http_sessions
        .lock()
        .map(|m| m.contains_key(&key))
        .unwrap_or(false)
    {
        return whip_text(
            StatusCode::BAD_REQUEST,
            "Offer already sent, double POST assumed.",
        );
    }
    // The client's offer is informational in Red5's WHEP (the server offers); an empty body is
    // the "simple WHEP client" mode. A non-empty body must still look like SDP.
    if !body.trim().is_empty() {
        if let Err(e) = crate::sdp::validate(body) {
            return whip_text(StatusCode::BAD_REQUEST, &format!("Invalid offer SDP. {e}"));
        }
    }
    let mut s = Session::new(
        app.shared.clone(),
        scope,
        Some(stream.clone()),
        Some(Role::Subscriber),
    );
    match s.make_offer(&stream, true).await {
        Ok(offer) => {
            s.mark_started_http();
            spawn_http_session(app, key, s);
            created(&location, offer, &rid, app.cfg())
        }
        Err(LocalSmError::NotPublished(_)) => {
            whip_text(StatusCode::CONFLICT, "Stream is not available to playback.")
        }
        Err(e) => whip_text(
            StatusCode::NOT_ACCEPTABLE,
            &format!("Playback failed due to an exception during creation. {e}"),
        ),
    }
}

/// Counters of one published stream.
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamStats {
    pub packets_in: u64,
    pub subscribers: usize,
}

impl ServerHandle {
    pub fn stream_stats(&self, guid: &str) -> Option<StreamStats> {
        self.app.shared.registry.get(guid).map(|s| StreamStats {
            packets_in: s.packets_in.load(std::sync::atomic::Ordering::Relaxed),
            subscribers: s.subscriber_count(),
        })
    }
}
