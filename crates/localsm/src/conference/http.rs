//! Thin axum adapter over the conference cores: the backend WebSocket, the webhook, the
//! round-trip-auth mock, SM1 composition/provision/join/nodegroup routes and the SM2 Brew
//! mixer routes. [`ConferenceState`] is the handle the rest of the server feeds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::{SinkExt, StreamExt};
use red5_signal::backend::ServerMessage;
use red5_signal::rest::sm1::{Composition, Node, NodeGroup, Provision};
use red5_signal::rest::sm2::{BrewMixer, RenderTree};
use red5_signal::Secret;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};

use super::backend::{Backend, ConnectQuery, Output, SocketId};
use super::compositions::{final_mixer_path, CompositionStore, StoreConfig};
use super::{now_ms, ApiError, ConferenceEvent};

/// Checks an SM2 `Authorization: Bearer` token (the main server plugs its JWT verifier here).
pub type BearerCheck = Arc<dyn Fn(&str) -> bool + Send + Sync>;

#[derive(Clone, Default)]
pub struct ConferenceConfig {
    pub store: StoreConfig,
    /// SM1 `?accessToken=`; `None` = open.
    pub access_token: Option<Secret>,
    /// SM2 Brew routes; `None` = any non-empty Bearer token.
    pub bearer_check: Option<BearerCheck>,
    /// Round-trip auth mock: `Some((user, password))` = only these credentials validate.
    pub round_trip: Option<(String, Secret)>,
}

impl std::fmt::Debug for ConferenceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConferenceConfig")
            .field("store", &self.store)
            .field("access_token", &self.access_token)
            .field("bearer_check", &self.bearer_check.is_some())
            .field("round_trip", &self.round_trip)
            .finish()
    }
}

struct Core {
    backend: Backend,
    store: CompositionStore,
    senders: HashMap<SocketId, mpsc::UnboundedSender<String>>,
}

struct Inner {
    cfg: ConferenceConfig,
    core: Mutex<Core>,
    events: broadcast::Sender<ConferenceEvent>,
    /// true once the server shuts down: every backend socket closes.
    closing: tokio::sync::watch::Sender<bool>,
}

/// Shared conference state: clone freely.
#[derive(Clone)]
pub struct ConferenceState(Arc<Inner>);

impl ConferenceState {
    pub fn new(cfg: ConferenceConfig) -> Self {
        let (events, _) = broadcast::channel(256);
        ConferenceState(Arc::new(Inner {
            core: Mutex::new(Core {
                backend: Backend::new(),
                store: CompositionStore::new(cfg.store.clone()),
                senders: HashMap::new(),
            }),
            cfg,
            events,
            closing: tokio::sync::watch::Sender::new(false),
        }))
    }

    /// Closes every backend WebSocket (now and any still being opened): the server is going
    /// away, and hosts/watchers must see it rather than a silent socket.
    pub fn close_sockets(&self) {
        self.0.closing.send_replace(true);
    }

    /// Composition/conference/Brew events for the mixer wiring.
    pub fn subscribe(&self) -> broadcast::Receiver<ConferenceEvent> {
        self.0.events.subscribe()
    }

    fn core(&self) -> MutexGuard<'_, Core> {
        // A panic elsewhere must not take the control plane down with it.
        self.0.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Send frames and events. Called with the lock held so per-socket order is global order.
    fn apply(&self, core: &mut Core, out: Output) {
        for (id, msg) in out.send {
            if let Some(tx) = core.senders.get(&id) {
                let _ = tx.send(msg.to_json());
            }
        }
        for ev in out.events {
            let _ = self.0.events.send(ev);
        }
    }

    /// Read access to the composition store (tests, wiring).
    pub fn with_store<R>(&self, f: impl FnOnce(&CompositionStore) -> R) -> R {
        f(&self.core().store)
    }

    /// (conference list, presenter) of a room.
    pub fn conference(&self, room: &str) -> (Vec<String>, Option<String>) {
        self.core().backend.conference(room)
    }

    /// The `active` list of a room (`live/room1` or `live/room1_wr`), as hosts see it.
    pub fn active(&self, room: &str) -> Vec<String> {
        self.core().backend.active(room)
    }

    /// Whether the host excluded `name` from `room` (or its waiting room).
    pub fn is_excluded(&self, room: &str, name: &str) -> bool {
        let core = self.core();
        let base = super::backend::base_room(room);
        [base.to_owned(), format!("{base}_wr")]
            .iter()
            .any(|r| core.backend.excluded(r).iter().any(|n| n == name))
    }

    /// The SFU registry saw `guid` published (the internal webhook).
    pub fn stream_published(&self, guid: &str) {
        let mut core = self.core();
        let out = core.backend.stream_published(guid);
        self.apply(&mut core, out);
    }

    pub fn stream_unpublished(&self, guid: &str) {
        let mut core = self.core();
        let out = core.backend.stream_unpublished(guid);
        self.apply(&mut core, out);
    }

    fn mixer_change(
        &self,
        event: &str,
        f: impl FnOnce(&mut CompositionStore, &str) -> Vec<ConferenceEvent>,
    ) {
        let mut core = self.core();
        let events = f(&mut core.store, event);
        if events.is_empty() {
            return;
        }
        let room = core
            .store
            .get(event)
            .and_then(final_mixer_path)
            .unwrap_or_default();
        let mut out = core.backend.compositions_changed(&room, &core.store);
        out.events = events;
        self.apply(&mut core, out);
    }

    /// The mixer of composition `event` runs: `inservice`.
    pub fn mixer_started(&self, event: &str) {
        self.mixer_change(event, CompositionStore::mixer_started);
    }

    /// The mixer encoded a composite frame: `composing` (cheap after the first call).
    pub fn mixer_emitted_frame(&self, event: &str) {
        self.mixer_change(event, CompositionStore::mixer_emitted_frame);
    }

    /// The mixer ended while its composition exists.
    pub fn mixer_stopped(&self, event: &str) {
        self.mixer_change(event, CompositionStore::mixer_stopped);
    }

    fn sm1_token_ok(&self, query: Option<&str>) -> bool {
        let Some(want) = &self.0.cfg.access_token else {
            return true;
        };
        url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .any(|(k, v)| k == "accessToken" && v == want.expose())
    }

    fn bearer_ok(&self, headers: &HeaderMap) -> bool {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or("");
        if token.is_empty() {
            return false;
        }
        self.0.cfg.bearer_check.as_ref().is_none_or(|f| f(token))
    }
}

// ---- responses

fn sm1_error(e: ApiError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        Json(json!({ "errorMessage": e.message, "timestamp": now_ms() })),
    )
        .into_response()
}

fn sm2_error(e: ApiError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, Json(json!({ "error": e.message }))).into_response()
}

fn sm1_unauthorized() -> Response {
    sm1_error(ApiError::unauthorized("Invalid or missing accessToken"))
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &Bytes, what: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("The body is not a valid {what}: {e}")))
}

// ---- routers

/// The conference HTTP routes (no fallback, no `/` route), to `.merge()` into the main
/// server. The backend WebSocket is served by [`with_backend_ws`], which must wrap the
/// merged router because the backend accepts any path with `?testbed=conference`.
pub fn router(state: ConferenceState) -> Router {
    Router::new()
        .route("/webhook", post(webhook))
        .route("/validateCredentials", post(validate_credentials))
        .route("/invalidateCredentials", post(validate_credentials))
        .route(
            "/streammanager/api/4.0/composition",
            get(list_compositions).post(create_composition),
        )
        .route(
            "/streammanager/api/4.0/composition/{event}",
            get(get_composition).delete(delete_composition),
        )
        .route(
            "/streammanager/api/4.0/admin/event/meta",
            get(list_provisions),
        )
        .route(
            "/streammanager/api/4.0/admin/event/meta/{*guid}",
            get(get_provision)
                .post(create_provision)
                .delete(delete_provision),
        )
        .route(
            "/streammanager/api/4.0/event/{scope}/{room}/join",
            get(join),
        )
        .route("/streammanager/api/4.0/admin/nodegroup", get(node_groups))
        .route(
            "/streammanager/api/4.0/admin/nodegroup/{name}/node",
            get(nodes),
        )
        .route(
            "/as/v1/streams/mixer/{ng}",
            get(brew_list).post(brew_create),
        )
        .route(
            "/as/v1/streams/mixer/{ng}/{id}",
            get(brew_get).put(brew_update).delete(brew_delete),
        )
        .layer(middleware::from_fn(cors))
        .with_state(state)
}

/// Browser pages (testbeds, the official SDK) call these cross-origin with JSON bodies: answer
/// preflights and allow any origin, as the main server does.
async fn cors(req: Request, next: Next) -> Response {
    let mut res = if req.method() == axum::http::Method::OPTIONS {
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            header::HeaderValue::from_static("GET, POST, PUT, DELETE, OPTIONS"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            header::HeaderValue::from_static("Content-Type, Authorization"),
        );
        r
    } else {
        next.run(req).await
    };
    res.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        header::HeaderValue::from_static("*"),
    );
    res
}

/// Wraps `app` (typically the main server router after `.merge(router(..))`) so WebSocket
/// upgrades carrying `testbed=conference` on any path go to the conference backend (§7.4);
/// everything else reaches `app` unchanged.
pub fn with_backend_ws(app: Router, state: ConferenceState) -> Router {
    app.layer(middleware::from_fn_with_state(state, intercept))
}

/// The conference backend on its own (like BE on `:8001`): routes, the WS layer, and a
/// fallback that accepts non-conference WebSockets and ignores them, as BE does.
pub fn standalone_router(state: ConferenceState) -> Router {
    with_backend_ws(router(state.clone()).fallback(fallback), state)
}

fn is_ws_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

async fn intercept(State(st): State<ConferenceState>, req: Request, next: Next) -> Response {
    let q = req
        .uri()
        .query()
        .map(ConnectQuery::parse)
        .unwrap_or_default();
    if !(is_ws_upgrade(req.headers()) && q.is_conference()) {
        return next.run(req).await;
    }
    let (mut parts, _body) = req.into_parts();
    match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(ws) => ws
            .max_message_size(1 << 20)
            .on_upgrade(move |socket| run_socket(st, q, socket)),
        Err(rejection) => rejection.into_response(),
    }
}

async fn fallback(req: Request) -> Response {
    if is_ws_upgrade(req.headers()) {
        let (mut parts, _body) = req.into_parts();
        return match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
            // Not a conference socket: kept open and silent until the client leaves.
            Ok(ws) => ws.on_upgrade(|mut socket| async move {
                while let Some(Ok(m)) = socket.recv().await {
                    if matches!(m, Message::Close(_)) {
                        break;
                    }
                }
            }),
            Err(rejection) => rejection.into_response(),
        };
    }
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "errorMessage": format!("No such endpoint: {}", req.uri().path()), "timestamp": now_ms() })),
    )
        .into_response()
}

async fn run_socket(st: ConferenceState, q: ConnectQuery, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let id = {
        let mut core = st.core();
        let (id, out) = {
            let Core { backend, store, .. } = &mut *core;
            backend.connect(&q, store)
        };
        core.senders.insert(id, tx);
        st.apply(&mut core, out);
        id
    };
    tracing::debug!(socket = id, room = %q.room, host = q.host, mixer = q.mixer, "backend socket open");
    let writer = tokio::spawn(async move {
        while let Some(text) = rx.recv().await {
            if sink.send(Message::Text(text.into())).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let mut closing = st.0.closing.subscribe();
    loop {
        if *closing.borrow_and_update() {
            break;
        }
        let frame = tokio::select! {
            f = stream.next() => match f {
                Some(f) => f,
                None => break,
            },
            _ = closing.changed() => continue,
        };
        match frame {
            Ok(Message::Text(t)) => {
                let mut core = st.core();
                let out = {
                    let Core { backend, store, .. } = &mut *core;
                    backend.handle_text(id, t.as_str(), store, now_ms())
                };
                st.apply(&mut core, out);
            }
            Ok(Message::Binary(_)) => {
                let core = st.core();
                if let Some(tx) = core.senders.get(&id) {
                    let _ = tx.send(
                        ServerMessage::Error {
                            error: "Binary frames are not supported: send JSON text".into(),
                        }
                        .to_json(),
                    );
                }
            }
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    {
        let mut core = st.core();
        core.senders.remove(&id);
        let out = core.backend.disconnect(id);
        st.apply(&mut core, out);
    }
    let _ = writer.await;
    tracing::debug!(socket = id, "backend socket closed");
}

// ---- webhook + round-trip auth mock (BE index.js)

async fn webhook(State(st): State<ConferenceState>, body: Bytes) -> Response {
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("Invalid JSON: {e}")).into_response(),
    };
    let (Some(event), Some(guid)) = (
        v.get("event").and_then(Value::as_str),
        v.get("guid").and_then(Value::as_str),
    ) else {
        return (StatusCode::BAD_REQUEST, "event and guid are required").into_response();
    };
    // Only origin/transcoder events count; a missing type means origin.
    let node = v
        .get("clusterNodeType")
        .and_then(Value::as_str)
        .unwrap_or("TYPE_ORIGIN");
    if node == "TYPE_ORIGIN" || node == "TYPE_TRANSCODER" {
        match event {
            "stream-published" => st.stream_published(guid),
            "stream-unpublished" => st.stream_unpublished(guid),
            other => {
                return (StatusCode::BAD_REQUEST, format!("Unknown event {other}")).into_response()
            }
        }
    }
    Json(json!({ "result": true })).into_response()
}

async fn validate_credentials(State(st): State<ConferenceState>, body: Bytes) -> Response {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let field = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let (Some(user), Some(pass), Some(_token)) =
        (field("username"), field("password"), field("token"))
    else {
        return (
            StatusCode::BAD_REQUEST,
            "username, password and token are required",
        )
            .into_response();
    };
    if let Some((u, p)) = &st.0.cfg.round_trip {
        if *u != user || p.expose() != pass {
            return (StatusCode::BAD_REQUEST, "Invalid credentials").into_response();
        }
    }
    Json(json!({ "result": true })).into_response()
}

// ---- SM1 compositions

async fn list_compositions(State(st): State<ConferenceState>, RawQuery(q): RawQuery) -> Response {
    if !st.sm1_token_ok(q.as_deref()) {
        return sm1_unauthorized();
    }
    Json(st.core().store.list()).into_response()
}

async fn create_composition(
    State(st): State<ConferenceState>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    if !st.sm1_token_ok(q.as_deref()) {
        return sm1_unauthorized();
    }
    let c: Composition = match parse_json(&body, "composition") {
        Ok(c) => c,
        Err(e) => return sm1_error(e),
    };
    let mut core = st.core();
    let res = core.store.create(c, now_ms());
    match res {
        Ok((c, events)) => {
            let room = final_mixer_path(&c).unwrap_or_default();
            let mut out = core.backend.compositions_changed(&room, &core.store);
            out.events = events;
            st.apply(&mut core, out);
            (StatusCode::CREATED, Json(c)).into_response()
        }
        Err(e) => sm1_error(e),
    }
}

async fn get_composition(
    State(st): State<ConferenceState>,
    Path(event): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    if !st.sm1_token_ok(q.as_deref()) {
        return sm1_unauthorized();
    }
    match st.core().store.get(&event) {
        Some(c) => Json(c.clone()).into_response(),
        None => sm1_error(ApiError::not_found(format!(
            "No composition for event {event}"
        ))),
    }
}

async fn delete_composition(
    State(st): State<ConferenceState>,
    Path(event): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    if !st.sm1_token_ok(q.as_deref()) {
        return sm1_unauthorized();
    }
    let mut core = st.core();
    let res = core.store.delete(&event);
    match res {
        Ok((c, events)) => {
            let room = final_mixer_path(&c).unwrap_or_default();
            let mut out = core.backend.compositions_changed(&room, &core.store);
            out.events = events;
            st.apply(&mut core, out);
            StatusCode::OK.into_response()
        }
        Err(e) => sm1_error(e),
    }
}

// ---- SM1 conference provisions + join + node groups

fn split_provision_guid(guid: &str) -> Option<(String, String)> {
    let g = guid.trim_matches('/');
    let (ctx, name) = g.rsplit_once('/')?;
    (!ctx.is_empty() && !name.is_empty()).then(|| (ctx.to_owned(), name.to_owned()))
}

fn bad_guid() -> Response {
    sm1_error(ApiError::bad_request(
        "Expected admin/event/meta/<scope>/<room>/<room>",
    ))
}

async fn list_provisions(State(st): State<ConferenceState>, RawQuery(q): RawQuery) -> Response {
    if !st.sm1_token_ok(q.as_deref()) {
        return sm1_unauthorized();
    }
    Json(st.core().store.list_provisions()).into_response()
}

async fn create_provision(
    State(st): State<ConferenceState>,
    Path(guid): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    if !st.sm1_token_ok(q.as_deref()) {
        return sm1_unauthorized();
    }
    let Some((ctx, name)) = split_provision_guid(&guid) else {
        return bad_guid();
    };
    let p: Provision = match parse_json(&body, "provision") {
        Ok(p) => p,
        Err(e) => return sm1_error(e),
    };
    let res = st.core().store.create_provision(&ctx, &name, p, now_ms());
    match res {
        Ok(r) => Json(r).into_response(),
        Err(e) => sm1_error(e),
    }
}

async fn get_provision(
    State(st): State<ConferenceState>,
    Path(guid): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    if !st.sm1_token_ok(q.as_deref()) {
        return sm1_unauthorized();
    }
    let Some((ctx, name)) = split_provision_guid(&guid) else {
        return bad_guid();
    };
    match st.core().store.get_provision(&ctx, &name) {
        Some(p) => Json(p.clone()).into_response(),
        None => sm1_error(ApiError::not_found("Provision not found")),
    }
}

async fn delete_provision(
    State(st): State<ConferenceState>,
    Path(guid): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    if !st.sm1_token_ok(q.as_deref()) {
        return sm1_unauthorized();
    }
    let Some((ctx, name)) = split_provision_guid(&guid) else {
        return bad_guid();
    };
    let res = st.core().store.delete_provision(&ctx, &name);
    match res {
        Ok(p) => Json(p).into_response(),
        Err(e) => sm1_error(e),
    }
}

/// Public like the SM1 event lookups (no accessToken).
async fn join(
    State(st): State<ConferenceState>,
    Path((scope, room)): Path<(String, String)>,
) -> Response {
    match st.core().store.join(&scope, &room) {
        Ok(loc) => Json(loc).into_response(),
        Err(e) => sm1_error(e),
    }
}

async fn node_groups(State(st): State<ConferenceState>, RawQuery(q): RawQuery) -> Response {
    if !st.sm1_token_ok(q.as_deref()) {
        return sm1_unauthorized();
    }
    let ng = NodeGroup {
        name: st.0.cfg.store.node_group.clone(),
        extra: Default::default(),
    };
    Json(vec![ng]).into_response()
}

async fn nodes(
    State(st): State<ConferenceState>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    if !st.sm1_token_ok(q.as_deref()) {
        return sm1_unauthorized();
    }
    let cfg = &st.0.cfg.store;
    if name != cfg.node_group {
        return sm1_error(ApiError::not_found(format!("Node group not found: {name}")));
    }
    // This one process is both the origin and the mixer node of the group.
    let node = |role: &str| Node {
        role: role.into(),
        availability_zone: Some(cfg.region.clone()),
        address: Some(cfg.server_address.clone()),
        state: Some("inservice".into()),
        extra: Default::default(),
    };
    Json(vec![node("origin"), node("mixer")]).into_response()
}

// ---- SM2 Brew mixer

async fn brew_list(
    State(st): State<ConferenceState>,
    Path(ng): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !st.bearer_ok(&headers) {
        return sm2_error(ApiError::unauthorized("A valid Bearer token is required"));
    }
    let core = st.core();
    match core.store.brew_list(&ng) {
        Ok(list) => Json(list.iter().map(|e| e.to_json()).collect::<Vec<_>>()).into_response(),
        Err(e) => sm2_error(e),
    }
}

async fn brew_create(
    State(st): State<ConferenceState>,
    Path(ng): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !st.bearer_ok(&headers) {
        return sm2_error(ApiError::unauthorized("A valid Bearer token is required"));
    }
    let m: BrewMixer = match parse_json(&body, "Brew mixer") {
        Ok(m) => m,
        Err(e) => return sm2_error(e),
    };
    let mut core = st.core();
    let res = core.store.brew_create(&ng, m);
    match res {
        Ok((e, events)) => {
            st.apply(
                &mut core,
                Output {
                    send: vec![],
                    events,
                },
            );
            (StatusCode::CREATED, Json(e.to_json())).into_response()
        }
        Err(e) => sm2_error(e),
    }
}

async fn brew_get(
    State(st): State<ConferenceState>,
    Path((ng, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if !st.bearer_ok(&headers) {
        return sm2_error(ApiError::unauthorized("A valid Bearer token is required"));
    }
    match st.core().store.brew_get(&ng, &id) {
        Ok(e) => Json(e.to_json()).into_response(),
        Err(e) => sm2_error(e),
    }
}

async fn brew_update(
    State(st): State<ConferenceState>,
    Path((ng, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !st.bearer_ok(&headers) {
        return sm2_error(ApiError::unauthorized("A valid Bearer token is required"));
    }
    let trees: Vec<RenderTree> = match parse_json(&body, "array of render trees") {
        Ok(t) => t,
        Err(e) => return sm2_error(e),
    };
    let mut core = st.core();
    let res = core.store.brew_update(&ng, &id, trees);
    match res {
        Ok((e, events)) => {
            st.apply(
                &mut core,
                Output {
                    send: vec![],
                    events,
                },
            );
            Json(e.to_json()).into_response()
        }
        Err(e) => sm2_error(e),
    }
}

async fn brew_delete(
    State(st): State<ConferenceState>,
    Path((ng, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if !st.bearer_ok(&headers) {
        return sm2_error(ApiError::unauthorized("A valid Bearer token is required"));
    }
    let mut core = st.core();
    let res = core.store.brew_delete(&ng, &id);
    match res {
        Ok((_, events)) => {
            st.apply(
                &mut core,
                Output {
                    send: vec![],
                    events,
                },
            );
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => sm2_error(e),
    }
}
