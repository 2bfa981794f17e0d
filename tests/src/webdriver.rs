//! A small W3C WebDriver client (the subset tauri-driver + WebKitWebDriver support), blocking, over
//! plain HTTP on 127.0.0.1.

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

/// W3C element reference key.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// WebDriver special keys (W3C §17.4.2).
pub mod keys {
    pub const NULL: char = '\u{E000}';
    pub const ENTER: char = '\u{E007}';
    pub const CONTROL: char = '\u{E009}';
    pub const TAB: char = '\u{E004}';
    pub const HOME: char = '\u{E011}';
    pub const END: char = '\u{E010}';
    pub const ARROW_UP: char = '\u{E013}';
    pub const ARROW_DOWN: char = '\u{E015}';
}

#[derive(Debug, thiserror::Error)]
pub enum WdError {
    #[error("HTTP request to the WebDriver server failed: {0}")]
    Http(String),
    #[error("WebDriver error {status} {error}: {message}")]
    Driver {
        status: u16,
        error: String,
        message: String,
    },
    #[error("unexpected WebDriver reply: {0}")]
    Protocol(String),
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, String),
}

pub type Result<T> = std::result::Result<T, WdError>;

#[derive(Clone)]
pub struct Client {
    base: String,
    agent: ureq::Agent,
}

impl Client {
    pub fn new(port: u16) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        Self {
            base: format!("http://127.0.0.1:{port}"),
            agent,
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let url = format!("{}{}", self.base, path);
        let resp = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, Some(b)) => self.agent.post(&url).send_json(&b),
            (_, None) => self.agent.post(&url).send_json(json!({})),
        };
        let mut resp = resp.map_err(|e| WdError::Http(format!("{method} {path}: {e}")))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| WdError::Http(format!("{method} {path}: reading reply: {e}")))?;
        let v: Value = if text.trim().is_empty() {
            json!({ "value": null })
        } else {
            serde_json::from_str(&text).map_err(|e| WdError::Protocol(format!("{e}: {text}")))?
        };
        if status >= 400 {
            let val = &v["value"];
            return Err(WdError::Driver {
                status,
                error: val["error"].as_str().unwrap_or("unknown error").to_owned(),
                message: val["message"].as_str().unwrap_or(&text).to_owned(),
            });
        }
        Ok(v["value"].clone())
    }

    /// True once the server answers `/status`.
    pub fn is_up(&self) -> bool {
        self.call("GET", "/status", None).is_ok()
    }

    /// Starts a session that launches `application` (tauri-driver's `tauri:options`).
    pub fn new_session(&self, application: &std::path::Path) -> Result<Session> {
        let caps = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "wry",
                "tauri:options": { "application": application.to_string_lossy() }
            }}
        });
        let v = self.call("POST", "/session", Some(caps))?;
        let id = v["sessionId"]
            .as_str()
            .ok_or_else(|| WdError::Protocol(format!("no sessionId in {v}")))?
            .to_owned();
        let s = Session {
            client: self.clone(),
            id,
        };
        // Element lookups wait up to 5 s on the driver side for the element to appear.
        s.post("/timeouts", json!({ "implicit": 5000, "script": 30000 }))?;
        Ok(s)
    }
}

pub struct Session {
    client: Client,
    id: String,
}

#[derive(Clone)]
pub struct Element<'s> {
    session: &'s Session,
    id: String,
}

impl Session {
    fn post(&self, path: &str, body: Value) -> Result<Value> {
        self.client
            .call("POST", &format!("/session/{}{path}", self.id), Some(body))
    }

    fn get(&self, path: &str) -> Result<Value> {
        self.client
            .call("GET", &format!("/session/{}{path}", self.id), None)
    }

    pub fn title(&self) -> Result<String> {
        Ok(self.get("/title")?.as_str().unwrap_or_default().to_owned())
    }

    pub fn find(&self, css: &str) -> Result<Element<'_>> {
        let v = self.post("/element", json!({ "using": "css selector", "value": css }))?;
        self.element_from(&v)
    }

    pub fn find_all(&self, css: &str) -> Result<Vec<Element<'_>>> {
        let v = self.post(
            "/elements",
            json!({ "using": "css selector", "value": css }),
        )?;
        v.as_array()
            .ok_or_else(|| WdError::Protocol(format!("expected an array, got {v}")))?
            .iter()
            .map(|e| self.element_from(e))
            .collect()
    }

    fn element_from(&self, v: &Value) -> Result<Element<'_>> {
        let id = v[ELEMENT_KEY]
            .as_str()
            .ok_or_else(|| WdError::Protocol(format!("not an element reference: {v}")))?;
        Ok(Element {
            session: self,
            id: id.to_owned(),
        })
    }

    /// Runs a synchronous script (`return …;`) in the page.
    pub fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        self.post("/execute/sync", json!({ "script": script, "args": args }))
    }

    /// Runs `return <expr>` until it is truthy. The page updates asynchronously (IPC round trips),
    /// so tests wait on the condition they need, with a deadline, never a fixed sleep.
    pub fn wait_until(&self, what: &str, expr: &str, timeout: Duration) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        let script = format!("return ({expr});");
        loop {
            let v = self.execute(&script, vec![])?;
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::String(s) => !s.is_empty(),
                Value::Number(n) => n.as_f64() != Some(0.0),
                _ => true,
            };
            if truthy {
                return Ok(v);
            }
            if Instant::now() >= deadline {
                return Err(WdError::Timeout(
                    timeout,
                    format!("{what} (`{expr}` was {v})"),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs an async script; it finishes by calling `arguments[arguments.length - 1](value)`.
    pub fn execute_async(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        self.post("/execute/async", json!({ "script": script, "args": args }))
    }

    /// PNG of the window's web content, after the page has painted its latest DOM changes
    /// (WebKit's snapshot does not force a pending frame).
    pub fn screenshot(&self) -> Result<Vec<u8>> {
        self.execute_async(
            "const done = arguments[arguments.length - 1]; \
             requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
            vec![],
        )?;
        let v = self.get("/screenshot")?;
        let b64 = v
            .as_str()
            .ok_or_else(|| WdError::Protocol("screenshot is not a string".into()))?;
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| WdError::Protocol(format!("screenshot base64: {e}")))
    }

    /// The element that has keyboard focus.
    pub fn active_element(&self) -> Result<Element<'_>> {
        let v = self.get("/element/active")?;
        self.element_from(&v)
    }

    /// Ends the session; tauri-driver closes the app.
    pub fn close(self) -> Result<()> {
        self.client
            .call("DELETE", &format!("/session/{}", self.id), None)
            .map(|_| ())
    }
}

impl Element<'_> {
    fn path(&self, tail: &str) -> String {
        format!("/element/{}{tail}", self.id)
    }

    pub fn click(&self) -> Result<()> {
        self.session
            .post(&self.path("/click"), json!({}))
            .map(|_| ())
    }

    pub fn clear(&self) -> Result<()> {
        self.session
            .post(&self.path("/clear"), json!({}))
            .map(|_| ())
    }

    /// Types into the element (it gets focus first). Special keys from [`keys`] may be mixed in.
    pub fn send_keys(&self, text: &str) -> Result<()> {
        self.session
            .post(&self.path("/value"), json!({ "text": text }))
            .map(|_| ())
    }

    /// The rendered text (`innerText`). WebKitWebDriver's own "Get Element Text" returns "" for some
    /// visible inline elements (e.g. a span inside a flex button), so this asks the page directly.
    pub fn text(&self) -> Result<String> {
        let v = self
            .session
            .execute("return arguments[0].innerText;", vec![self.as_arg()])?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    /// The element as a script argument.
    pub fn as_arg(&self) -> Value {
        json!({ ELEMENT_KEY: self.id })
    }

    /// A DOM property (`value`, `checked`, …) as JSON.
    pub fn property(&self, name: &str) -> Result<Value> {
        self.session.get(&self.path(&format!("/property/{name}")))
    }

    pub fn attribute(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .session
            .get(&self.path(&format!("/attribute/{name}")))?
            .as_str()
            .map(str::to_owned))
    }

    pub fn is_displayed(&self) -> Result<bool> {
        Ok(self
            .session
            .get(&self.path("/displayed"))?
            .as_bool()
            .unwrap_or(false))
    }
}
