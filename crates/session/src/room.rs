//! Conference naming (red5-protocol.md §7.1): a room is the context `<app>/<room>` (`live/room1`);
//! its waiting room is `<app>/<room>_wr`, participants' conference streams live under
//! `<app>/<room>/<stream>`, and the composite is `<app>/<room>/<room>`.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A conference room, parsed from its context.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConferenceRoom {
    /// The application scope in front of the room (`live`).
    pub app: String,
    /// The room name, last segment of the context (`room1`).
    pub name: String,
}

impl ConferenceRoom {
    /// `live/room1` → app `live`, room `room1`. Leading/trailing slashes are ignored; a context
    /// without an app part or with an empty segment is refused in words.
    pub fn parse(context: &str) -> Result<Self> {
        let ctx = context.trim().trim_matches('/');
        let Some((app, name)) = ctx.rsplit_once('/') else {
            return Err(Error::Config(format!(
                "the room '{ctx}' needs its application in front, like live/{ctx}"
            )));
        };
        if app.split('/').any(|s| s.trim().is_empty()) || name.trim().is_empty() {
            return Err(Error::Config(format!(
                "'{ctx}' is not a room: write it as <app>/<room>, like live/room1"
            )));
        }
        if let Some(bad) = ctx
            .chars()
            .find(|c| c.is_whitespace() || matches!(c, '?' | '&' | '=' | '#' | '%'))
        {
            return Err(Error::Config(format!(
                "the room '{ctx}' contains '{bad}', which cannot be part of a stream path"
            )));
        }
        if name.ends_with("_wr") {
            return Err(Error::Config(format!(
                "'{ctx}' is a waiting room; give the room itself ({})",
                ctx.trim_end_matches("_wr")
            )));
        }
        Ok(ConferenceRoom {
            app: app.to_owned(),
            name: name.to_owned(),
        })
    }

    /// `live/room1`.
    pub fn context(&self) -> String {
        format!("{}/{}", self.app, self.name)
    }

    /// `live/room1_wr`, where participants wait.
    pub fn waiting_context(&self) -> String {
        format!("{}/{}_wr", self.app, self.name)
    }

    /// `live/room1/room1`: the mixer's composite stream.
    pub fn composite_guid(&self) -> String {
        format!("{}/{}/{}", self.app, self.name, self.name)
    }

    /// Whether a listed stream name is a participant (the host page ignores the composite and
    /// `_r5participator` helper streams).
    pub fn is_participant_name(&self, stream: &str) -> bool {
        !stream.is_empty() && stream != self.name && !stream.contains("_r5participator")
    }
}

/// A stream name a person typed: non-empty, no path or query characters.
pub(crate) fn check_stream_name(what: &str, name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::Config(format!("the {what} is empty")));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| c.is_whitespace() || matches!(c, '/' | '?' | '&' | '=' | '#' | '%'))
    {
        return Err(Error::Config(format!(
            "the {what} '{name}' contains '{bad}'; use letters, digits, '-' or '_'"
        )));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn contexts_and_names() {
        let r = ConferenceRoom::parse("/live/room1/").unwrap();
        assert_eq!(r.context(), "live/room1");
        assert_eq!(r.waiting_context(), "live/room1_wr");
        assert_eq!(r.composite_guid(), "live/room1/room1");
        assert!(r.is_participant_name("alice"));
        assert!(!r.is_participant_name("room1"));
        assert!(!r.is_participant_name("x_r5participator"));
        let nested = ConferenceRoom::parse("org/live/r").unwrap();
        assert_eq!(
            (nested.app.as_str(), nested.name.as_str()),
            ("org/live", "r")
        );
    }

    #[test]
    fn bad_rooms_are_explained() {
        let e = ConferenceRoom::parse("room1").unwrap_err().to_string();
        assert!(e.contains("like live/room1"), "{e}");
        assert!(ConferenceRoom::parse("live//r").is_err());
        assert!(ConferenceRoom::parse("live/a b").is_err());
        let e = ConferenceRoom::parse("live/room1_wr")
            .unwrap_err()
            .to_string();
        assert!(e.contains("waiting room"), "{e}");
        assert!(check_stream_name("name", "a/b").is_err());
        assert!(check_stream_name("name", "alice_1").is_ok());
    }
}
