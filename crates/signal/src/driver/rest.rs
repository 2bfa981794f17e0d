//! Stream Manager REST clients (reqwest + rustls): SM2 (`/as/v1`, JWT) and SM1
//! (`/streammanager/api/4.0`, `accessToken`). Errors carry the server's own message.

use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::RwLock;

use super::http::describe_reqwest;
use super::tls;
use crate::error::{Error, Result};
use crate::rest::{self, sm1, sm2};
use crate::urls::{self, Lookup};
use crate::Secret;

async fn send(what: &'static str, b: reqwest::RequestBuilder) -> Result<(u16, String)> {
    let (client, req) = b.build_split();
    let req = req.map_err(|e| Error::InvalidUrl {
        url: String::new(),
        reason: e.to_string(),
    })?;
    // Query strings may hold `accessToken`: never put them in an error text.
    let mut shown = req.url().clone();
    shown.set_query(None);
    let resp = client.execute(req).await.map_err(|e| Error::Connect {
        url: shown.to_string(),
        reason: format!("{what}: {}", describe_reqwest(&e)),
    })?;
    let status = resp.status().as_u16();
    let body = resp
        .text()
        .await
        .map_err(|e| Error::Transport(describe_reqwest(&e)))?;
    Ok((status, body))
}

/// Maps a non-2xx status to a typed error (401 → [`Error::Unauthorized`]).
fn check(what: &'static str, status: u16, body: &str) -> Result<()> {
    if (200..300).contains(&status) {
        return Ok(());
    }
    let server_message = rest::error_message(body);
    if status == 401 || status == 403 {
        return Err(Error::Unauthorized { server_message });
    }
    let meaning = match status {
        400 => "the request was refused (bad parameters, or the stream is not publishing)",
        404 => "not found (no such node group, stream, event or composition, or no server could be found)",
        409 => "it already exists",
        500 => "the Stream Manager failed",
        503 => "no capacity (publisher/subscriber limit reached)",
        _ => "unexpected status",
    };
    Err(Error::Http {
        what,
        status,
        meaning: meaning.into(),
        server_message,
    })
}

fn parse<T: DeserializeOwned>(what: &'static str, body: &str) -> Result<T> {
    serde_json::from_str(body).map_err(|e| Error::BadResponse {
        what,
        reason: e.to_string(),
    })
}

// ================================================================================================
// SM2
// ================================================================================================

/// Stream Manager 2.0 client. Log in once; the JWT is then sent as `Authorization: Bearer`.
#[derive(Debug)]
pub struct Sm2Client {
    base: String,
    http: reqwest::Client,
    token: RwLock<Option<Secret>>,
}

impl Sm2Client {
    pub fn new(base: impl Into<String>) -> Result<Self> {
        Self::with_tls(base, &tls::TlsOptions::default())
    }

    /// As [`Sm2Client::new`], trusting extra certificates (or none).
    pub fn with_tls(base: impl Into<String>, tls_opts: &tls::TlsOptions) -> Result<Self> {
        Ok(Sm2Client {
            base: base.into(),
            http: tls::http_client_with(tls_opts)?,
            token: RwLock::new(None),
        })
    }

    /// Uses an existing JWT.
    pub async fn set_token(&self, token: Secret) {
        *self.token.write().await = Some(token);
    }

    /// `PUT /as/v1/auth/login` with Basic auth → JWT (kept for later calls and returned).
    pub async fn login(&self, username: &str, password: &Secret) -> Result<Secret> {
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{username}:{}", password.expose()));
        let b = self
            .http
            .put(urls::sm2_login(&self.base))
            .header(reqwest::header::AUTHORIZATION, format!("Basic {basic}"))
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        let (status, body) = send("logging in to the Stream Manager", b).await?;
        check("logging in to the Stream Manager", status, &body)?;
        let l: sm2::LoginResponse = parse("logging in to the Stream Manager", &body)?;
        if l.token.is_empty() {
            return Err(Error::BadResponse {
                what: "logging in to the Stream Manager",
                reason: "empty token".into(),
            });
        }
        *self.token.write().await = Some(l.token.clone());
        Ok(l.token)
    }

    async fn authed(&self, b: reqwest::RequestBuilder) -> Result<reqwest::RequestBuilder> {
        match self.token.read().await.as_ref() {
            Some(t) => Ok(b.header(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {}", t.expose()),
            )),
            None => Err(Error::Unauthorized {
                server_message: Some("not logged in to the Stream Manager".into()),
            }),
        }
    }

    /// `GET /as/v1/streams/stream/<ng>/publish|subscribe/<ctx>/<stream>` (no auth needed) → nodes,
    /// first one to use first.
    pub async fn lookup(
        &self,
        node_group: &str,
        direction: sm2::Direction,
        context: &str,
        stream: &str,
        l: &Lookup,
    ) -> Result<Vec<sm2::StreamLocation>> {
        let what = "looking up a server in the Stream Manager";
        let (status, body) = send(
            what,
            self.http.get(urls::sm2_stream(
                &self.base, node_group, direction, context, stream, l,
            )),
        )
        .await?;
        check(what, status, &body)?;
        let v: Vec<sm2::StreamLocation> = rest::one_or_many(what, &body)?;
        if v.is_empty() {
            return Err(Error::BadResponse {
                what,
                reason: "no server in the answer".into(),
            });
        }
        Ok(v)
    }

    /// `POST /as/v1/streams/provision/<ng>` (409 = already provisioned → `Ok(false)`).
    pub async fn provision(&self, node_group: &str, provisions: &[sm2::Provision]) -> Result<bool> {
        let what = "creating a stream provision";
        let b = self
            .authed(
                self.http
                    .post(urls::sm2_provision(&self.base, node_group))
                    .json(provisions),
            )
            .await?;
        let (status, body) = send(what, b).await?;
        if status == 409 {
            return Ok(false);
        }
        check(what, status, &body)?;
        Ok(true)
    }

    async fn mixer_call<B: Serialize + ?Sized>(
        &self,
        what: &'static str,
        method: reqwest::Method,
        node_group: &str,
        event: Option<&str>,
        body: Option<&B>,
    ) -> Result<String> {
        let mut b = self
            .http
            .request(method, urls::sm2_mixer(&self.base, node_group, event));
        if let Some(body) = body {
            b = b.json(body);
        }
        let (status, text) = send(what, self.authed(b).await?).await?;
        check(what, status, &text)?;
        Ok(text)
    }

    /// `POST /as/v1/streams/mixer/<ng>`.
    pub async fn create_mixer(
        &self,
        node_group: &str,
        m: &sm2::BrewMixer,
    ) -> Result<serde_json::Value> {
        let t = self
            .mixer_call(
                "creating a Brew mixer",
                reqwest::Method::POST,
                node_group,
                None,
                Some(m),
            )
            .await?;
        Ok(serde_json::from_str(&t).unwrap_or(serde_json::Value::Null))
    }

    /// `GET /as/v1/streams/mixer/<ng>` (all) — kept as JSON: the list schema is the mixer's.
    pub async fn list_mixers(&self, node_group: &str) -> Result<serde_json::Value> {
        let t = self
            .mixer_call::<()>(
                "listing Brew mixers",
                reqwest::Method::GET,
                node_group,
                None,
                None,
            )
            .await?;
        parse("listing Brew mixers", &t)
    }

    /// `GET /as/v1/streams/mixer/<ng>/<eventId>`.
    pub async fn get_mixer(&self, node_group: &str, event_id: &str) -> Result<serde_json::Value> {
        let t = self
            .mixer_call::<()>(
                "reading a Brew mixer",
                reqwest::Method::GET,
                node_group,
                Some(event_id),
                None,
            )
            .await?;
        parse("reading a Brew mixer", &t)
    }

    /// `PUT /as/v1/streams/mixer/<ng>/<eventId>` with render trees.
    pub async fn update_mixer(
        &self,
        node_group: &str,
        event_id: &str,
        trees: &[sm2::RenderTree],
    ) -> Result<()> {
        self.mixer_call(
            "updating a Brew mixer",
            reqwest::Method::PUT,
            node_group,
            Some(event_id),
            Some(trees),
        )
        .await?;
        Ok(())
    }

    /// `DELETE /as/v1/streams/mixer/<ng>/<eventId>`.
    pub async fn delete_mixer(&self, node_group: &str, event_id: &str) -> Result<()> {
        self.mixer_call::<()>(
            "deleting a Brew mixer",
            reqwest::Method::DELETE,
            node_group,
            Some(event_id),
            None,
        )
        .await?;
        Ok(())
    }
}

// ================================================================================================
// SM1
// ================================================================================================

/// Stream Manager 1.x client (`accessToken` query parameter for admin calls).
#[derive(Debug, Clone)]
pub struct Sm1Client {
    base: String,
    http: reqwest::Client,
    access_token: Secret,
}

impl Sm1Client {
    pub fn new(base: impl Into<String>, access_token: Secret) -> Result<Self> {
        Self::with_tls(base, access_token, &tls::TlsOptions::default())
    }

    /// As [`Sm1Client::new`], trusting extra certificates (or none).
    pub fn with_tls(
        base: impl Into<String>,
        access_token: Secret,
        tls_opts: &tls::TlsOptions,
    ) -> Result<Self> {
        Ok(Sm1Client {
            base: base.into(),
            http: tls::http_client_with(tls_opts)?,
            access_token,
        })
    }

    async fn get<T: DeserializeOwned>(&self, what: &'static str, url: String) -> Result<T> {
        let (status, body) = send(what, self.http.get(url)).await?;
        check(what, status, &body)?;
        parse(what, &body)
    }

    /// `GET …/event/<ctx>/<stream>?action=broadcast|subscribe[&region][&strict]` → the node(s).
    pub async fn lookup(
        &self,
        context: &str,
        stream: &str,
        action: sm1::Action,
        l: &Lookup,
    ) -> Result<Vec<sm1::EventLocation>> {
        let what = "looking up a server in the Stream Manager";
        let (status, body) = send(
            what,
            self.http
                .get(urls::sm1_event(&self.base, context, stream, action, l)),
        )
        .await?;
        check(what, status, &body)?;
        rest::one_or_many(what, &body)
    }

    /// `GET …/event/<scope>/<room>/join` → the conference node.
    pub async fn join(&self, scope: &str, room: &str, l: &Lookup) -> Result<sm1::EventLocation> {
        self.get(
            "finding the conference server",
            urls::sm1_join(&self.base, scope, room, l),
        )
        .await
    }

    /// `POST …/admin/event/meta/<ctx>/<name>`; "Provision already exists" → `Ok(None)`.
    pub async fn provision(
        &self,
        context: &str,
        name: &str,
        p: &sm1::Provision,
    ) -> Result<Option<sm1::ProvisionResponse>> {
        let what = "creating the conference provision";
        let url = urls::sm1_event_meta(&self.base, context, name, self.access_token.expose());
        let (status, body) = send(what, self.http.post(url).json(p)).await?;
        if !(200..300).contains(&status)
            && rest::error_message(&body)
                .is_some_and(|m| m.to_ascii_lowercase().contains("already exists"))
        {
            return Ok(None);
        }
        check(what, status, &body)?;
        parse(what, &body).map(Some)
    }

    /// `DELETE …/admin/event/meta/<ctx>/<name>`.
    pub async fn delete_provision(&self, context: &str, name: &str) -> Result<()> {
        let what = "deleting the conference provision";
        let url = urls::sm1_event_meta(&self.base, context, name, self.access_token.expose());
        let (status, body) = send(what, self.http.delete(url)).await?;
        check(what, status, &body)
    }

    /// `POST …/composition`.
    pub async fn create_composition(&self, c: &sm1::Composition) -> Result<sm1::Composition> {
        let what = "creating the composition";
        let url = urls::sm1_composition(&self.base, None, self.access_token.expose());
        let (status, body) = send(what, self.http.post(url).json(c)).await?;
        check(what, status, &body)?;
        parse(what, &body)
    }

    /// `GET …/composition` → event names.
    pub async fn list_compositions(&self) -> Result<Vec<String>> {
        self.get(
            "listing compositions",
            urls::sm1_composition(&self.base, None, self.access_token.expose()),
        )
        .await
    }

    /// `GET …/composition/<event>`.
    pub async fn get_composition(&self, event: &str) -> Result<sm1::Composition> {
        self.get(
            "reading the composition",
            urls::sm1_composition(&self.base, Some(event), self.access_token.expose()),
        )
        .await
    }

    /// `DELETE …/composition/<event>`.
    pub async fn delete_composition(&self, event: &str) -> Result<()> {
        let what = "deleting the composition";
        let url = urls::sm1_composition(&self.base, Some(event), self.access_token.expose());
        let (status, body) = send(what, self.http.delete(url)).await?;
        check(what, status, &body)
    }

    /// `GET …/admin/nodegroup`.
    pub async fn node_groups(&self) -> Result<Vec<sm1::NodeGroup>> {
        self.get(
            "listing node groups",
            urls::sm1_nodegroups(&self.base, None, self.access_token.expose()),
        )
        .await
    }

    /// `GET …/admin/nodegroup/<name>/node`.
    pub async fn nodes(&self, group: &str) -> Result<Vec<sm1::Node>> {
        self.get(
            "listing nodes",
            urls::sm1_nodegroups(&self.base, Some(group), self.access_token.expose()),
        )
        .await
    }

    /// Mixer regions: `availabilityZone` of every `role=="mixer"` node of every group (sorted, unique).
    pub async fn mixer_regions(&self) -> Result<Vec<String>> {
        let mut regions = Vec::new();
        for g in self.node_groups().await? {
            for n in self.nodes(&g.name).await? {
                if n.role.eq_ignore_ascii_case("mixer") {
                    if let Some(z) = n.availability_zone {
                        regions.push(z);
                    }
                }
            }
        }
        regions.sort();
        regions.dedup();
        Ok(regions)
    }
}
