//! JSON-lines output: one object per line on stdout, each with a UTC `time`, so a script can
//! `jq` it while it runs (every line is flushed).

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::CliError;

/// `2026-11-21T11:30:05.123Z`.
pub fn iso_time(t: SystemTime) -> String {
    let ms = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let (secs, ms) = ((ms / 1000) as i64, (ms % 1000) as u32);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

pub fn now() -> String {
    iso_time(SystemTime::now())
}

/// A UNIX time in milliseconds as [`iso_time`].
pub fn iso_time_ms(unix_ms: u64) -> String {
    iso_time(UNIX_EPOCH + std::time::Duration::from_millis(unix_ms))
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (Hinnant's method).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Writes JSON lines to `out`.
pub struct Lines<'a, W: Write> {
    out: &'a mut W,
}

impl<'a, W: Write> Lines<'a, W> {
    pub fn new(out: &'a mut W) -> Self {
        Lines { out }
    }

    /// Prints `value` (an object) with `time` (now) added.
    pub fn emit(&mut self, value: Value) -> Result<(), CliError> {
        self.emit_at(now(), value)
    }

    /// Prints `value` with the given `time`.
    pub fn emit_at(&mut self, time: String, value: Value) -> Result<(), CliError> {
        let mut m = Map::new();
        m.insert("time".into(), Value::String(time));
        match value {
            Value::Object(o) => m.extend(o),
            other => {
                m.insert("value".into(), other);
            }
        }
        serde_json::to_writer(&mut *self.out, &Value::Object(m))?;
        self.out.write_all(b"\n")?;
        self.out.flush()?;
        Ok(())
    }

    /// Prints an engine event (`{"type": …}`, as the engines serialise them).
    pub fn event(&mut self, ev: &impl Serialize) -> Result<(), CliError> {
        self.emit(serde_json::to_value(ev)?)
    }
}

/// `--metadata` text: a JSON object is sent as it is; anything else is sent the way the Red5
/// SDK's text field sends it, `{"metadata": "<text>"}`.
pub fn metadata_value(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => v,
        _ => serde_json::json!({ "metadata": text }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn formats_utc_with_milliseconds() {
        assert_eq!(iso_time(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_795_250_070_042);
        assert_eq!(iso_time(t), "2026-11-21T08:34:30.042Z");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(iso_time(t), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn lines_carry_time_and_fields() {
        let mut buf = Vec::new();
        Lines::new(&mut buf)
            .emit(json!({"type": "started"}))
            .unwrap();
        let v: Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(v["type"], "started");
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
        assert_eq!(buf.last(), Some(&b'\n'));
    }

    #[test]
    fn metadata_objects_pass_text_is_wrapped() {
        assert_eq!(metadata_value(r#"{"a":1}"#), json!({"a": 1}));
        assert_eq!(metadata_value("hello"), json!({"metadata": "hello"}));
        assert_eq!(metadata_value("[1,2]"), json!({"metadata": "[1,2]"}));
    }
}
