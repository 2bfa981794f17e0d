//! Conference participants over real sockets with real media (issue 6 §4): three webrtc-rs
//! participants join with `joinGroup` (tones 440/660/880 Hz, red/green/blue patterns), the host
//! promotes them; each hears the other two and never itself (by spectrum), the composite shows
//! the presenter large, presenter changes and demotes move it, exclusion survives a republish,
//! leaveGroup and destroy tear down.
#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use common::av::*;
use common::*;
use red5_localsm::{LocalServer, ServerConfig};
use red5_media::synthetic::PatternColor;
use red5_mixer::{compute_layout, LayoutKind, Rect, TileRole};
use serde_json::{json, Value};

const W_MIX: u32 = 640;
const H_MIX: u32 = 360;

fn create() -> Value {
    json!({"type":"createComposition","event":"room1","digest":"t","transcodeComposition":false,
        "mixers":[{"mixerName":"m1","mixingPage":"https://x/?sm=true","streamName":"room1","path":"live/room1",
                   "width":W_MIX.to_string(),"height":H_MIX.to_string(),"framerate":"15","bitrate":"800","doForward":true,
                   "destinationMixerName":""}],"location":["local"]})
}

fn cmd(t: &str, room: &str, s: &str) -> Value {
    json!({"type": t, "room": room, "streamName": s})
}

fn tiles(presenter: &str, order: &[&str]) -> Vec<(String, Rect, bool)> {
    let ids: Vec<String> = order.iter().map(|s| s.to_string()).collect();
    compute_layout(W_MIX, H_MIX, &LayoutKind::Presenter, Some(presenter), &ids)
        .into_iter()
        .map(|t| (t.id, t.rect, t.role == TileRole::Main))
        .collect()
}

/// Every tile of the expected layout shows its participant's colour.
fn layout_matches(
    p: &Participant,
    want: &[(String, Rect, bool)],
    colors: &[(&str, PatternColor)],
) -> bool {
    let Some(f) = p.picture() else { return false };
    want.iter().all(|(id, rect, _)| {
        let c = colors.iter().find(|(n, _)| n == id).unwrap().1;
        color_in(&f, *rect) == Some(c)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn participants_hear_mix_minus_and_see_the_presenter_layout() {
    let s = LocalServer::start(ServerConfig::default()).await.unwrap();
    let mut host = ws_connect(&s.backend_ws_url_for("live/room1", true)).await;
    ws_send(&mut host, create()).await;
    ws_until(&mut host, |v| {
        v["type"] == "activeCompositions" && v["list"][0]["mixers"][0]["state"] == "composing"
    })
    .await;

    let people = [
        ("alice", PatternColor::Red, 440.0f32),
        ("bob", PatternColor::Green, 660.0),
        ("carol", PatternColor::Blue, 880.0),
    ];
    let colors: Vec<(&str, PatternColor)> = people.iter().map(|(n, c, _)| (*n, *c)).collect();
    let mut ps = Vec::new();
    for (name, color, freq) in people {
        let p = join(&s, "live/room1", "room1", name, color, freq).await;
        assert!(
            u32::from_str_radix(&p.id, 16).is_ok() && p.id.len() == 6,
            "participantId is 24 bits of hex: {}",
            p.id
        );
        ps.push(p);
    }
    // Their conference publishes reach the room's `active` list (internal webhook).
    ws_until(&mut host, |v| {
        v["type"] == "active" && v["streams"].as_array().is_some_and(|a| a.len() == 3)
    })
    .await;
    for (name, _, _) in people {
        ws_send(&mut host, cmd("promote", "live/room1", name)).await;
    }

    // Mix-minus: the other two tones, never one's own (3 extra audio tracks each).
    for (i, (name, _, own)) in people.iter().enumerate() {
        let p = &ps[i];
        let others: Vec<f32> = people
            .iter()
            .filter(|x| x.0 != *name)
            .map(|x| x.2)
            .collect();
        eventually(&format!("{name} hears {others:?}"), || {
            others.iter().all(|f| p.tone(*f, 1.0) > 0.002)
        })
        .await;
        assert_eq!(p.audio_tracks(), 3, "{name}: three mix-minus tracks");
        let loudest_other = others
            .iter()
            .map(|f| p.tone(*f, 1.0))
            .fold(f32::MAX, f32::min);
        let mine = p.tone(*own, 1.0);
        assert!(
            mine * 30.0 < loudest_other,
            "{name} hears its own voice: {mine} vs others {loudest_other}"
        );
    }

    // The composite: alice (first promoted) is the presenter, large.
    let want = tiles("alice", &["alice", "bob", "carol"]);
    assert!(want.iter().any(|t| t.0 == "alice" && t.2));
    eventually("alice large, bob and carol tiled", || {
        ps.iter().all(|p| layout_matches(p, &want, &colors))
    })
    .await;

    // Presenter change.
    ws_send(&mut host, cmd("presenter", "live/room1", "bob")).await;
    let want = tiles("bob", &["alice", "bob", "carol"]);
    eventually("bob moves to the large region", || {
        layout_matches(&ps[0], &want, &colors)
    })
    .await;

    // Demote carol: out of the layout and out of the others' audio.
    ws_send(&mut host, cmd("demote", "live/room1", "carol")).await;
    let want = tiles("bob", &["alice", "bob"]);
    eventually("carol is gone from the composite", || {
        layout_matches(&ps[0], &want, &colors)
    })
    .await;
    eventually("alice no longer hears carol", || {
        ps[0].tone(880.0, 1.0) < 0.0002 && ps[0].tone(660.0, 1.0) > 0.002
    })
    .await;

    // leaveGroup: the conference publish ends.
    let mut carol = ps.pop().unwrap();
    ws_send(&mut carol.ws, json!({"leaveGroup": "room1"})).await;
    ws_until(&mut carol.ws, |v| {
        v["data"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Leaving group room1"))
    })
    .await;
    eventually("carol's conference stream is unpublished", || {
        !s.published_streams()
            .contains(&"live/room1/carol".to_owned())
    })
    .await;

    // Destroy: the composite stream goes away.
    ws_send(
        &mut host,
        json!({"type":"destroyComposition","event":"room1"}),
    )
    .await;
    eventually("the composite is unpublished", || {
        !s.published_streams()
            .contains(&"live/room1/room1".to_owned())
    })
    .await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusion_survives_a_republish() {
    let s = LocalServer::start(ServerConfig::default()).await.unwrap();
    let mut host = ws_connect(&s.backend_ws_url_for("live/room1_wr", true)).await;
    let dave = whip_publish(&s, "live/room1_wr/dave", PatternColor::Orange, 440.0).await;
    ws_until(&mut host, |v| {
        v["type"] == "active" && v["streams"] == json!(["dave"])
    })
    .await;
    ws_send(&mut host, cmd("exclude", "live/room1_wr", "dave")).await;
    ws_until(&mut host, |v| {
        v["type"] == "excluded" && v["streams"] == json!(["dave"])
    })
    .await;
    ws_until(&mut host, |v| {
        v["type"] == "active" && v["streams"].as_array().is_none_or(|a| a.is_empty())
    })
    .await;
    // Dave leaves and publishes again: still not listed, and cannot be promoted.
    let r = http(&s.base_url(), "DELETE", &dave.resource, &[], "").await;
    assert_eq!(r.status, 200);
    drop(dave);
    eventually("dave's first publish ended", || {
        !s.published_streams()
            .contains(&"live/room1_wr/dave".to_owned())
    })
    .await;
    let _dave2 = whip_publish(&s, "live/room1_wr/dave", PatternColor::Orange, 440.0).await;
    assert!(s
        .published_streams()
        .contains(&"live/room1_wr/dave".to_owned()));
    assert!(
        s.conference().active("live/room1_wr").is_empty(),
        "an excluded name is never listed again"
    );
    ws_send(&mut host, cmd("promote", "live/room1", "dave")).await;
    let v = ws_until(&mut host, |v| v["type"] == "error").await;
    assert!(v["error"].as_str().unwrap().contains("excluded"), "{v}");
    assert!(s.conference().conference("live/room1").0.is_empty());
    // Nor can dave join the conference as a participant (no composite, no mix-minus for him).
    let mut ws = ws_connect(&format!(
        "{}/streammanager/?id=dave&host=127.0.0.1&app=live/room1",
        s.ws_url()
    ))
    .await;
    ws_until(&mut ws, |v| {
        v["data"]["code"] == "NetConnection.Connect.Success"
    })
    .await;
    ws_send(
        &mut ws,
        json!({"joinGroup":"room1","streamName":"dave","transport":"udp",
               "data":{"sdp":{"type":"offer","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n"}}}),
    )
    .await;
    let v = ws_until(&mut ws, |v| v["data"]["type"] == "error").await;
    assert!(
        v["data"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("excluded"),
        "{v}"
    );
    assert!(!s
        .published_streams()
        .contains(&"live/room1/dave".to_owned()));
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_who_joined_first_gets_the_composite_once_it_exists() {
    let s = LocalServer::start(ServerConfig::default()).await.unwrap();
    let p = join(
        &s,
        "live/room1",
        "room1",
        "erin",
        PatternColor::Magenta,
        440.0,
    )
    .await;
    let mut host = ws_connect(&s.backend_ws_url_for("live/room1", true)).await;
    ws_send(&mut host, cmd("promote", "live/room1", "erin")).await;
    assert!(p.picture().is_none(), "no composite before the composition");
    ws_send(&mut host, create()).await;
    let want = tiles("erin", &["erin"]);
    eventually("erin sees herself as the presenter", || {
        layout_matches(&p, &want, &[("erin", PatternColor::Magenta)])
    })
    .await;
    // A second composition after a destroy is picked up again.
    ws_send(
        &mut host,
        json!({"type":"destroyComposition","event":"room1"}),
    )
    .await;
    eventually("the composite is unpublished", || {
        !s.published_streams()
            .contains(&"live/room1/room1".to_owned())
    })
    .await;
    let before = p
        .composite
        .lock()
        .unwrap()
        .as_ref()
        .unwrap()
        .decoded
        .load(std::sync::atomic::Ordering::Relaxed);
    ws_send(&mut host, create()).await;
    eventually("the new composite reaches erin", || {
        p.composite
            .lock()
            .unwrap()
            .as_ref()
            .unwrap()
            .decoded
            .load(std::sync::atomic::Ordering::Relaxed)
            > before + 10
    })
    .await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mix_minus_first_puts_the_whole_mix_minus_on_one_track() {
    let s = LocalServer::start(ServerConfig {
        mix_minus: red5_mixer::AudioTrackPlan::MixMinusFirst,
        ..Default::default()
    })
    .await
    .unwrap();
    let mut host = ws_connect(&s.backend_ws_url_for("live/room1", true)).await;
    ws_send(&mut host, create()).await;
    let people = [
        ("alice", PatternColor::Red, 440.0f32),
        ("bob", PatternColor::Green, 660.0),
        ("carol", PatternColor::Blue, 880.0),
    ];
    let mut ps = Vec::new();
    for (name, color, freq) in people {
        ps.push(join(&s, "live/room1", "room1", name, color, freq).await);
        ws_send(&mut host, cmd("promote", "live/room1", name)).await;
    }
    // alice: one track carries bob + carol together; none carries alice.
    let freqs = [440.0, 660.0, 880.0];
    eventually("one of alice's tracks holds both other tones", || {
        ps[0]
            .per_track(&freqs, 1.0)
            .iter()
            .any(|t| t[1] > 0.002 && t[2] > 0.002)
    })
    .await;
    let tracks = ps[0].per_track(&freqs, 1.0);
    assert!(
        tracks.iter().all(|t| t[0] < 0.0002),
        "alice hears herself: {tracks:?}"
    );
    s.shutdown().await;
}

/// A participant's PLI on its composite section makes the mixer encode a key frame next, not at
/// its periodic 2 s (30 frames at 15 fps) schedule: right after a periodic key frame, the PLI's
/// key frame arrives within a few frames, three times in a row.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_participants_pli_on_the_composite_brings_a_key_frame_next() {
    let s = LocalServer::start(ServerConfig::default()).await.unwrap();
    let mut host = ws_connect(&s.backend_ws_url_for("live/room1", true)).await;
    ws_send(&mut host, create()).await;
    let p = join(&s, "live/room1", "room1", "fay", PatternColor::Cyan, 440.0).await;
    ws_send(&mut host, cmd("promote", "live/room1", "fay")).await;
    let sink = || {
        let g = p.composite.lock().unwrap();
        let v = g.as_ref()?;
        Some((v.frames.clone(), v.key_at.clone(), v.track.clone()))
    };
    eventually("the composite decodes", || {
        p.composite
            .lock()
            .unwrap()
            .as_ref()
            .is_some_and(|v| v.decoded.load(std::sync::atomic::Ordering::Relaxed) > 0)
    })
    .await;
    let (frames, key_at, track) = sink().unwrap();
    let keys = || key_at.lock().unwrap().clone();
    for round in 0..3 {
        // Wait for a fresh key frame (periodic or not), then ask for another at once.
        let n = keys().len();
        eventually("a key frame", || keys().len() > n).await;
        let asked_at = frames.load(std::sync::atomic::Ordering::Relaxed);
        let since_key = asked_at - *keys().last().unwrap();
        send_pli(&track).await;
        let n = keys().len();
        eventually("the requested key frame", || keys().len() > n).await;
        let got_at = keys()[n];
        assert!(
            got_at - asked_at <= 8 && since_key <= 4,
            "round {round}: key frame {} frames after the PLI ({} after the previous key frame); \
             the periodic one comes 30 frames apart",
            got_at - asked_at,
            since_key
        );
    }
    s.shutdown().await;
}
