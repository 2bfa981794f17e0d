//! The one error type of this crate, worded for the person reading it.

use std::path::PathBuf;

use crate::profile::FieldErrors;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the profile has {} invalid field(s): {}", .0.len(), summary(.0))]
    Invalid(FieldErrors),
    #[error("there is no server profile with id \"{0}\"")]
    NotFound(String),
    #[error("the built-in local server profile is always available and can't be deleted")]
    BuiltInIsPermanent,
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("settings are not being saved: {0}")]
    SavingDisabled(String),
    #[error("could not find the user's {0} directory; set {1} to choose one")]
    NoDirectory(&'static str, &'static str),
    #[error("could not start logging: {0}")]
    Logging(String),
}

impl ConfigError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// Field → message map when the error is a validation failure (for inline messages in the UI).
    pub fn field_errors(&self) -> Option<&FieldErrors> {
        match self {
            Self::Invalid(f) => Some(f),
            _ => None,
        }
    }
}

fn summary(f: &FieldErrors) -> String {
    f.iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join("; ")
}
