//! The publisher engine: sources → encoders (red5-media) → webrtc-rs tracks, signalled over
//! WHIP or the WS proxy (red5-signal), with the `red5pro` data channel for `send()`/metadata,
//! key frames on PLI/FIR, mute, status events, stats and automatic reconnect.
//!
//! The capture/encode pipelines live for the whole session; each connection attempt builds a
//! fresh peer connection and the encoded frames flow into whichever tracks are current.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use red5_media::analysis::Level;
use red5_media::codec::{EncodedVideo, VideoCodec, VideoEncoderConfig};
use red5_media::pipeline::{AudioSendPipeline, EncodedAudio, SendOutput, VideoSendPipeline};
use red5_media::{VideoFrame, VideoSettings};
use red5_signal::dc::{self, StatusEvent};
use red5_signal::driver::SignalEvent;
use rtc::media::Sample;
use rtc::media_stream::MediaStreamTrack;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::peer_connection::{RTCSessionDescription, StatsSelector};

use crate::config::{explain, open_signalling, Endpoint, Role};
use crate::error::{Error, Result};
use crate::link::{Link, LinkEvent, Raw};
use crate::peer::{build_peer, is_loopback_url, opus_codec, video_codec, PeerSpec};
use crate::reconnect::{Next, ReconnectPolicy, Reconnector};
use crate::stats::{Counters, StatsBook, StatsMeter, StatsSnapshot};

/// Video to publish.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishVideo {
    /// A media source id: `camera:N`, `synthetic:pattern[:colour]`, `file:/x.y4m`.
    pub source: String,
    pub codec: VideoCodec,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_bps: u32,
}

/// Audio to publish (Opus, 48 kHz).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishAudio {
    /// A media source id: a microphone id, `synthetic:tone[:hz]`, `file:/x.wav`.
    pub source: String,
    pub bitrate_bps: u32,
    pub channels: u16,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublisherConfig {
    pub endpoint: Endpoint,
    pub stream_name: String,
    pub video: Option<PublishVideo>,
    pub audio: Option<PublishAudio>,
    /// Red5 `keyFramerate` (ms between key frames).
    pub key_framerate_ms: u32,
    /// The app's own ICE servers; empty = the ones the server announces.
    pub ice_servers: Vec<crate::config::IceServerConfig>,
    pub reconnect: ReconnectPolicy,
    /// How long one attempt may take to reach `Publish.Start`.
    pub start_timeout: Duration,
}

impl PublisherConfig {
    /// 640x360 at 30 fps, 800 kbps H.264 from `video_source`, Opus 64 kbps from `audio_source`.
    pub fn new(
        endpoint: Endpoint,
        stream_name: impl Into<String>,
        video_source: Option<&str>,
        audio_source: Option<&str>,
    ) -> Self {
        PublisherConfig {
            endpoint,
            stream_name: stream_name.into(),
            video: video_source.map(|s| PublishVideo {
                source: s.into(),
                codec: VideoCodec::H264,
                width: 640,
                height: 360,
                fps: 30,
                bitrate_bps: 800_000,
            }),
            audio: audio_source.map(|s| PublishAudio {
                source: s.into(),
                bitrate_bps: 64_000,
                channels: 1,
            }),
            key_framerate_ms: 3000,
            ice_servers: Vec::new(),
            reconnect: ReconnectPolicy::default(),
            start_timeout: Duration::from_secs(20),
        }
    }
}

/// Where a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SessionState {
    Connecting,
    Live,
    Reconnecting,
    Stopped,
    Failed,
}

/// Bandwidth notices from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Bandwidth {
    Insufficient,
    Sufficient,
    Recovering,
}

/// Everything a publisher reports. Serialises as `{"type": "...", ...}` (camelCase) for the
/// UI's event stream; errors become their sentence, delays milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum PublisherEvent {
    State {
        state: SessionState,
    },
    /// `Publish.Start`: the server accepted the stream (also after each reconnect).
    Started,
    /// Messages now travel on the data channel (`MessageTransport.Change`).
    TransportSwitched,
    Bandwidth {
        bandwidth: Bandwidth,
    },
    /// Any other status from the server, in words.
    ServerStatus {
        status: String,
    },
    /// A `send()` relayed to us, or an RPC answer.
    Message {
        method: String,
        data: Value,
    },
    /// The server (a subscriber) asked for a key frame.
    KeyframeRequested,
    IceState {
        state: String,
    },
    /// The connection dropped; trying again after `delay`.
    Reconnecting {
        attempt: u32,
        of: u32,
        delay: Duration,
        reason: String,
    },
    /// Live again after a drop.
    Reconnected,
    /// A camera or microphone went away (its stream stops; the session stays).
    DeviceLost {
        message: String,
    },
    Warning {
        message: String,
    },
    Stats {
        stats: StatsSnapshot,
    },
    /// Clean stop finished (unpublished).
    Unpublished,
    /// The session ended with this error.
    Failed {
        error: Error,
    },
}

enum Cmd {
    Send(dc::ClientMessage, oneshot::Sender<Result<()>>),
    MuteAudio(bool),
    MuteVideo(bool),
    SetBitrate(u32),
    Stop(oneshot::Sender<()>),
}

/// A negotiated local track the encoded frames are written to.
#[derive(Clone)]
pub(crate) struct Sink {
    pub track: Arc<TrackLocalStaticSample>,
    pub ssrc: u32,
    pub pt: u8,
}

impl Sink {
    /// The track once the answer is applied: it is sent with the first codec the server accepted.
    pub(crate) async fn negotiated(
        track: Arc<TrackLocalStaticSample>,
        ssrc: u32,
        sender: &Arc<dyn webrtc::rtp_transceiver::RtpSender>,
    ) -> Result<Sink> {
        let pt = sender
            .get_parameters()
            .await?
            .rtp_parameters
            .codecs
            .first()
            .map(|c| c.payload_type)
            .ok_or_else(|| Error::WebRtc("the server accepted no codec for our media".into()))?;
        Ok(Sink { track, ssrc, pt })
    }
}

struct Shared {
    counters: Arc<Counters>,
    stats: StatsBook,
    state: Mutex<SessionState>,
    video_sink: Mutex<Option<Sink>>,
    audio_sink: Mutex<Option<Sink>>,
    /// A conference participant's joinGroup connection: the same encoded frames go there too.
    conf_video: Mutex<Option<Sink>>,
    conf_audio: Mutex<Option<Sink>>,
    video: Mutex<Option<VideoSendPipeline>>,
    audio: Mutex<Option<AudioSendPipeline>>,
    video_muted: AtomicBool,
}

impl Shared {
    fn request_keyframe(&self) {
        if let Ok(v) = self.video.lock() {
            if let Some(p) = v.as_ref() {
                p.request_keyframe();
            }
        }
    }
}

/// Handle to a running publisher. Dropping it stops the session.
pub struct Publisher {
    cmd: mpsc::UnboundedSender<Cmd>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// Opens the sources, starts encoding and connecting. Errors here are about the settings
    /// or the devices; connection problems arrive as events.
    pub async fn start(
        cfg: PublisherConfig,
    ) -> Result<(Publisher, mpsc::UnboundedReceiver<PublisherEvent>)> {
        cfg.endpoint.validate(&cfg.stream_name)?;
        if cfg.video.is_none() && cfg.audio.is_none() {
            return Err(Error::Config(
                "nothing to publish: choose a camera or a microphone".into(),
            ));
        }
        let (vcfg, acfg) = (cfg.video.clone(), cfg.audio.clone());
        let key_ms = cfg.key_framerate_ms;
        let opened = tokio::task::spawn_blocking(move || -> Result<_> {
            let video = match vcfg {
                Some(v) => {
                    let settings = VideoSettings {
                        width: v.width,
                        height: v.height,
                        fps: v.fps,
                        format: None,
                    };
                    let src = red5_media::open_video_source(Some(&v.source), &settings)?;
                    let (w, h, fps) = src.format();
                    let mut enc = VideoEncoderConfig::new(w, h, fps.max(1), v.bitrate_bps);
                    enc.keyframe_interval =
                        (u64::from(fps.max(1)) * u64::from(key_ms) / 1000).max(1) as u32;
                    let (p, rx) = VideoSendPipeline::start(src, v.codec, enc)?;
                    Some((p, rx, w, h, fps.max(1)))
                }
                None => None,
            };
            let audio = match acfg {
                Some(a) => {
                    let src =
                        red5_media::open_audio_source(Some(&a.source), a.channels.clamp(1, 2))?;
                    Some(AudioSendPipeline::start(src, a.bitrate_bps)?)
                }
                None => None,
            };
            Ok((video, audio))
        })
        .await
        .map_err(|e| Error::Media(format!("could not open the sources: {e}")))??;
        let (video, audio) = opened;

        let shared = Arc::new(Shared {
            counters: Arc::new(Counters::default()),
            stats: StatsBook::default(),
            state: Mutex::new(SessionState::Connecting),
            video_sink: Mutex::new(None),
            audio_sink: Mutex::new(None),
            conf_video: Mutex::new(None),
            conf_audio: Mutex::new(None),
            video: Mutex::new(None),
            audio: Mutex::new(None),
            video_muted: AtomicBool::new(false),
        });
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let rt = tokio::runtime::Handle::current();
        if let Some((p, rx, w, h, fps)) = video {
            if let Ok(mut g) = shared.video.lock() {
                *g = Some(p);
            }
            spawn_video_pump(rt.clone(), shared.clone(), rx, w, h, fps, ev_tx.clone());
        }
        if let Some((p, rx)) = audio {
            if let Ok(mut g) = shared.audio.lock() {
                *g = Some(p);
            }
            spawn_audio_pump(rt, shared.clone(), rx, ev_tx.clone());
        }
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        tokio::spawn(run(cfg, shared.clone(), cmd_rx, ev_tx));
        Ok((
            Publisher {
                cmd: cmd_tx,
                shared,
            },
            ev_rx,
        ))
    }

    /// `send(method, data)` over the message transport (WS before the switch, the data channel
    /// after). While reconnecting, messages wait and go out once live again.
    pub async fn send(&self, method: impl Into<String>, data: Value) -> Result<()> {
        let method = method.into();
        if method.trim().is_empty() {
            return Err(Error::Config("a message needs a method name".into()));
        }
        let (tx, rx) = oneshot::channel();
        self.cmd
            .send(Cmd::Send(dc::ClientMessage::send(method, data), tx))
            .map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// `send('onMetaData', value)`.
    pub async fn send_metadata(&self, value: Value) -> Result<()> {
        self.send("onMetaData", value).await
    }

    /// Mic mute: silent audio keeps flowing; the server is told with `{"mute":{"muteAudio":…}}`.
    pub fn mute_audio(&self, muted: bool) -> Result<()> {
        self.cmd
            .send(Cmd::MuteAudio(muted))
            .map_err(|_| Error::Closed)
    }

    /// Camera mute: no video frames go out; the server is told with `{"mute":{"muteVideo":…}}`.
    pub fn mute_video(&self, muted: bool) -> Result<()> {
        self.cmd
            .send(Cmd::MuteVideo(muted))
            .map_err(|_| Error::Closed)
    }

    /// Change the video bitrate live.
    pub fn set_video_bitrate(&self, bps: u32) -> Result<()> {
        self.cmd
            .send(Cmd::SetBitrate(bps))
            .map_err(|_| Error::Closed)
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.latest()
    }

    /// Every per-second snapshot while live (the last hour), as a JSON array for export.
    pub fn export_stats_json(&self) -> String {
        self.shared.stats.export_json()
    }

    pub fn state(&self) -> SessionState {
        self.shared
            .state
            .lock()
            .map(|s| *s)
            .unwrap_or(SessionState::Failed)
    }

    /// The newest captured frame for the local preview.
    pub fn preview(&self) -> Option<VideoFrame> {
        self.shared.video.lock().ok()?.as_ref()?.take_preview()
    }

    /// The microphone level for a meter (before mute).
    pub fn mic_level(&self) -> Level {
        self.shared
            .audio
            .lock()
            .ok()
            .and_then(|a| a.as_ref().map(|p| p.level()))
            .unwrap_or(Level::SILENT)
    }

    /// Also send the encoded media to these tracks (a participant's conference connection),
    /// or stop doing so (`None`). The capture and encoders are shared, not opened twice.
    pub(crate) fn set_conference_sinks(&self, video: Option<Sink>, audio: Option<Sink>) {
        if let Ok(mut g) = self.shared.conf_video.lock() {
            *g = video;
        }
        if let Ok(mut g) = self.shared.conf_audio.lock() {
            *g = audio;
        }
        self.shared.request_keyframe();
    }

    /// Force a key frame now (a new receiver joined).
    pub(crate) fn request_keyframe(&self) {
        self.shared.request_keyframe();
    }

    /// The encoder's video codec (None when publishing audio only).
    pub(crate) fn has_video(&self) -> bool {
        self.shared.video.lock().is_ok_and(|v| v.is_some())
    }

    /// Unpublish cleanly and wait until the session has ended.
    pub async fn stop(&self) {
        let (tx, rx) = oneshot::channel();
        if self.cmd.send(Cmd::Stop(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

fn spawn_video_pump(
    rt: tokio::runtime::Handle,
    shared: Arc<Shared>,
    rx: std::sync::mpsc::Receiver<SendOutput<EncodedVideo>>,
    width: u32,
    height: u32,
    fps: u32,
    ev: mpsc::UnboundedSender<PublisherEvent>,
) {
    let spawned = std::thread::Builder::new()
        .name("publish video".into())
        .spawn(move || {
            let mut prev: Option<Duration> = None;
            while let Ok(out) = rx.recv() {
                let e = match out {
                    SendOutput::Frame(e) => e,
                    SendOutput::Stopped(why) => {
                        if let Some(w) = why {
                            let _ = ev.send(PublisherEvent::DeviceLost {
                                message: w.to_string(),
                            });
                        }
                        break;
                    }
                };
                let frame_time = Duration::from_secs(1) / fps;
                let duration = prev.map_or(frame_time, |p| {
                    e.timestamp.saturating_sub(p).max(Duration::from_millis(1))
                });
                prev = Some(e.timestamp);
                if shared.video_muted.load(Ordering::Relaxed) {
                    continue;
                }
                let sample = Sample {
                    data: e.data,
                    duration,
                    ..Sample::new(Instant::now())
                };
                let conf = shared.conf_video.lock().ok().and_then(|s| s.clone());
                if let Some(c) = conf {
                    let _ = rt.block_on(c.track.sample_writer(c.ssrc, c.pt).write_sample(&sample));
                }
                let sink = shared.video_sink.lock().ok().and_then(|s| s.clone());
                let Some(sink) = sink else { continue };
                let len = sample.data.len();
                if rt
                    .block_on(
                        sink.track
                            .sample_writer(sink.ssrc, sink.pt)
                            .write_sample(&sample),
                    )
                    .is_ok()
                {
                    shared.counters.add_out(len);
                    shared.counters.video_frame(width, height);
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("could not start the video sender: {e}");
    }
}

fn spawn_audio_pump(
    rt: tokio::runtime::Handle,
    shared: Arc<Shared>,
    rx: std::sync::mpsc::Receiver<SendOutput<EncodedAudio>>,
    ev: mpsc::UnboundedSender<PublisherEvent>,
) {
    let spawned = std::thread::Builder::new()
        .name("publish audio".into())
        .spawn(move || {
            while let Ok(out) = rx.recv() {
                let a = match out {
                    SendOutput::Frame(a) => a,
                    SendOutput::Stopped(why) => {
                        if let Some(w) = why {
                            let _ = ev.send(PublisherEvent::DeviceLost {
                                message: w.to_string(),
                            });
                        }
                        break;
                    }
                };
                let sample = Sample {
                    data: a.data,
                    duration: Duration::from_millis(20),
                    ..Sample::new(Instant::now())
                };
                let conf = shared.conf_audio.lock().ok().and_then(|s| s.clone());
                if let Some(c) = conf {
                    let _ = rt.block_on(c.track.sample_writer(c.ssrc, c.pt).write_sample(&sample));
                }
                let sink = shared.audio_sink.lock().ok().and_then(|s| s.clone());
                let Some(sink) = sink else { continue };
                let len = sample.data.len();
                if rt
                    .block_on(
                        sink.track
                            .sample_writer(sink.ssrc, sink.pt)
                            .write_sample(&sample),
                    )
                    .is_ok()
                {
                    shared.counters.add_out(len);
                    shared.counters.audio_packet();
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("could not start the audio sender: {e}");
    }
}

fn set_state(shared: &Shared, ev: &mpsc::UnboundedSender<PublisherEvent>, s: SessionState) {
    if let Ok(mut g) = shared.state.lock() {
        if *g == s {
            return;
        }
        *g = s;
    }
    let _ = ev.send(PublisherEvent::State { state: s });
}

enum Outcome {
    Stopped,
    Dropped(Error),
}

/// Engine-wide state that survives reconnects.
struct Engine {
    cfg: PublisherConfig,
    shared: Arc<Shared>,
    ev: mpsc::UnboundedSender<PublisherEvent>,
    cmd_rx: mpsc::UnboundedReceiver<Cmd>,
    /// Messages sent while not live, delivered once live again.
    pending: Vec<dc::ClientMessage>,
    audio_muted: bool,
    video_muted: bool,
    was_live: bool,
    rec: Reconnector,
    meter: StatsMeter,
}

async fn run(
    cfg: PublisherConfig,
    shared: Arc<Shared>,
    cmd_rx: mpsc::UnboundedReceiver<Cmd>,
    ev: mpsc::UnboundedSender<PublisherEvent>,
) {
    let mut e = Engine {
        rec: Reconnector::new(cfg.reconnect),
        cfg,
        shared,
        ev,
        cmd_rx,
        pending: Vec::new(),
        audio_muted: false,
        video_muted: false,
        was_live: false,
        meter: StatsMeter::new(),
    };
    let mut stop_ack: Vec<oneshot::Sender<()>> = Vec::new();
    loop {
        let outcome = e.attempt(&mut stop_ack).await;
        clear_sinks(&e.shared);
        match outcome {
            Outcome::Stopped => {
                set_state(&e.shared, &e.ev, SessionState::Stopped);
                let _ = e.ev.send(PublisherEvent::Unpublished);
                break;
            }
            Outcome::Dropped(err) => {
                tracing::info!("publish attempt ended: {err}");
                if !e.was_live || !err.is_retryable(e.was_live) {
                    set_state(&e.shared, &e.ev, SessionState::Failed);
                    let _ = e.ev.send(PublisherEvent::Failed { error: err });
                    break;
                }
                match e.rec.on_drop() {
                    Next::Retry { attempt, of, delay } => {
                        set_state(&e.shared, &e.ev, SessionState::Reconnecting);
                        e.shared.counters.reconnects.fetch_add(1, Ordering::Relaxed);
                        let _ = e.ev.send(PublisherEvent::Reconnecting {
                            attempt,
                            of,
                            delay,
                            reason: err.to_string(),
                        });
                        if e.wait(delay, &mut stop_ack).await {
                            set_state(&e.shared, &e.ev, SessionState::Stopped);
                            let _ = e.ev.send(PublisherEvent::Unpublished);
                            break;
                        }
                    }
                    Next::GiveUp { attempts } => {
                        set_state(&e.shared, &e.ev, SessionState::Failed);
                        let _ = e.ev.send(PublisherEvent::Failed {
                            error: Error::ReconnectFailed {
                                attempts,
                                last: err.to_string(),
                            },
                        });
                        break;
                    }
                }
            }
        }
    }
    // End capture and encoding (joining the source threads blocks briefly: off the runtime).
    let video = e.shared.video.lock().ok().and_then(|mut g| g.take());
    let audio = e.shared.audio.lock().ok().and_then(|mut g| g.take());
    let _ = tokio::task::spawn_blocking(move || drop((video, audio))).await;
    for a in stop_ack {
        let _ = a.send(());
    }
    // Refuse what is still queued.
    while let Ok(c) = e.cmd_rx.try_recv() {
        match c {
            Cmd::Send(_, tx) => drop(tx.send(Err(Error::Closed))),
            Cmd::Stop(tx) => drop(tx.send(())),
            _ => {}
        }
    }
}

fn clear_sinks(shared: &Shared) {
    if let Ok(mut s) = shared.video_sink.lock() {
        *s = None;
    }
    if let Ok(mut s) = shared.audio_sink.lock() {
        *s = None;
    }
}

/// (is video, track, ssrc, its sender) of a track just added.
type NewSink = (
    bool,
    Arc<TrackLocalStaticSample>,
    u32,
    Arc<dyn webrtc::rtp_transceiver::RtpSender>,
);

/// Adds a sending track with a fresh SSRC to `pc`.
pub(crate) async fn add_send_track(
    pc: &Arc<dyn webrtc::peer_connection::PeerConnection>,
    kind: RtpCodecKind,
    codec: rtc::rtp_transceiver::rtp_sender::RTCRtpCodec,
) -> Result<NewSink> {
    let ssrc = rand::random::<u32>() | 1;
    let t = new_track(kind, codec, ssrc)?;
    let sender = pc.add_track(t.clone() as Arc<dyn TrackLocal>).await?;
    Ok((kind == RtpCodecKind::Video, t, ssrc, sender))
}

fn new_track(
    kind: RtpCodecKind,
    codec: rtc::rtp_transceiver::rtp_sender::RTCRtpCodec,
    ssrc: u32,
) -> Result<Arc<TrackLocalStaticSample>> {
    let label = if kind == RtpCodecKind::Video {
        "video"
    } else {
        "audio"
    };
    let t = TrackLocalStaticSample::new(
        std::time::Instant::now(),
        MediaStreamTrack::new(
            "red5desk".into(),
            label.into(),
            label.into(),
            kind,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec,
                ..Default::default()
            }],
        ),
    )?;
    Ok(Arc::new(t))
}

impl Engine {
    /// Waits `delay` (a reconnect back-off) while serving commands; true = stop requested.
    async fn wait(&mut self, delay: Duration, stop_ack: &mut Vec<oneshot::Sender<()>>) -> bool {
        let until = tokio::time::Instant::now() + delay;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => return false,
                c = self.cmd_rx.recv() => match c {
                    None => return true,
                    Some(Cmd::Stop(tx)) => { stop_ack.push(tx); return true; }
                    Some(c) => self.offline_command(c),
                }
            }
        }
    }

    fn offline_command(&mut self, c: Cmd) {
        match c {
            Cmd::Send(m, tx) => {
                self.pending.push(m);
                let _ = tx.send(Ok(()));
            }
            Cmd::MuteAudio(m) => self.apply_audio_mute(m),
            Cmd::MuteVideo(m) => self.apply_video_mute(m),
            Cmd::SetBitrate(b) => self.apply_bitrate(b),
            Cmd::Stop(_) => {}
        }
    }

    fn apply_audio_mute(&mut self, m: bool) {
        self.audio_muted = m;
        if let Ok(a) = self.shared.audio.lock() {
            if let Some(p) = a.as_ref() {
                p.set_muted(m);
            }
        }
    }

    fn apply_video_mute(&mut self, m: bool) {
        self.video_muted = m;
        self.shared.video_muted.store(m, Ordering::Relaxed);
        if !m {
            self.shared.request_keyframe();
        }
    }

    fn apply_bitrate(&mut self, bps: u32) {
        if let Ok(v) = self.shared.video.lock() {
            if let Some(p) = v.as_ref() {
                p.set_bitrate(bps);
            }
        }
    }

    async fn attempt(&mut self, stop_ack: &mut Vec<oneshot::Sender<()>>) -> Outcome {
        if !self.was_live || self.rec.attempts() == 0 {
            set_state(&self.shared, &self.ev, SessionState::Connecting);
        }
        let mut link = match self.connect().await {
            Ok(l) => l,
            Err(e) => return Outcome::Dropped(e),
        };
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            enum Got {
                Cmd(Option<Cmd>),
                Link(Raw),
                Tick,
            }
            let got = tokio::select! {
                c = self.cmd_rx.recv() => Got::Cmd(c),
                r = link.recv() => Got::Link(r),
                _ = tick.tick() => Got::Tick,
            };
            match got {
                Got::Cmd(None) => {
                    link.close(true).await;
                    return Outcome::Stopped;
                }
                Got::Cmd(Some(Cmd::Stop(tx))) => {
                    stop_ack.push(tx);
                    link.close(true).await;
                    return Outcome::Stopped;
                }
                Got::Cmd(Some(Cmd::Send(m, tx))) => {
                    if link.started {
                        let _ = tx.send(link.sig.send_message(m).await.map_err(Error::from));
                    } else {
                        self.pending.push(m);
                        let _ = tx.send(Ok(()));
                    }
                }
                Got::Cmd(Some(Cmd::MuteAudio(m))) => {
                    self.apply_audio_mute(m);
                    if link.started {
                        let _ = link.sig.send_message(mute_message(Some(m), None)).await;
                    }
                }
                Got::Cmd(Some(Cmd::MuteVideo(m))) => {
                    self.apply_video_mute(m);
                    if link.started {
                        let _ = link.sig.send_message(mute_message(None, Some(m))).await;
                    }
                }
                Got::Cmd(Some(Cmd::SetBitrate(b))) => self.apply_bitrate(b),
                Got::Tick => {
                    let report = link
                        .pc
                        .get_stats(std::time::Instant::now(), StatsSelector::None)
                        .await;
                    let snap = self.shared.stats.record(
                        &mut self.meter,
                        &self.shared.counters,
                        &report,
                        link.started,
                    );
                    if link.started {
                        let _ = self.ev.send(PublisherEvent::Stats { stats: snap });
                    }
                }
                Got::Link(raw) => match link.handle(raw).await {
                    None => {}
                    Some(LinkEvent::Dropped(e)) => {
                        link.close(false).await;
                        return Outcome::Dropped(e);
                    }
                    Some(LinkEvent::Started) => self.on_started(&link).await,
                    Some(LinkEvent::Ice(s)) => {
                        drop(self.ev.send(PublisherEvent::IceState { state: s }))
                    }
                    Some(LinkEvent::Track(_)) => {}
                    Some(LinkEvent::Signal(s)) => self.on_signal(s),
                },
            }
        }
    }

    async fn connect(&mut self) -> Result<Link> {
        let cfg = &self.cfg;
        let role = Role::Publisher {
            key_framerate_ms: cfg.key_framerate_ms,
        };
        let sig: Arc<dyn red5_signal::driver::Signalling> =
            Arc::from(open_signalling(&cfg.endpoint, &role, &cfg.stream_name).await?);
        let connected = match tokio::time::timeout(cfg.start_timeout, sig.connect()).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(explain(sig.as_ref(), e).await),
            Err(_) => {
                return Err(Error::StartTimeout {
                    what: "connection",
                    after: cfg.start_timeout,
                })
            }
        };
        let ice = if cfg.ice_servers.is_empty() {
            crate::peer::ice_servers(&connected.ice_servers)
        } else {
            crate::peer::own_ice_servers(&cfg.ice_servers)
        };
        let video_codec_choice = cfg.video.as_ref().map(|v| v.codec);
        let (pc, pc_rx) = build_peer(PeerSpec {
            video: video_codec_choice.into_iter().collect(),
            audio: cfg.audio.is_some(),
            ice_servers: ice,
            loopback: is_loopback_url(&cfg.endpoint.base_url),
        })
        .await?;
        let link = Link::new(
            sig.clone(),
            pc.clone(),
            pc_rx,
            self.shared.counters.clone(),
            "publish",
            cfg.start_timeout,
        );
        // Whatever fails from here on, the peer connection and the signalling are closed.
        let negotiated: Result<()> = async {
            // The SDK creates the `red5pro` channel (ordered) before adding media.
            link.open_dc().await?;
            let mut sinks: Vec<NewSink> = Vec::new();
            if let Some(v) = &cfg.video {
                sinks.push(add_send_track(&pc, RtpCodecKind::Video, video_codec(v.codec)).await?);
            }
            if cfg.audio.is_some() {
                sinks.push(add_send_track(&pc, RtpCodecKind::Audio, opus_codec()).await?);
            }
            let offer = pc.create_offer(None).await?;
            pc.set_local_description(offer).await?;
            let local = pc.local_description().await.ok_or_else(|| {
                Error::WebRtc("no local description after creating the offer".into())
            })?;
            let answer = match sig.publish_offer(local.sdp).await {
                Ok(a) => a,
                Err(e) => return Err(explain(sig.as_ref(), e).await),
            };
            pc.set_remote_description(RTCSessionDescription::answer(answer.sdp)?)
                .await?;
            // Tracks are negotiated now: learn the payload types and listen for PLI/FIR.
            for (is_video, track, ssrc, sender) in sinks {
                let sink = Sink::negotiated(track.clone(), ssrc, &sender).await?;
                if is_video {
                    if let Ok(mut s) = self.shared.video_sink.lock() {
                        *s = Some(sink);
                    }
                    let shared = self.shared.clone();
                    let ev = self.ev.clone();
                    tokio::spawn(async move {
                        while let Some(TrackLocalEvent::OnRtcpPacket(_)) = track.poll().await {
                            shared
                                .counters
                                .keyframe_requests
                                .fetch_add(1, Ordering::Relaxed);
                            shared.request_keyframe();
                            let _ = ev.send(PublisherEvent::KeyframeRequested);
                        }
                    });
                } else if let Ok(mut s) = self.shared.audio_sink.lock() {
                    *s = Some(sink);
                }
            }
            self.shared.request_keyframe();
            Ok(())
        }
        .await;
        match negotiated {
            Ok(()) => Ok(link),
            Err(e) => {
                link.close(false).await;
                Err(e)
            }
        }
    }

    async fn on_started(&mut self, link: &Link) {
        let again = self.was_live;
        self.was_live = true;
        self.rec.reset();
        set_state(&self.shared, &self.ev, SessionState::Live);
        let _ = self.ev.send(PublisherEvent::Started);
        if again {
            let _ = self.ev.send(PublisherEvent::Reconnected);
        }
        self.shared.request_keyframe();
        if self.audio_muted || self.video_muted {
            let _ = link
                .sig
                .send_message(mute_message(Some(self.audio_muted), Some(self.video_muted)))
                .await;
        }
        for m in std::mem::take(&mut self.pending) {
            if let Err(e) = link.sig.send_message(m).await {
                let _ = self.ev.send(PublisherEvent::Warning {
                    message: format!("a queued message was not sent: {e}"),
                });
            }
        }
    }

    fn on_signal(&mut self, s: SignalEvent) {
        let e = match s {
            SignalEvent::TransportSwitched => PublisherEvent::TransportSwitched,
            SignalEvent::Status(st) => match st {
                StatusEvent::InsufficientBandwidth => PublisherEvent::Bandwidth {
                    bandwidth: Bandwidth::Insufficient,
                },
                StatusEvent::SufficientBandwidth => PublisherEvent::Bandwidth {
                    bandwidth: Bandwidth::Sufficient,
                },
                StatusEvent::RecoveringBandwidth => PublisherEvent::Bandwidth {
                    bandwidth: Bandwidth::Recovering,
                },
                StatusEvent::Error { message, .. } => PublisherEvent::Warning {
                    message: format!("the server reported: {message}"),
                },
                StatusEvent::Other
                | StatusEvent::DataChannelAvailable { .. }
                | StatusEvent::StatisticsEndpoint { .. } => return,
                other => PublisherEvent::ServerStatus {
                    status: format!("{other:?}"),
                },
            },
            SignalEvent::Invoke(i) => PublisherEvent::Message {
                method: i.method,
                data: i.data,
            },
            SignalEvent::RpcReply(r) => PublisherEvent::Message {
                method: "rpcReply".into(),
                data: serde_json::to_value(&r).unwrap_or(Value::Null),
            },
            SignalEvent::Message(m) => PublisherEvent::Message {
                method: String::new(),
                data: Value::Object(m),
            },
            SignalEvent::Warning(w) => PublisherEvent::Warning { message: w },
            _ => return,
        };
        let _ = self.ev.send(e);
    }
}

fn mute_message(audio: Option<bool>, video: Option<bool>) -> dc::ClientMessage {
    dc::ClientMessage::Mute(dc::Mute {
        mute_audio: audio,
        mute_video: video,
    })
}
