//! `tracing` setup shared by the desktop app and the CLI: human-readable lines to stderr and to a daily
//! rolling file in the app log dir, both passed through [`redact`](crate::redact::redact).
//!
//! Redaction sits in the writer, after formatting, so it sees exactly the bytes that would reach the
//! terminal or the file — messages, fields, spans and error chains alike. ANSI colours are off because
//! escape codes between a field name and its value would hide `token=` from the patterns.

use std::io::{self, Write};
use std::path::PathBuf;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{Builder as RollingBuilder, Rotation};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::redact::redact;
use crate::ConfigError;

/// Env var with an `EnvFilter` directive (e.g. `debug`, `red5_session=trace`); `RUST_LOG` is the fallback.
pub const LOG_FILTER_ENV: &str = "RED5_DESK_LOG";

#[derive(Clone, Debug)]
pub struct LogOptions {
    /// File name prefix: `<prefix>.<date>.log`.
    pub file_prefix: String,
    /// Where the rolling file goes; `None` = stderr only.
    pub dir: Option<PathBuf>,
    /// Filter used when neither env var is set.
    pub default_filter: String,
    /// Daily files kept.
    pub keep_files: usize,
}

impl LogOptions {
    /// stderr + `<log dir>/<prefix>.<date>.log`, `info` by default.
    pub fn new(file_prefix: &str, dir: Option<PathBuf>) -> Self {
        Self {
            file_prefix: file_prefix.to_owned(),
            dir,
            default_filter: "info".to_owned(),
            keep_files: 7,
        }
    }
}

/// Keeps the file writer alive; drop it last (it flushes buffered lines).
#[must_use = "dropping the guard stops file logging"]
pub struct LogGuard {
    _file: Option<WorkerGuard>,
    /// Where the log file is written, if anywhere.
    pub file_dir: Option<PathBuf>,
}

/// Installs the global subscriber writing to the real stderr.
pub fn init(opts: &LogOptions) -> Result<LogGuard, ConfigError> {
    let (subscriber, guard) = build(opts, io::stderr)?;
    subscriber
        .try_init()
        .map_err(|e| ConfigError::Logging(e.to_string()))?;
    Ok(guard)
}

/// The subscriber [`init`] installs, with a chosen stderr writer (tests capture it).
pub fn build<W>(
    opts: &LogOptions,
    stderr: W,
) -> Result<(impl tracing::Subscriber + Send + Sync + 'static, LogGuard), ConfigError>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = || {
        std::env::var(LOG_FILTER_ENV)
            .or_else(|_| std::env::var("RUST_LOG"))
            .ok()
            .and_then(|f| EnvFilter::try_new(f).ok())
            .unwrap_or_else(|| EnvFilter::new(&opts.default_filter))
    };
    let stderr_layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_target(true)
        .with_writer(Redacting(stderr))
        .with_filter(filter());

    let (file_layer, guard) = match &opts.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| ConfigError::io("create the log folder", dir, e))?;
            let appender = RollingBuilder::new()
                .rotation(Rotation::DAILY)
                .filename_prefix(&opts.file_prefix)
                .filename_suffix("log")
                .max_log_files(opts.keep_files.max(1))
                .build(dir)
                .map_err(|e| ConfigError::Logging(format!("log file in {}: {e}", dir.display())))?;
            let (writer, guard) = tracing_appender::non_blocking(appender);
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(Redacting(writer))
                .with_filter(filter());
            (Some(layer), Some(guard))
        }
        None => (None, None),
    };

    let subscriber = Registry::default().with(stderr_layer).with(file_layer);
    Ok((
        subscriber,
        LogGuard {
            _file: guard,
            file_dir: opts.dir.clone(),
        },
    ))
}

/// A `MakeWriter` whose writers redact each formatted event before passing it on.
#[derive(Clone, Debug)]
pub struct Redacting<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Redacting<M> {
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter {
            inner: self.0.make_writer(),
            buf: Vec::new(),
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        RedactingWriter {
            inner: self.0.make_writer_for(meta),
            buf: Vec::new(),
        }
    }
}

/// Buffers one event (the fmt layer makes one writer per event) and writes it redacted on flush/drop.
pub struct RedactingWriter<W: Write> {
    inner: W,
    buf: Vec<u8>,
}

impl<W: Write> RedactingWriter<W> {
    fn emit(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&self.buf);
        let res = self.inner.write_all(redact(&text).as_bytes());
        self.buf.clear();
        res
    }
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.emit()?;
        self.inner.flush()
    }
}

impl<W: Write> Drop for RedactingWriter<W> {
    fn drop(&mut self) {
        let _ = self.emit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::sync::{Arc, Mutex};

    const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlLXZhbHVl";
    const SECRETS: [&str; 6] = [
        "tok-AAA111",
        "pw-BBB222",
        "at-CCC333",
        "bearer-DDD444",
        "YWRtaW46RUVFNTU1",
        JWT,
    ];

    /// Logs every kind of secret the redactor knows about, through messages and fields.
    fn emit_secrets() {
        let [tok, pw, at, bearer, basic, jwt] = SECRETS;
        tracing::info!("connecting to wss://sm.example.com/live?id=s1&token={tok}");
        tracing::warn!(password = pw, user = "admin", "login attempt");
        tracing::info!(url = %format!("https://sm/streammanager/api/4.0/admin/debug?accessToken={at}"), "GET");
        tracing::debug!("headers: Authorization: Bearer {bearer}");
        tracing::error!("request failed; sent Authorization: Basic {basic}");
        tracing::info!(reply = %format!(r#"{{"token":"{jwt}"}}"#), "login ok, got {jwt}");
        tracing::info!("marker-line-end");
    }

    fn assert_clean(what: &str, text: &str) {
        assert!(
            text.contains("marker-line-end"),
            "{what} did not receive the log lines:\n{text}"
        );
        assert!(
            text.contains("login attempt") && text.contains("user=\"admin\""),
            "{what}: {text}"
        );
        for s in SECRETS {
            assert!(!text.contains(s), "{what} leaked {s}:\n{text}");
        }
        assert!(!text.contains("eyJ"), "{what} leaked a JWT:\n{text}");
        assert!(
            text.contains("token=***") && text.contains("accessToken=***"),
            "{what}: {text}"
        );
    }

    fn read_logs(dir: &std::path::Path) -> String {
        let mut all = String::new();
        for e in std::fs::read_dir(dir).unwrap() {
            all += &std::fs::read_to_string(e.unwrap().path()).unwrap();
        }
        all
    }

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);
    impl Write for Capture {
        fn write(&mut self, d: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(d);
            Ok(d.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn both_outputs_are_redacted_in_process() {
        let dir = tempfile::tempdir().unwrap();
        let cap = Capture::default();
        let c2 = cap.clone();
        let mut opts = LogOptions::new("unit", Some(dir.path().to_owned()));
        opts.default_filter = "debug".into();
        let (sub, guard) = build(&opts, move || c2.clone()).unwrap();
        tracing::subscriber::with_default(sub, emit_secrets);
        drop(guard); // flushes the file writer
        assert_clean(
            "stderr capture",
            &String::from_utf8(cap.0.lock().unwrap().clone()).unwrap(),
        );
        assert_clean("log file", &read_logs(dir.path()));
    }

    /// The real thing: a child process installs the global logger with the real stderr and file,
    /// and we read what actually came out of both.
    #[test]
    fn both_outputs_are_redacted_for_real() {
        if std::env::var_os("RED5_LOG_CHILD").is_some() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "logging::tests::child_process_logs_secrets",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("RED5_LOG_CHILD", dir.path())
            .env(LOG_FILTER_ENV, "debug")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "child failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_clean("real stderr", &String::from_utf8_lossy(&out.stderr));
        assert_clean("real log file", &read_logs(dir.path()));
    }

    /// Only does something when started by `both_outputs_are_redacted_for_real`.
    #[test]
    fn child_process_logs_secrets() {
        let Some(dir) = std::env::var_os("RED5_LOG_CHILD") else {
            return;
        };
        let guard = init(&LogOptions::new("child", Some(PathBuf::from(dir)))).unwrap();
        emit_secrets();
        drop(guard);
    }

    #[test]
    fn writer_flushes_once_per_event() {
        let cap = Capture::default();
        {
            let mut w = RedactingWriter {
                inner: cap.clone(),
                buf: Vec::new(),
            };
            w.write_all(b"token=").unwrap();
            w.write_all(b"abc\n").unwrap();
        }
        assert_eq!(cap.0.lock().unwrap().as_slice(), b"token=***\n");
    }
}
