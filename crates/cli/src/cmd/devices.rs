//! `devices`: cameras (nokhwa), microphones and speakers (cpal), or a clear "none found" per kind.

use std::io::Write;
use std::process::ExitCode;

use red5_media::{DeviceInfo, MediaError};
use serde::Serialize;

use crate::{CliError, Context};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// One kind's result: its devices, or why they could not be listed.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Section {
    pub kind: &'static str,
    pub devices: Vec<DeviceInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Section {
    fn from_result(kind: &'static str, r: Result<Vec<DeviceInfo>, MediaError>) -> Self {
        match r {
            Ok(devices) => Self {
                kind,
                devices,
                error: None,
            },
            Err(e) => Self {
                kind,
                devices: Vec::new(),
                error: Some(e.to_string()),
            },
        }
    }
}

pub fn run(_ctx: &Context, args: &Args, out: &mut impl Write) -> Result<ExitCode, CliError> {
    let sections = [
        Section::from_result("cameras", red5_media::cameras()),
        Section::from_result("microphones", red5_media::microphones()),
        Section::from_result("speakers", red5_media::speakers()),
    ];
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &sections)?;
        writeln!(out)?;
    } else {
        out.write_all(render(&sections).as_bytes())?;
    }
    // Failing to list one kind is worth a non-zero exit only if nothing could be listed at all.
    Ok(if sections.iter().all(|s| s.error.is_some()) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

pub fn render(sections: &[Section]) -> String {
    let mut s = String::new();
    for sec in sections {
        let title = match sec.kind {
            "cameras" => "Cameras",
            "microphones" => "Microphones",
            _ => "Speakers",
        };
        s += &format!("{title}:\n");
        match &sec.error {
            Some(e) => s += &format!("  could not list {}: {e}\n", sec.kind),
            None if sec.devices.is_empty() => {
                s += &format!("  none found (no {} available)\n", sec.kind)
            }
            None => {
                for d in &sec.devices {
                    let mark = if d.is_default { "*" } else { " " };
                    s += &format!("  {mark} {}  [{}]\n", d.name, d.id);
                }
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use red5_media::DeviceKind;

    #[test]
    fn renders_devices_none_found_and_errors() {
        let secs = [
            Section {
                kind: "cameras",
                devices: vec![],
                error: None,
            },
            Section {
                kind: "microphones",
                devices: vec![DeviceInfo {
                    id: "alsa:default".into(),
                    name: "Default Audio Device".into(),
                    kind: DeviceKind::Microphone,
                    is_default: true,
                }],
                error: None,
            },
            Section::from_result("speakers", Err(MediaError::SoundSystem("no ALSA".into()))),
        ];
        let text = render(&secs);
        assert!(
            text.contains("Cameras:\n  none found (no cameras available)\n"),
            "{text}"
        );
        assert!(
            text.contains("Microphones:\n  * Default Audio Device  [alsa:default]\n"),
            "{text}"
        );
        assert!(text.starts_with("Cameras:"));
        assert!(
            text.contains("Speakers:\n  could not list speakers: "),
            "{text}"
        );
    }
}
