//! Small JSON helpers shared by the message modules: lenient parsing, readable errors.

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Name of a JSON value's kind, for error messages.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Parses one text frame into a JSON object. Whitespace and pretty-printing are fine (SDK15
/// pretty-prints data-channel messages).
pub(crate) fn parse_object(text: &str) -> Result<Map<String, Value>> {
    let v: Value = serde_json::from_str(text).map_err(|e| Error::MalformedJson {
        reason: e.to_string(),
    })?;
    into_object(v)
}

pub(crate) fn into_object(v: Value) -> Result<Map<String, Value>> {
    match v {
        Value::Object(m) => Ok(m),
        other => Err(Error::NotAnObject {
            found: kind(&other),
        }),
    }
}

/// Deserialises a struct out of an already-parsed value with a message naming the shape.
pub(crate) fn from_value<T: serde::de::DeserializeOwned>(
    what: &'static str,
    v: Value,
) -> Result<T> {
    serde_json::from_value(v).map_err(|e| Error::InvalidMessage {
        what,
        reason: e.to_string(),
    })
}

pub(crate) fn to_string<T: serde::Serialize>(v: &T) -> String {
    // Serialising our own plain structs into a String cannot fail (no maps with non-string keys).
    serde_json::to_string(v).unwrap_or_default()
}

/// A short description of an object's keys for "unknown message" errors.
pub(crate) fn keys(m: &Map<String, Value>) -> String {
    let mut k: Vec<&str> = m.keys().map(String::as_str).take(8).collect();
    if k.is_empty() {
        k.push("none");
    }
    k.join(", ")
}

/// `true`, `"true"`, `1` → true. Red5 documents `signal=[0|1|true|false]`; be generous.
pub(crate) fn truthy(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|n| n != 0),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Accepts a number, a numeric string or null for an optional small integer.
pub(crate) fn lenient_u16<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<u16>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(match v {
        Some(Value::Number(n)) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

/// Accepts a string, a number (stringified) or null for an optional text field.
pub(crate) fn lenient_string<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<String>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(match v {
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        _ => None,
    })
}

/// Accepts a bool, "true"/"false", 0/1 or null.
pub(crate) fn lenient_bool<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<bool>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(v.as_ref().and_then(truthy))
}
