//! `settings.json`: loading (with corruption handling), validation on save, and atomic writes.
//!
//! Rules:
//! - The built-in local server profile is always present and can't be deleted.
//! - Every change is written to a temp file in the same directory, fsynced and renamed over the old file,
//!   so a crash leaves either the old or the new file, never half of one.
//! - A file that can't be parsed is renamed to `settings.json.corrupt-<UTC stamp>`, reported through
//!   [`SettingsStore::problem`], and the app runs on defaults. Nothing is deleted.
//! - A file from a newer Red5 Desk is left untouched and saving is disabled for this run.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::paths::SETTINGS_FILE;
use crate::profile::{ProfileForm, ServerProfile, BUILT_IN_PROFILE_ID};
use crate::timestamp::file_stamp;
use crate::ConfigError;

/// Version of the settings file format this build writes.
pub const SETTINGS_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    pub version: u32,
    pub active_profile_id: String,
    pub profiles: Vec<ServerProfile>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            version: SETTINGS_VERSION,
            active_profile_id: BUILT_IN_PROFILE_ID.to_owned(),
            profiles: vec![ServerProfile::built_in()],
        }
    }
}

impl Settings {
    /// Restores the invariants after loading: built-in profile first, unique ids, a valid active id.
    fn normalise(&mut self) {
        let mut seen = std::collections::HashSet::new();
        self.profiles.retain(|p| seen.insert(p.id.clone()));
        match self
            .profiles
            .iter()
            .position(|p| p.id == BUILT_IN_PROFILE_ID && p.is_built_in())
        {
            Some(0) => {}
            Some(i) => {
                let b = self.profiles.remove(i);
                self.profiles.insert(0, b);
            }
            None => {
                self.profiles
                    .retain(|p| p.id != BUILT_IN_PROFILE_ID && !p.is_built_in());
                self.profiles.insert(0, ServerProfile::built_in());
            }
        }
        if !self.profiles.iter().any(|p| p.id == self.active_profile_id) {
            self.active_profile_id = BUILT_IN_PROFILE_ID.to_owned();
        }
    }
}

/// Something the user must be told about the settings file (shown as a banner in the app).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum SettingsProblem {
    /// The file could not be parsed; it was renamed to `moved_to` and defaults are in use.
    #[serde(rename_all = "camelCase")]
    Corrupt { moved_to: PathBuf, reason: String },
    /// The file could not be parsed and could not be moved aside either; it is untouched and saving is off.
    #[serde(rename_all = "camelCase")]
    CorruptNotMoved {
        path: PathBuf,
        reason: String,
        move_error: String,
    },
    /// The file could not be read (permissions, I/O); it is untouched and saving is off.
    #[serde(rename_all = "camelCase")]
    Unreadable { path: PathBuf, reason: String },
    /// Written by a newer Red5 Desk; left untouched, saving is off.
    #[serde(rename_all = "camelCase")]
    NewerVersion { path: PathBuf, version: u32 },
}

impl SettingsProblem {
    /// One sentence for the banner / CLI.
    pub fn message(&self) -> String {
        match self {
            Self::Corrupt { moved_to, reason } => format!(
                "The settings file was damaged ({reason}). It was kept as {} and Red5 Desk started with default settings.",
                moved_to.display()
            ),
            Self::CorruptNotMoved { path, reason, move_error } => format!(
                "The settings file {} is damaged ({reason}) and could not be set aside ({move_error}). It was left as it is; changes in this session will not be saved.",
                path.display()
            ),
            Self::Unreadable { path, reason } => format!(
                "The settings file {} could not be read ({reason}). Default settings are in use and changes will not be saved.",
                path.display()
            ),
            Self::NewerVersion { path, version } => format!(
                "The settings file {} was written by a newer Red5 Desk (format {version}). It was left untouched; default settings are in use and changes will not be saved.",
                path.display()
            ),
        }
    }

    fn blocks_saving(&self) -> bool {
        !matches!(self, Self::Corrupt { .. })
    }
}

/// What the UI's settings pane shows about storage.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsStatus {
    pub path: PathBuf,
    pub saving_enabled: bool,
    pub problem: Option<SettingsProblem>,
    pub problem_message: Option<String>,
}

#[derive(Debug)]
pub struct SettingsStore {
    path: PathBuf,
    settings: Settings,
    problem: Option<SettingsProblem>,
}

impl SettingsStore {
    /// Opens `<dir>/settings.json`. Never fails: a missing file means defaults, a bad one is reported via
    /// [`Self::problem`]. The directory is created on the first save.
    pub fn open(dir: &Path) -> Self {
        Self::open_at(dir.join(SETTINGS_FILE), SystemTime::now())
    }

    fn open_at(path: PathBuf, now: SystemTime) -> Self {
        let (settings, problem) = match fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Settings::default(), None),
            Err(e) => (
                Settings::default(),
                Some(SettingsProblem::Unreadable {
                    path: path.clone(),
                    reason: e.to_string(),
                }),
            ),
            Ok(bytes) => match parse(&bytes) {
                Ok(mut s) => {
                    s.normalise();
                    (s, None)
                }
                Err(Parsed::Newer(version)) => (
                    Settings::default(),
                    Some(SettingsProblem::NewerVersion {
                        path: path.clone(),
                        version,
                    }),
                ),
                Err(Parsed::Corrupt(reason)) => {
                    (Settings::default(), Some(set_aside(&path, reason, now)))
                }
            },
        };
        if let Some(p) = &problem {
            tracing::warn!(path = %path.display(), "{}", p.message());
        }
        Self {
            path,
            settings,
            problem,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn profiles(&self) -> &[ServerProfile] {
        &self.settings.profiles
    }

    pub fn profile(&self, id: &str) -> Option<&ServerProfile> {
        self.settings.profiles.iter().find(|p| p.id == id)
    }

    /// The active profile (the built-in one unless the user chose another).
    pub fn active(&self) -> &ServerProfile {
        self.profile(&self.settings.active_profile_id)
            .or_else(|| self.settings.profiles.first())
            .unwrap_or_else(|| built_in_fallback())
    }

    pub fn problem(&self) -> Option<&SettingsProblem> {
        self.problem.as_ref()
    }

    pub fn status(&self) -> SettingsStatus {
        SettingsStatus {
            path: self.path.clone(),
            saving_enabled: self.saving_error().is_none(),
            problem: self.problem.clone(),
            problem_message: self.problem.as_ref().map(SettingsProblem::message),
        }
    }

    /// The user has read the banner. A problem that blocks saving stays (it is still true).
    pub fn acknowledge_problem(&mut self) {
        if self.problem.as_ref().is_some_and(|p| !p.blocks_saving()) {
            self.problem = None;
        }
    }

    /// Validates the form, adds or replaces the profile and saves. Names must be unique.
    pub fn save_profile(&mut self, form: &ProfileForm) -> Result<ServerProfile, ConfigError> {
        let mut profile = form.parse().map_err(ConfigError::Invalid)?;
        let existing = self
            .settings
            .profiles
            .iter()
            .position(|p| p.id == profile.id);
        if existing.is_none() && !form.id.trim().is_empty() {
            return Err(ConfigError::NotFound(form.id.clone()));
        }
        if let Some(i) = existing {
            if self.settings.profiles[i].is_built_in() != profile.is_built_in() {
                let mut f = crate::FieldErrors::new();
                f.insert(
                    "kind".into(),
                    "The built-in server profile can't change its type.".into(),
                );
                return Err(ConfigError::Invalid(f));
            }
        }
        if profile.is_built_in() {
            // Only port, app, transport and ICE servers of the built-in profile are user-editable.
            profile.name = ServerProfile::built_in().name;
        }
        if self
            .settings
            .profiles
            .iter()
            .any(|p| p.id != profile.id && p.name.eq_ignore_ascii_case(&profile.name))
        {
            let mut f = crate::FieldErrors::new();
            f.insert(
                "name".into(),
                format!("A profile named \"{}\" already exists.", profile.name),
            );
            return Err(ConfigError::Invalid(f));
        }
        let mut next = self.settings.clone();
        match existing {
            Some(i) => next.profiles[i] = profile.clone(),
            None => next.profiles.push(profile.clone()),
        }
        self.commit(next)?;
        tracing::info!(id = %profile.id, kind = profile.kind.key(), "saved server profile");
        Ok(profile)
    }

    pub fn delete_profile(&mut self, id: &str) -> Result<(), ConfigError> {
        let i = self
            .settings
            .profiles
            .iter()
            .position(|p| p.id == id)
            .ok_or_else(|| ConfigError::NotFound(id.to_owned()))?;
        if self.settings.profiles[i].is_built_in() {
            return Err(ConfigError::BuiltInIsPermanent);
        }
        let mut next = self.settings.clone();
        next.profiles.remove(i);
        if next.active_profile_id == id {
            next.active_profile_id = BUILT_IN_PROFILE_ID.to_owned();
        }
        self.commit(next)?;
        tracing::info!(id, "deleted server profile");
        Ok(())
    }

    pub fn set_active(&mut self, id: &str) -> Result<(), ConfigError> {
        if self.profile(id).is_none() {
            return Err(ConfigError::NotFound(id.to_owned()));
        }
        let mut next = self.settings.clone();
        next.active_profile_id = id.to_owned();
        self.commit(next)?;
        tracing::info!(id, "active server profile changed");
        Ok(())
    }

    fn saving_error(&self) -> Option<String> {
        self.problem
            .as_ref()
            .filter(|p| p.blocks_saving())
            .map(SettingsProblem::message)
    }

    /// Writes `next` and only then makes it current, so memory and disk never disagree.
    fn commit(&mut self, next: Settings) -> Result<(), ConfigError> {
        if let Some(reason) = self.saving_error() {
            return Err(ConfigError::SavingDisabled(reason));
        }
        write_atomically(&self.path, &next)?;
        self.settings = next;
        Ok(())
    }
}

fn built_in_fallback() -> &'static ServerProfile {
    static B: std::sync::OnceLock<ServerProfile> = std::sync::OnceLock::new();
    B.get_or_init(ServerProfile::built_in)
}

enum Parsed {
    Corrupt(String),
    Newer(u32),
}

fn parse(bytes: &[u8]) -> Result<Settings, Parsed> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| Parsed::Corrupt(e.to_string()))?;
    if let Some(v) = value.get("version").and_then(serde_json::Value::as_u64) {
        if v > u64::from(SETTINGS_VERSION) {
            return Err(Parsed::Newer(u32::try_from(v).unwrap_or(u32::MAX)));
        }
    }
    serde_json::from_value(value).map_err(|e| Parsed::Corrupt(e.to_string()))
}

fn set_aside(path: &Path, reason: String, now: SystemTime) -> SettingsProblem {
    let stamp = file_stamp(now);
    let name = format!("{SETTINGS_FILE}.corrupt-{stamp}");
    let mut target = path.with_file_name(&name);
    // Two corruptions within one second must not overwrite each other.
    let mut n = 1;
    while target.exists() {
        n += 1;
        target = path.with_file_name(format!("{name}-{n}"));
    }
    match fs::rename(path, &target) {
        Ok(()) => SettingsProblem::Corrupt {
            moved_to: target,
            reason,
        },
        Err(e) => SettingsProblem::CorruptNotMoved {
            path: path.to_owned(),
            reason,
            move_error: e.to_string(),
        },
    }
}

fn write_atomically(path: &Path, settings: &Settings) -> Result<(), ConfigError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    fs::create_dir_all(dir).map_err(|e| ConfigError::io("create the settings folder", dir, e))?;
    let json = serde_json::to_vec_pretty(settings)
        .map_err(|e| ConfigError::io("encode settings for", path, std::io::Error::other(e)))?;
    let tmp = tmp_path(path);
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&json)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        restrict_permissions(&f)?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(ConfigError::io("save settings to", path, e));
    }
    // Make the rename itself durable where the platform allows syncing a directory.
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn tmp_path(path: &Path) -> PathBuf {
    path.with_file_name(format!(".{SETTINGS_FILE}.tmp-{}", std::process::id()))
}

/// The file holds passwords and tokens: owner-only on Unix.
#[cfg(unix)]
fn restrict_permissions(f: &fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn restrict_permissions(_f: &fs::File) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn sm1_form(name: &str) -> ProfileForm {
        ProfileForm {
            name: name.into(),
            host: "sm1.example.com".into(),
            access_token: "abc123".into(),
            ..ProfileForm::new_of_kind("sm1")
        }
    }

    #[test]
    fn fresh_dir_has_built_in_default() {
        let dir = tempfile::tempdir().unwrap();
        let s = SettingsStore::open(dir.path());
        assert!(s.problem().is_none());
        assert_eq!(s.profiles().len(), 1);
        assert!(s.active().is_built_in());
        assert!(
            !dir.path().join(SETTINGS_FILE).exists(),
            "nothing written until a change"
        );
    }

    #[test]
    fn saved_profiles_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SettingsStore::open(dir.path());
        let p = s.save_profile(&sm1_form("Old cluster")).unwrap();
        s.set_active(&p.id).unwrap();
        let s2 = SettingsStore::open(dir.path());
        assert_eq!(s2.profiles().len(), 2);
        assert_eq!(s2.active(), &p);
        assert!(s2.problem().is_none());
        // no temp file left behind
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(SETTINGS_FILE)]);
    }

    #[cfg(unix)]
    #[test]
    fn settings_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mut s = SettingsStore::open(dir.path());
        s.save_profile(&sm1_form("A")).unwrap();
        let mode = fs::metadata(dir.path().join(SETTINGS_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn editing_replaces_and_names_are_unique() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SettingsStore::open(dir.path());
        let a = s.save_profile(&sm1_form("A")).unwrap();
        s.save_profile(&sm1_form("B")).unwrap();
        let mut f = ProfileForm::from(&a);
        f.port = "8443".into();
        let a2 = s.save_profile(&f).unwrap();
        assert_eq!(a2.id, a.id);
        assert_eq!(s.profile(&a.id).unwrap().port, 8443);
        f.name = "b".into();
        let e = s.save_profile(&f).unwrap_err();
        assert!(e.field_errors().unwrap()["name"].contains("already exists"));
        let mut ghost = sm1_form("Ghost");
        ghost.id = "p-nope".into();
        assert!(matches!(
            s.save_profile(&ghost),
            Err(ConfigError::NotFound(_))
        ));
    }

    #[test]
    fn invalid_form_is_not_saved() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SettingsStore::open(dir.path());
        let mut f = sm1_form("Bad");
        f.port = "70000".into();
        let e = s.save_profile(&f).unwrap_err();
        assert!(e.field_errors().unwrap().contains_key("port"));
        assert!(e.to_string().contains("port"), "{e}");
        assert_eq!(s.profiles().len(), 1);
        assert!(!dir.path().join(SETTINGS_FILE).exists());
    }

    #[test]
    fn built_in_cannot_be_deleted_and_deleting_active_falls_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SettingsStore::open(dir.path());
        assert!(matches!(
            s.delete_profile(BUILT_IN_PROFILE_ID),
            Err(ConfigError::BuiltInIsPermanent)
        ));
        let p = s.save_profile(&sm1_form("A")).unwrap();
        s.set_active(&p.id).unwrap();
        s.delete_profile(&p.id).unwrap();
        assert!(s.active().is_built_in());
        assert!(matches!(
            s.set_active("missing"),
            Err(ConfigError::NotFound(_))
        ));
    }

    #[test]
    fn built_in_edits_keep_its_identity() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SettingsStore::open(dir.path());
        let mut f = ProfileForm::from(s.active());
        f.port = "6080".into();
        f.name = "Renamed".into();
        let b = s.save_profile(&f).unwrap();
        assert_eq!(b.port, 6080);
        assert_eq!(b.name, ServerProfile::built_in().name);
        f.kind = "standalone".into();
        assert!(s
            .save_profile(&f)
            .unwrap_err()
            .field_errors()
            .unwrap()
            .contains_key("kind"));
    }

    #[test]
    fn corrupt_file_is_moved_aside_reported_and_defaults_used() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SETTINGS_FILE);
        fs::write(&path, b"{ this is not json").unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(1_795_250_070);
        let mut s = SettingsStore::open_at(path.clone(), now);
        let aside = dir.path().join("settings.json.corrupt-20261121T083430Z");
        match s.problem() {
            Some(SettingsProblem::Corrupt { moved_to, reason }) => {
                assert_eq!(moved_to, &aside);
                assert!(!reason.is_empty());
            }
            p => panic!("expected Corrupt, got {p:?}"),
        }
        assert_eq!(
            fs::read(&aside).unwrap(),
            b"{ this is not json",
            "original bytes kept"
        );
        assert!(!path.exists());
        assert!(s.active().is_built_in());
        let st = s.status();
        assert!(st.saving_enabled);
        assert!(st
            .problem_message
            .unwrap()
            .contains("corrupt-20261121T083430Z"));
        // saving works again and the next start is clean
        s.save_profile(&sm1_form("A")).unwrap();
        assert!(SettingsStore::open(dir.path()).problem().is_none());
        s.acknowledge_problem();
        assert!(s.problem().is_none());

        // a second corruption in the same second gets its own name
        fs::write(&path, b"[]").unwrap();
        let s = SettingsStore::open_at(path.clone(), now);
        match s.problem() {
            Some(SettingsProblem::Corrupt { moved_to, .. }) => {
                assert_eq!(
                    moved_to,
                    &dir.path().join("settings.json.corrupt-20261121T083430Z-2")
                )
            }
            p => panic!("expected Corrupt, got {p:?}"),
        }
        assert_eq!(fs::read(&aside).unwrap(), b"{ this is not json");
    }

    #[test]
    fn wrong_shape_counts_as_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SETTINGS_FILE);
        fs::write(
            &path,
            br#"{"version":1,"activeProfileId":"x","profiles":[{"id":"a","port":"nope"}]}"#,
        )
        .unwrap();
        let s = SettingsStore::open(dir.path());
        assert!(matches!(s.problem(), Some(SettingsProblem::Corrupt { .. })));
    }

    #[test]
    fn newer_file_is_left_alone_and_saving_is_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SETTINGS_FILE);
        let body = br#"{"version":99,"whatever":true}"#;
        fs::write(&path, body).unwrap();
        let mut s = SettingsStore::open(dir.path());
        assert!(matches!(
            s.problem(),
            Some(SettingsProblem::NewerVersion { version: 99, .. })
        ));
        assert!(!s.status().saving_enabled);
        assert!(matches!(
            s.save_profile(&sm1_form("A")),
            Err(ConfigError::SavingDisabled(_))
        ));
        s.acknowledge_problem();
        assert!(
            s.problem().is_some(),
            "a problem that blocks saving stays visible"
        );
        assert_eq!(fs::read(&path).unwrap(), body);
    }

    #[test]
    fn missing_built_in_and_dangling_active_are_repaired() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = sm1_form("A").parse().unwrap();
        p.id = "p-a".into();
        let s = Settings {
            version: 1,
            active_profile_id: "gone".into(),
            profiles: vec![p.clone(), p],
        };
        fs::write(
            dir.path().join(SETTINGS_FILE),
            serde_json::to_vec(&s).unwrap(),
        )
        .unwrap();
        let st = SettingsStore::open(dir.path());
        assert!(st.problem().is_none());
        assert_eq!(
            st.profiles().len(),
            2,
            "duplicate id dropped, built-in added"
        );
        assert!(st.profiles()[0].is_built_in());
        assert!(st.active().is_built_in());
    }

    #[test]
    fn failed_write_keeps_memory_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        let mut s = SettingsStore::open(&sub);
        // The settings "directory" turns out to be a file, so creating it fails.
        fs::write(&sub, b"").unwrap();
        let e = s.save_profile(&sm1_form("A")).unwrap_err();
        assert!(matches!(e, ConfigError::Io { .. }), "{e:?}");
        assert!(
            e.to_string()
                .starts_with("could not create the settings folder"),
            "{e}"
        );
        assert_eq!(s.profiles().len(), 1);
    }
}
