//! The local control socket of a running `publish`: `send-metadata` (or any script) connects to
//! it and asks the live session to `send()` a message. Only the publisher of a Red5 stream can
//! send metadata to it, so this is how a second terminal reaches the one that publishes.
//!
//! Protocol: one JSON object per line each way. Requests: `{"method": "onMetaData", "data": {…}}`
//! (a `send()`), or `{"command": "mute-audio" | "unmute-audio" | "mute-video" | "unmute-video" |
//! "stop"}`, or `{"command": "bitrate", "value": <kbps>}`. Reply `{"ok": true}` or
//! `{"ok": false, "error": "<sentence>"}`. The socket lives in
//! `<config dir>/run/<stream>.sock` (mode 0600) unless `--control` names another path.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::CliError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// A `send()` method (with `data`); empty when `command` is given.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub method: String,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub data: Value,
    /// A session control instead of a message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

impl Request {
    pub fn send(method: impl Into<String>, data: Value) -> Request {
        Request {
            method: method.into(),
            data,
            command: None,
            value: None,
        }
    }

    pub fn command(command: impl Into<String>, value: Option<Value>) -> Request {
        Request {
            method: String::new(),
            data: Value::Null,
            command: Some(command.into()),
            value,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Where `publish <stream>` listens by default. The stream name is made file-name safe.
pub fn default_path(config_dir: &Path, stream: &str) -> PathBuf {
    let safe: String = stream
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    config_dir.join("run").join(format!("{safe}.sock"))
}

/// A request from a client, with the way back.
pub struct Incoming {
    pub request: Request,
    pub reply: tokio::sync::oneshot::Sender<Reply>,
}

#[cfg(unix)]
mod imp {
    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::{UnixListener, UnixStream};
    use tokio::sync::{mpsc, oneshot};

    /// The listening side, owned by `publish`; removes its socket file when dropped.
    pub struct ControlServer {
        path: PathBuf,
        task: tokio::task::JoinHandle<()>,
    }

    impl ControlServer {
        /// Listens at `path`. A leftover file from a crashed run is replaced; a live one means
        /// another `publish` owns the name.
        pub async fn bind(
            path: &Path,
        ) -> Result<(ControlServer, mpsc::Receiver<Incoming>), CliError> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    CliError::Control(format!(
                        "could not create the folder for the control socket {}: {e}",
                        dir.display()
                    ))
                })?;
            }
            if path.exists() {
                if UnixStream::connect(path).await.is_ok() {
                    return Err(CliError::Control(format!(
                        "another publish is already using the control socket {} \
                         (choose another with --control PATH, or --no-control)",
                        path.display()
                    )));
                }
                let _ = std::fs::remove_file(path);
            }
            let listener = UnixListener::bind(path).map_err(|e| {
                CliError::Control(format!(
                    "could not open the control socket {}: {e}",
                    path.display()
                ))
            })?;
            {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
            }
            let (tx, rx) = mpsc::channel(16);
            let task = tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(serve(stream, tx.clone()));
                }
            });
            Ok((
                ControlServer {
                    path: path.to_owned(),
                    task,
                },
                rx,
            ))
        }

        pub fn path(&self) -> &Path {
            &self.path
        }
    }

    impl Drop for ControlServer {
        fn drop(&mut self) {
            self.task.abort();
            let _ = std::fs::remove_file(&self.path);
        }
    }

    async fn serve(stream: UnixStream, tx: mpsc::Sender<Incoming>) {
        let (r, mut w) = stream.into_split();
        let mut lines = BufReader::new(r).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if line.trim().is_empty() {
                continue;
            }
            let reply = match serde_json::from_str::<Request>(&line) {
                Err(e) => Reply {
                    ok: false,
                    error: Some(format!("not a control request ({e})")),
                },
                Ok(request) => {
                    let (rtx, rrx) = oneshot::channel();
                    if tx
                        .send(Incoming {
                            request,
                            reply: rtx,
                        })
                        .await
                        .is_err()
                    {
                        break;
                    }
                    rrx.await.unwrap_or(Reply {
                        ok: false,
                        error: Some("the publish session has ended".into()),
                    })
                }
            };
            let Ok(mut text) = serde_json::to_string(&reply) else {
                break;
            };
            text.push('\n');
            if w.write_all(text.as_bytes()).await.is_err() {
                break;
            }
        }
    }

    /// Client side: one request, one reply.
    pub async fn request(path: &Path, req: &Request) -> Result<Reply, CliError> {
        let stream = UnixStream::connect(path).await.map_err(|e| {
            let why = match e.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                    "no `publish` of that stream is running on this machine".to_owned()
                }
                _ => e.to_string(),
            };
            CliError::Control(format!(
                "could not reach the publish session at {}: {why}. Start one with \
                 `red5-desk-cli publish <stream>` (or pass its --control path)",
                path.display()
            ))
        })?;
        let (r, mut w) = stream.into_split();
        let mut text = serde_json::to_string(req)?;
        text.push('\n');
        w.write_all(text.as_bytes()).await?;
        let line = BufReader::new(r)
            .lines()
            .next_line()
            .await?
            .ok_or_else(|| {
                CliError::Control(
                    "the publish session closed the control socket without answering".into(),
                )
            })?;
        serde_json::from_str(&line).map_err(|e| {
            CliError::Control(format!(
                "the publish session answered something unexpected ({e})"
            ))
        })
    }
}

#[cfg(unix)]
pub use imp::{request, ControlServer};

#[cfg(not(unix))]
mod imp {
    use super::*;
    use tokio::sync::mpsc;

    const UNSUPPORTED: &str = "the control socket needs a Unix system (Linux or macOS); \
                               use `publish --metadata/--metadata-every` instead";

    pub struct ControlServer;

    impl ControlServer {
        pub async fn bind(_: &Path) -> Result<(ControlServer, mpsc::Receiver<Incoming>), CliError> {
            Err(CliError::Control(UNSUPPORTED.into()))
        }
        pub fn path(&self) -> &Path {
            Path::new("")
        }
    }

    pub async fn request(_: &Path, _: &Request) -> Result<Reply, CliError> {
        Err(CliError::Control(UNSUPPORTED.into()))
    }
}

#[cfg(not(unix))]
pub use imp::{request, ControlServer};

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_become_safe_file_names() {
        let p = default_path(Path::new("/c"), "room 1/../x");
        assert_eq!(p, Path::new("/c/run/room_1_.._x.sock"));
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn request_reply_round_trip_and_stale_socket_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/s.sock");
        // A stale file from a crashed run does not block binding.
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"").unwrap();
        let (server, mut rx) = ControlServer::bind(&path).await.unwrap();
        let answer = tokio::spawn(async move {
            let inc = rx.recv().await.unwrap();
            assert_eq!(inc.request.method, "onMetaData");
            inc.reply
                .send(Reply {
                    ok: true,
                    error: None,
                })
                .unwrap();
        });
        let req = Request::send("onMetaData", serde_json::json!({"metadata": "x"}));
        let reply = request(&path, &req).await.unwrap();
        assert!(reply.ok);
        answer.await.unwrap();
        // A second server on the same live path is refused.
        let e = ControlServer::bind(&path).await.err().unwrap();
        assert!(e.to_string().contains("already using"), "{e}");
        drop(server);
        assert!(!path.exists(), "socket file removed on drop");
        let e = request(&path, &req).await.unwrap_err();
        assert!(e.to_string().contains("no `publish` of that stream"), "{e}");
    }
}
