//! Small SDP edits and reads the server needs (pure functions, tested below).

use rtc::rtp_transceiver::rtp_sender::RTCRtpCodec;

use crate::peer::Negotiated;

/// Basic shape check of a client SDP: `v=0` first and at least one `m=` section.
pub fn validate(sdp: &str) -> Result<(), String> {
    let t = sdp.trim_start();
    if t.is_empty() {
        return Err("the SDP is empty".into());
    }
    if !t.starts_with("v=0") {
        return Err("the SDP does not start with v=0".into());
    }
    if !t.lines().any(|l| l.starts_with("m=")) {
        return Err("the SDP has no media section".into());
    }
    if !t.lines().any(|l| l.starts_with("a=ice-ufrag:")) {
        return Err("the SDP has no ICE credentials".into());
    }
    Ok(())
}

/// Red5's server SDPs carry `o=red5pro …`.
pub fn red5_origin(sdp: &str) -> String {
    map_lines(sdp, |l| {
        l.strip_prefix("o=").map(|rest| match rest.split_once(' ') {
            Some((_, tail)) => format!("o=red5pro {tail}"),
            None => l.to_owned(),
        })
    })
}

/// SDK 11 only trickles its candidates (PATCH sdpfrag) when the server offer has
/// `a=ice-options:trickle`.
pub fn ensure_trickle(sdp: &str) -> String {
    if sdp.contains("a=ice-options:trickle") {
        return sdp.to_owned();
    }
    let mut out = String::with_capacity(sdp.len() + 24);
    let mut done = false;
    for line in sdp.split_inclusive('\n') {
        out.push_str(line);
        if !done && line.starts_with("t=") {
            out.push_str("a=ice-options:trickle\r\n");
            done = true;
        }
    }
    out
}

fn map_lines(sdp: &str, f: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(sdp.len() + 16);
    for line in sdp.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        let ending = &line[body.len()..];
        match f(body) {
            Some(new) => {
                out.push_str(&new);
                out.push_str(ending);
            }
            None => out.push_str(line),
        }
    }
    out
}

/// Whether an offer carries H.264 constrained baseline (42e01f, packetization-mode=1), the
/// codec Red5 prefers; otherwise the server falls back to VP8.
pub fn offers_h264(sdp: &str) -> bool {
    let pts: Vec<&str> = sdp
        .lines()
        .filter_map(|l| l.trim_end().strip_prefix("a=rtpmap:"))
        .filter_map(|v| v.split_once(' '))
        .filter(|(_, c)| c.to_ascii_uppercase().starts_with("H264/"))
        .map(|(pt, _)| pt)
        .collect();
    sdp.lines()
        .filter_map(|l| l.trim_end().strip_prefix("a=fmtp:"))
        .any(|v| {
            let Some((pt, params)) = v.split_once(' ') else {
                return false;
            };
            let p = params.to_ascii_lowercase();
            pts.contains(&pt)
                && p.contains("profile-level-id=42e01f")
                && p.contains("packetization-mode=1")
        })
}

/// The codec chosen in the first active `m=<kind>` section of a (local) answer: the first
/// payload type of the m-line with its rtpmap and fmtp.
pub fn negotiated(sdp: &str, kind: &str) -> Option<Negotiated> {
    let mut in_section = false;
    let mut pt: Option<u8> = None;
    let mut rtpmap: Option<(String, u32, u16)> = None;
    let mut fmtp = String::new();
    for line in sdp.lines().map(|l| l.trim_end_matches('\r')) {
        if let Some(m) = line.strip_prefix("m=") {
            if pt.is_some() {
                break;
            }
            let mut parts = m.split(' ');
            let k = parts.next().unwrap_or_default();
            let port = parts.next().unwrap_or("0");
            in_section = k == kind && port != "0";
            if in_section {
                pt = parts.nth(1).and_then(|p| p.parse().ok());
            }
            continue;
        }
        if !in_section {
            continue;
        }
        let Some(p) = pt else { continue };
        if line == "a=inactive" {
            pt = None;
            in_section = false;
            continue;
        }
        if let Some(v) = line.strip_prefix(&format!("a=rtpmap:{p} ")) {
            let mut it = v.split('/');
            let name = it.next().unwrap_or_default().to_owned();
            let rate = it.next().and_then(|r| r.parse().ok()).unwrap_or(90_000);
            let ch = it.next().and_then(|c| c.parse().ok()).unwrap_or(0);
            rtpmap = Some((name, rate, ch));
        } else if let Some(v) = line.strip_prefix(&format!("a=fmtp:{p} ")) {
            fmtp = v.to_owned();
        }
    }
    let (name, clock_rate, channels) = rtpmap?;
    Some(Negotiated {
        codec: RTCRtpCodec {
            mime_type: format!("{kind}/{name}"),
            clock_rate,
            channels,
            sdp_fmtp_line: fmtp,
            rtcp_feedback: vec![],
        },
        payload_type: pt?,
    })
}

/// `(kind, direction)` of every audio/video section that is not rejected (port 0), in order.
/// A section without a direction attribute is `sendrecv`.
pub fn media_sections(sdp: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in sdp.lines().map(|l| l.trim_end_matches('\r')) {
        if let Some(m) = line.strip_prefix("m=") {
            out.extend(current.take());
            let mut parts = m.split(' ');
            let kind = parts.next().unwrap_or_default();
            let port = parts.next().unwrap_or("0");
            if (kind == "audio" || kind == "video") && port != "0" {
                current = Some((kind.to_owned(), "sendrecv".to_owned()));
            }
            continue;
        }
        if let Some((_, dir)) = current.as_mut() {
            if let Some(d) = line.strip_prefix("a=") {
                if matches!(d, "sendrecv" | "sendonly" | "recvonly" | "inactive") {
                    *dir = d.to_owned();
                }
            }
        }
    }
    out.extend(current);
    out
}

/// Removes from every `m=` line the payload types that have no `a=rtpmap` in their section.
/// SDK 11's conference participant deletes the rtpmap/fmtp lines of codecs it does not want but
/// leaves their numbers on the `m=` line (FINDINGS.md), which webrtc-rs refuses ("payload type
/// not found"). Sections that would be left with no payload keep their line as it was.
pub fn drop_unmapped_payloads(sdp: &str) -> String {
    let lines: Vec<&str> = sdp.split("\r\n").collect();
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let Some(m) = line.strip_prefix("m=") else {
            out.push(line.to_owned());
            i += 1;
            continue;
        };
        let end = lines[i + 1..]
            .iter()
            .position(|l| l.starts_with("m="))
            .map_or(lines.len(), |p| i + 1 + p);
        let mapped: Vec<&str> = lines[i + 1..end]
            .iter()
            .filter_map(|l| l.strip_prefix("a=rtpmap:"))
            .filter_map(|r| r.split(' ').next())
            .collect();
        let parts: Vec<&str> = m.split(' ').collect();
        let is_rtp = parts.get(2).is_some_and(|p| p.contains("RTP"));
        if is_rtp && parts.len() > 3 {
            let kept: Vec<&str> = parts[3..]
                .iter()
                .copied()
                .filter(|pt| mapped.contains(pt))
                .collect();
            if kept.is_empty() {
                out.push(line.to_owned());
            } else {
                out.push(format!("m={} {}", parts[..3].join(" "), kept.join(" ")));
            }
        } else {
            out.push(line.to_owned());
        }
        out.extend(lines[i + 1..end].iter().map(|l| (*l).to_owned()));
        i = end;
    }
    out.join("\r\n")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    const ANSWER: &str = "v=0\r\no=- 123 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 102 96\r\na=mid:1\r\na=rtpmap:102 H264/90000\r\na=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\na=rtpmap:96 VP8/90000\r\n";

    #[test]
    fn negotiated_reads_first_payload_type() {
        let v = negotiated(ANSWER, "video").unwrap();
        assert_eq!(v.payload_type, 102);
        assert_eq!(v.codec.mime_type, "video/H264");
        assert!(v.codec.sdp_fmtp_line.contains("42e01f"));
        let a = negotiated(ANSWER, "audio").unwrap();
        assert_eq!(
            (a.payload_type, a.codec.clock_rate, a.codec.channels),
            (111, 48_000, 2)
        );
    }

    #[test]
    fn h264_detection() {
        assert!(offers_h264(ANSWER));
        assert!(!offers_h264(&ANSWER.replace("42e01f", "640c1f")));
        assert!(!offers_h264(
            &ANSWER.replace("packetization-mode=1", "packetization-mode=0")
        ));
    }

    #[test]
    fn rejected_section_is_ignored() {
        let sdp = ANSWER.replace("m=video 9", "m=video 0");
        assert!(negotiated(&sdp, "video").is_none());
    }

    #[test]
    fn origin_and_trickle() {
        let s = red5_origin(ANSWER);
        assert!(s.starts_with("v=0\r\no=red5pro 123 2 IN IP4 0.0.0.0\r\n"));
        let t = ensure_trickle(&s);
        assert!(t.contains("t=0 0\r\na=ice-options:trickle\r\n"));
        assert_eq!(ensure_trickle(&t), t);
    }

    #[test]
    fn validate_rejects_garbage() {
        assert!(validate("").is_err());
        assert!(validate("hello").is_err());
        assert!(validate("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n").is_err());
        assert!(validate(&format!("{ANSWER}a=ice-ufrag:abcd\r\n")).is_ok());
    }

    #[test]
    fn media_sections_with_directions() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendrecv\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=recvonly\r\nm=video 0 UDP/TLS/RTP/SAVPF 96\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n";
        assert_eq!(
            media_sections(sdp),
            [
                ("audio", "sendrecv"),
                ("audio", "recvonly"),
                ("video", "sendrecv")
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
    }

    #[test]
    fn unmapped_payloads_leave_the_m_line() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:63 red/48000/2\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:2\r\n";
        let out = drop_unmapped_payloads(sdp);
        assert!(
            out.contains("m=audio 9 UDP/TLS/RTP/SAVPF 111 63\r\n"),
            "{out}"
        );
        assert!(out.contains("m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"));
        assert!(out.ends_with("a=mid:2\r\n"));
    }
}
