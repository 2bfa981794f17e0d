//! SDP helpers for Red5's rules (§3.5, §3.7, §7.6 e), built on webrtc-rs's `sdp` crate
//! (`rtc-sdp`, re-exported as [`raw`]) instead of ad-hoc text edits.
//!
//! Every helper works on a parsed [`SessionDescription`]; the `*_str` wrappers parse, edit and
//! marshal. Marshalling writes lines in RFC 4566 order, so a `b=` line lands after `c=` (the
//! SDK puts it before; Red5 accepts both). [`parse`] accepts the SDK's `b=`-before-`c=` order.

pub use sdp as raw;
use sdp::description::common::{Attribute, Bandwidth as SdpBandwidth};
use sdp::description::media::MediaDescription;
pub use sdp::description::session::SessionDescription;
pub use sdp::direction::Direction;

use crate::error::{Error, Result};

/// Parses an SDP leniently: LF or CRLF line ends, trailing blank lines, and the SDK's
/// `m=`/`b=`/`c=` order (moved to `m=`/`c=`/`b=` before parsing).
pub fn parse(text: &str) -> Result<SessionDescription> {
    let normalised = normalise(text);
    let mut cursor = std::io::Cursor::new(normalised.as_bytes());
    SessionDescription::unmarshal(&mut cursor).map_err(|e| Error::InvalidSdp {
        reason: e.to_string(),
    })
}

/// Writes the SDP (CRLF line ends).
pub fn write(desc: &SessionDescription) -> String {
    desc.marshal()
}

fn normalise(text: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    // Pending b= lines of the current media section, held back until after its c= line.
    let mut held: Vec<&str> = Vec::new();
    let mut in_media = false;
    for line in text
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty())
    {
        if line.starts_with("m=") {
            out.append(&mut held);
            in_media = true;
            out.push(line);
        } else if in_media && line.starts_with("b=") {
            held.push(line);
        } else if in_media && line.starts_with("c=") {
            out.push(line);
            out.append(&mut held);
        } else {
            out.append(&mut held);
            out.push(line);
        }
    }
    out.append(&mut held);
    let mut s = out.join("\r\n");
    s.push_str("\r\n");
    s
}

fn attr_pt(a: &Attribute) -> Option<u8> {
    a.value.as_deref()?.split_whitespace().next()?.parse().ok()
}

fn is_pt_attr(a: &Attribute) -> bool {
    matches!(a.key.as_str(), "rtpmap" | "fmtp" | "rtcp-fb")
}

/// `(payload type, codec name)` of every `a=rtpmap` in a section.
pub fn rtpmaps(m: &MediaDescription) -> Vec<(u8, String)> {
    m.attributes
        .iter()
        .filter(|a| a.key == "rtpmap")
        .filter_map(|a| {
            let pt = attr_pt(a)?;
            let name = a
                .value
                .as_deref()?
                .split_whitespace()
                .nth(1)?
                .split('/')
                .next()?
                .to_owned();
            Some((pt, name))
        })
        .collect()
}

fn fmtp_of(m: &MediaDescription, pt: u8) -> Option<&str> {
    m.attributes
        .iter()
        .find(|a| a.key == "fmtp" && attr_pt(a) == Some(pt))
        .and_then(|a| a.value.as_deref())
        .and_then(|v| v.split_once(' ').map(|(_, p)| p))
}

/// The section's direction attribute (`sendrecv` when absent).
pub fn direction(m: &MediaDescription) -> Direction {
    for a in &m.attributes {
        let d = Direction::new(&a.key);
        if d != Direction::Unspecified {
            return d;
        }
    }
    Direction::SendRecv
}

/// Replaces the section's direction attribute (adds one if missing).
pub fn set_direction(m: &mut MediaDescription, d: Direction) {
    let new = Attribute::new(d.to_string(), None);
    match m
        .attributes
        .iter_mut()
        .find(|a| Direction::new(&a.key) != Direction::Unspecified)
    {
        Some(a) => *a = new,
        None => m.attributes.push(new),
    }
}

pub fn mid(m: &MediaDescription) -> Option<&str> {
    m.attributes
        .iter()
        .find(|a| a.key == "mid")
        .and_then(|a| a.value.as_deref())
}

/// `(media kind, mid, direction)` of every section, in order.
pub fn sections(desc: &SessionDescription) -> Vec<(String, Option<String>, Direction)> {
    desc.media_descriptions
        .iter()
        .map(|m| {
            (
                m.media_name.media.clone(),
                mid(m).map(str::to_owned),
                direction(m),
            )
        })
        .collect()
}

// ---- bandwidth (§3.7) ---------------------------------------------------------------------------

/// Per-kind `b=AS` values in kbps (SDK15 defaults: audio 56, video 750).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bandwidth {
    pub audio_kbps: Option<u32>,
    pub video_kbps: Option<u32>,
    pub data_kbps: Option<u32>,
}

impl Default for Bandwidth {
    fn default() -> Self {
        Bandwidth {
            audio_kbps: Some(56),
            video_kbps: Some(750),
            data_kbps: None,
        }
    }
}

/// Sets `b=AS:<kbps>` on the first section of each configured kind, replacing an existing `AS`.
/// First only, as the SDK does (its text munge inserts after the first `m=audio`/`m=video`
/// line; the conference transcript shows the extra recvonly sections without `b=`).
pub fn set_bandwidth(desc: &mut SessionDescription, bw: &Bandwidth) {
    let mut done: Vec<String> = Vec::new();
    for m in &mut desc.media_descriptions {
        let kind = m.media_name.media.clone();
        if done.contains(&kind) {
            continue;
        }
        done.push(kind);
        let kbps = match m.media_name.media.as_str() {
            "audio" => bw.audio_kbps,
            "video" => bw.video_kbps,
            "application" => bw.data_kbps,
            _ => None,
        };
        if let Some(k) = kbps {
            m.bandwidth.retain(|b| b.bandwidth_type != "AS");
            m.bandwidth.insert(
                0,
                SdpBandwidth {
                    experimental: false,
                    bandwidth_type: "AS".into(),
                    bandwidth: u64::from(k),
                },
            );
        }
    }
}

/// `a=framesize:<w>-<h>` after the video section's `a=mid` (`offerSDPResolution`, SDK ≥ 14.2).
pub fn set_framesize(desc: &mut SessionDescription, width: u32, height: u32) {
    for m in desc
        .media_descriptions
        .iter_mut()
        .filter(|m| m.media_name.media == "video")
    {
        m.attributes.retain(|a| a.key != "framesize");
        let at = m
            .attributes
            .iter()
            .position(|a| a.key == "mid")
            .map_or(m.attributes.len(), |i| i + 1);
        m.attributes.insert(
            at,
            Attribute::new("framesize".into(), Some(format!("{width}-{height}"))),
        );
    }
}

// ---- fmtp munges (§3.5) --------------------------------------------------------------------------

/// Stereo munge: in every audio fmtp without `stereo=1`, `useinbandfec=1` becomes
/// `useinbandfec=1;stereo=1;sprop-stereo=1`. Returns how many lines changed.
pub fn munge_stereo(desc: &mut SessionDescription) -> usize {
    let mut n = 0;
    for m in desc
        .media_descriptions
        .iter_mut()
        .filter(|m| m.media_name.media == "audio")
    {
        for a in m.attributes.iter_mut().filter(|a| a.key == "fmtp") {
            if let Some(v) = &mut a.value {
                if !v.contains("stereo=1") && v.contains("useinbandfec=1") {
                    *v = v.replacen(
                        "useinbandfec=1",
                        "useinbandfec=1;stereo=1;sprop-stereo=1",
                        1,
                    );
                    n += 1;
                }
            }
        }
    }
    n
}

/// Rewrites every H.264 `profile-level-id=42xxxx` (constrained baseline family) to `profile`
/// (SDK14: `42e01f`). Returns how many fmtp lines changed.
pub fn force_h264_profile(desc: &mut SessionDescription, profile: &str) -> usize {
    let mut n = 0;
    for m in desc
        .media_descriptions
        .iter_mut()
        .filter(|m| m.media_name.media == "video")
    {
        for a in m.attributes.iter_mut().filter(|a| a.key == "fmtp") {
            if let Some(v) = &mut a.value {
                let parts: Vec<String> = v
                    .split(';')
                    .map(|p| match p.trim_start().strip_prefix("profile-level-id=") {
                        Some(id)
                            if id.len() == 6
                                && id[..2].eq_ignore_ascii_case("42")
                                && !id.eq_ignore_ascii_case(profile) =>
                        {
                            n += 1;
                            let lead = &p[..p.len() - p.trim_start().len()];
                            format!("{lead}profile-level-id={profile}")
                        }
                        _ => p.to_owned(),
                    })
                    .collect();
                *v = parts.join(";");
            }
        }
    }
    n
}

// ---- codec filtering -------------------------------------------------------------------------------

/// Removes the payload types of `kind` sections for which `drop(pt, codec_name)` is true:
/// their `rtpmap`/`fmtp`/`rtcp-fb` lines, and — when `prune_m_line` — the format on the `m=` line.
/// Returns the removed payload types.
pub fn remove_codecs(
    desc: &mut SessionDescription,
    kind: &str,
    prune_m_line: bool,
    drop: impl Fn(u8, &str) -> bool,
) -> Vec<u8> {
    let mut removed = Vec::new();
    for m in desc
        .media_descriptions
        .iter_mut()
        .filter(|m| m.media_name.media == kind)
    {
        let gone: Vec<u8> = rtpmaps(m)
            .into_iter()
            .filter(|(pt, name)| drop(*pt, name))
            .map(|(pt, _)| pt)
            .collect();
        remove_pts(m, &gone, prune_m_line);
        removed.extend(gone);
        if prune_m_line {
            removed.extend(prune_orphans(m, &drop));
        }
    }
    removed
}

fn remove_pts(m: &mut MediaDescription, pts: &[u8], prune_m_line: bool) {
    m.attributes
        .retain(|a| !(is_pt_attr(a) && attr_pt(a).is_some_and(|pt| pts.contains(&pt))));
    if prune_m_line {
        m.media_name
            .formats
            .retain(|f| f.parse::<u8>().map_or(true, |pt| !pts.contains(&pt)));
    }
}

/// RFC 3551 static payload types that browsers still list (they may come without `a=rtpmap`).
fn static_pt_name(pt: u8) -> Option<&'static str> {
    Some(match pt {
        0 => "PCMU",
        3 => "GSM",
        4 => "G723",
        8 => "PCMA",
        9 => "G722",
        13 => "CN",
        18 => "G729",
        34 => "H263",
        _ => return None,
    })
}

/// With `prune_m_line`, formats listed on `m=` without an `a=rtpmap` are judged by their static
/// name, and dynamic ones (no name at all) are removed: a strict parser rejects them.
fn prune_orphans(m: &mut MediaDescription, drop: &dyn Fn(u8, &str) -> bool) -> Vec<u8> {
    let mapped: Vec<u8> = rtpmaps(m).into_iter().map(|(p, _)| p).collect();
    let mut gone = Vec::new();
    m.media_name.formats.retain(|f| {
        let Ok(pt) = f.parse::<u8>() else { return true };
        if mapped.contains(&pt) {
            return true;
        }
        let keep = match static_pt_name(pt) {
            Some(name) => !drop(pt, name),
            None => false,
        };
        if !keep {
            gone.push(pt);
        }
        keep
    });
    gone
}

/// Keeps only the named codecs (case-insensitive) in `kind` sections, plus `rtx`/`red`/`ulpfec`
/// entries that point at a kept codec. Prunes the `m=` line too (for our own offers).
pub fn keep_only_codecs(desc: &mut SessionDescription, kind: &str, names: &[&str]) {
    for m in desc
        .media_descriptions
        .iter_mut()
        .filter(|m| m.media_name.media == kind)
    {
        let maps = rtpmaps(m);
        let kept: Vec<u8> = maps
            .iter()
            .filter(|(_, n)| names.iter().any(|k| k.eq_ignore_ascii_case(n)))
            .map(|(p, _)| *p)
            .collect();
        let gone: Vec<u8> = maps
            .iter()
            .filter(|(pt, name)| {
                if kept.contains(pt) {
                    return false;
                }
                if name.eq_ignore_ascii_case("rtx") {
                    let apt = fmtp_of(m, *pt).and_then(|f| {
                        f.split(';')
                            .find_map(|p| p.trim().strip_prefix("apt=")?.parse::<u8>().ok())
                    });
                    return !apt.is_some_and(|a| kept.contains(&a));
                }
                true
            })
            .map(|(p, _)| *p)
            .collect();
        remove_pts(m, &gone, true);
    }
}

/// Removes every `a=extmap` line (SDK14 strips them from the WHIP answer).
pub fn strip_extmap(desc: &mut SessionDescription) {
    for m in &mut desc.media_descriptions {
        m.attributes.retain(|a| a.key != "extmap");
    }
    desc.attributes.retain(|a| a.key != "extmap");
}

/// SDK14 `trickleIce:false`: the gathered offer without `a=ice-options:trickle`, with
/// `a=end-of-candidates` after the last candidate of each section that has candidates.
pub fn prepare_non_trickle_offer(desc: &mut SessionDescription) {
    desc.attributes
        .retain(|a| !(a.key == "ice-options" && a.value.as_deref() == Some("trickle")));
    for m in &mut desc.media_descriptions {
        m.attributes
            .retain(|a| !(a.key == "ice-options" && a.value.as_deref() == Some("trickle")));
        m.attributes.retain(|a| a.key != "end-of-candidates");
        if let Some(last) = m.attributes.iter().rposition(|a| a.key == "candidate") {
            m.attributes
                .insert(last + 1, Attribute::new("end-of-candidates".into(), None));
        }
    }
}

/// SDK14 (Firefox fix): make the answer's `a=group:BUNDLE` list the mids in the offer's order.
pub fn match_bundle_order(answer: &mut SessionDescription, offer: &SessionDescription) {
    let Some(offer_group) = offer
        .attributes
        .iter()
        .find(|a| a.key == "group")
        .and_then(|a| a.value.clone())
    else {
        return;
    };
    if !offer_group.starts_with("BUNDLE") {
        return;
    }
    let order: Vec<&str> = offer_group.split_whitespace().skip(1).collect();
    for a in answer.attributes.iter_mut().filter(|a| a.key == "group") {
        let Some(v) = &a.value else { continue };
        if !v.starts_with("BUNDLE") {
            continue;
        }
        let mids: Vec<&str> = v.split_whitespace().skip(1).collect();
        let mut sorted: Vec<&str> = order.iter().copied().filter(|m| mids.contains(m)).collect();
        sorted.extend(mids.iter().copied().filter(|m| !order.contains(m)));
        a.value = Some(format!("BUNDLE {}", sorted.join(" ")));
    }
}

/// Adds `a=ice-options:trickle` to every section that lacks it (SDK11 WHEP trickles only when
/// the server offer carries it).
pub fn ensure_ice_trickle(desc: &mut SessionDescription) {
    let session_has = desc.attributes.iter().any(|a| a.key == "ice-options");
    for m in &mut desc.media_descriptions {
        if session_has || m.attributes.iter().any(|a| a.key == "ice-options") {
            continue;
        }
        let at = m
            .attributes
            .iter()
            .position(|a| a.key == "ice-pwd")
            .map_or(m.attributes.len(), |i| i + 1);
        m.attributes.insert(
            at,
            Attribute::new("ice-options".into(), Some("trickle".into())),
        );
    }
}

/// Every `a=candidate` of the SDP as `(mid, section index, "candidate:…")`.
pub fn candidates(desc: &SessionDescription) -> Vec<(Option<String>, u16, String)> {
    let mut out = Vec::new();
    for (i, m) in desc.media_descriptions.iter().enumerate() {
        for a in m.attributes.iter().filter(|a| a.key == "candidate") {
            out.push((
                mid(m).map(str::to_owned),
                u16::try_from(i).unwrap_or(u16::MAX),
                format!("candidate:{}", a.value.as_deref().unwrap_or("")),
            ));
        }
    }
    out
}

/// Removes every candidate and end-of-candidates line (for trickle offers).
pub fn strip_candidates(desc: &mut SessionDescription) {
    for m in &mut desc.media_descriptions {
        m.attributes
            .retain(|a| a.key != "candidate" && a.key != "end-of-candidates");
    }
}

// ---- conference participant (§7.6 e) -------------------------------------------------------------

/// Codecs the participant munge drops from every audio section.
pub const PARTICIPANT_DROPPED_AUDIO: [&str; 6] =
    ["ISAC", "G722", "CN", "PCMU", "PCMA", "telephone-event"];

/// The conference participant's offer munge (SDK14), applied to the copy that is sent:
/// 1. drop ISAC, G722, CN, PCMU, PCMA, telephone-event (`rtpmap`/`fmtp`/`rtcp-fb`);
/// 2. in `sendrecv` video sections keep only H.264 with `profile-level-id=42…`;
/// 3. every audio and video section after the first of its kind: `sendrecv`→`recvonly`, all
///    `a=ssrc`/`a=ssrc-group` lines removed;
/// 4. bandwidth lines.
///
/// The SDK leaves `m=` lines untouched (`prune_m_line = false`, exact); `true` also removes the
/// dropped formats from `m=` for stricter parsers.
pub fn munge_participant_offer(desc: &mut SessionDescription, bw: &Bandwidth, prune_m_line: bool) {
    remove_codecs(desc, "audio", prune_m_line, |_, n| {
        PARTICIPANT_DROPPED_AUDIO
            .iter()
            .any(|d| d.eq_ignore_ascii_case(n))
    });
    for m in desc
        .media_descriptions
        .iter_mut()
        .filter(|m| m.media_name.media == "video")
    {
        if direction(m) != Direction::SendRecv {
            continue;
        }
        let gone: Vec<u8> = rtpmaps(m)
            .into_iter()
            .filter(|(pt, name)| {
                let baseline = fmtp_of(m, *pt).is_some_and(|f| {
                    f.split(';').any(|p| {
                        p.trim()
                            .strip_prefix("profile-level-id=")
                            .is_some_and(|id| id.starts_with("42"))
                    })
                });
                !(name.eq_ignore_ascii_case("H264") && baseline)
            })
            .map(|(pt, _)| pt)
            .collect();
        remove_pts(m, &gone, prune_m_line);
    }
    if prune_m_line {
        for m in &mut desc.media_descriptions {
            match m.media_name.media.as_str() {
                "audio" => {
                    prune_orphans(m, &|_, n| {
                        PARTICIPANT_DROPPED_AUDIO
                            .iter()
                            .any(|d| d.eq_ignore_ascii_case(n))
                    });
                }
                "video" => {
                    prune_orphans(m, &|_, _| true);
                }
                _ => {}
            }
        }
    }
    let (mut seen_audio, mut seen_video) = (false, false);
    for m in &mut desc.media_descriptions {
        let seen = match m.media_name.media.as_str() {
            "audio" => &mut seen_audio,
            "video" => &mut seen_video,
            _ => continue,
        };
        if *seen {
            if direction(m) == Direction::SendRecv {
                set_direction(m, Direction::RecvOnly);
            }
            m.attributes.retain(|a| !a.key.starts_with("ssrc"));
        }
        *seen = true;
    }
    set_bandwidth(desc, bw);
}

// ---- string wrappers ----------------------------------------------------------------------------------

fn edit(text: &str, f: impl FnOnce(&mut SessionDescription)) -> Result<String> {
    let mut d = parse(text)?;
    f(&mut d);
    Ok(write(&d))
}

pub fn set_bandwidth_str(text: &str, bw: &Bandwidth) -> Result<String> {
    edit(text, |d| set_bandwidth(d, bw))
}

pub fn munge_stereo_str(text: &str) -> Result<String> {
    edit(text, |d| {
        munge_stereo(d);
    })
}

pub fn force_h264_profile_str(text: &str, profile: &str) -> Result<String> {
    edit(text, |d| {
        force_h264_profile(d, profile);
    })
}

pub fn munge_participant_offer_str(
    text: &str,
    bw: &Bandwidth,
    prune_m_line: bool,
) -> Result<String> {
    edit(text, |d| munge_participant_offer(d, bw, prune_m_line))
}
