//! The SFU side of the conference mixers: decoded media of conference streams into
//! [`MixerHost`], and the mixer outputs back into the SFU as ordinary published streams
//! (`<app>/<room>/<room>`: composite H.264 + full-mix Opus) so WHEP / WS subscribers play them,
//! plus the per-participant mix-minus packets that joinGroup sessions send.

use std::collections::HashMap;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use red5_media::codec::VideoCodec;
use red5_media::pipeline::{AudioReceiver, VideoReceiveOutput, VideoReceiver};
use red5_media::rtp::{RtpCodec, RtpPacketizer};
use red5_mixer::{AudioOutput, AudioTrackPlan, VideoOutput};
use tokio::sync::mpsc;

use crate::conference::{ConferenceState, MixerHost, MixerSink};
use crate::peer::{h264_codec, opus_codec, Negotiated};
use crate::sfu::{self, Attachment, Forwarded, MediaKind, Registry, Stream};

const H264_PT: u8 = 102;
const OPUS_PT: u8 = 111;
/// Packets queued between the SFU and one decoder thread.
const DECODE_QUEUE: usize = 1024;

/// The mix-minus Opus packets of one participant for one 20 ms step, in extra-audio-m-line
/// order, with the step's media time.
#[derive(Debug, Clone)]
pub struct MixMinus {
    pub timestamp: Duration,
    pub tracks: Vec<Bytes>,
}

struct Output {
    stream: Arc<Stream>,
    video: RtpPacketizer,
    audio: RtpPacketizer,
}

type Listener = (String, mpsc::Sender<MixMinus>);

/// Publishes mixer outputs into the SFU ([`MixerSink`] implementation).
pub struct SfuSink {
    registry: Arc<Registry>,
    rt: tokio::runtime::Handle,
    host: OnceLock<Weak<MixerHost>>,
    outputs: Mutex<HashMap<String, Output>>,
    /// output guid → (participant stream name, its session's channel).
    listeners: Mutex<HashMap<String, Vec<Listener>>>,
    plan: AudioTrackPlan,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SfuSink {
    pub fn new(
        registry: Arc<Registry>,
        rt: tokio::runtime::Handle,
        plan: AudioTrackPlan,
    ) -> Arc<Self> {
        Arc::new(SfuSink {
            registry,
            rt,
            host: OnceLock::new(),
            outputs: Mutex::new(HashMap::new()),
            listeners: Mutex::new(HashMap::new()),
            plan,
        })
    }

    /// A joinGroup participant `name` of the conference whose output is `output_guid` wants its
    /// mix-minus; the channel closes (sender dropped) when the mixer stops.
    pub fn listen(&self, output_guid: &str, name: &str) -> mpsc::Receiver<MixMinus> {
        let (tx, rx) = mpsc::channel(64);
        let mut l = lock(&self.listeners);
        let v = l.entry(output_guid.to_owned()).or_default();
        v.retain(|(_, t)| !t.is_closed());
        v.push((name.to_owned(), tx));
        rx
    }

    fn output(&self, guid: &str) -> Option<MutexGuard<'_, HashMap<String, Output>>> {
        let mut outs = lock(&self.outputs);
        if outs.get(guid).is_some_and(|o| o.stream.is_closed()) {
            outs.remove(guid);
        }
        if !outs.contains_key(guid) {
            let name = guid.rsplit('/').next().unwrap_or(guid);
            let video = Negotiated {
                codec: h264_codec(),
                payload_type: H264_PT,
            };
            let audio = Negotiated {
                codec: opus_codec(),
                payload_type: OPUS_PT,
            };
            let stream = match self
                .registry
                .publish_internal(guid, name, Some(video), Some(audio))
            {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(stream = guid, "mixer output not published: {e}");
                    return None;
                }
            };
            // Subscribers' PLI/FIR (and new subscribers) → a key frame from the mixer.
            if let Some(mut rx) = stream.take_keyframe_requests() {
                let host = self.host.get().cloned();
                let g = guid.to_owned();
                self.rt.spawn(async move {
                    while rx.recv().await.is_some() {
                        match host.as_ref().and_then(Weak::upgrade) {
                            Some(h) => h.request_keyframe(&g),
                            None => break,
                        }
                    }
                });
            }
            let r = || rand::random::<u32>();
            outs.insert(
                guid.to_owned(),
                Output {
                    stream,
                    video: RtpPacketizer::new(RtpCodec::H264, H264_PT, r(), r() as u16, r()),
                    audio: RtpPacketizer::new(RtpCodec::Opus, OPUS_PT, r(), r() as u16, r()),
                },
            );
        }
        Some(outs)
    }
}

impl MixerSink for SfuSink {
    fn video(&self, output_guid: &str, v: &VideoOutput) {
        let Some(e) = &v.encoded else { return };
        let Some(mut outs) = self.output(output_guid) else {
            return;
        };
        let Some(o) = outs.get_mut(output_guid) else {
            return;
        };
        match o.video.packetize(&e.data, v.timestamp) {
            Ok(pkts) => pkts
                .into_iter()
                .for_each(|p| o.stream.forward_local(MediaKind::Video, p)),
            Err(err) => tracing::debug!("composite packetizing: {err}"),
        }
    }

    fn audio(&self, output_guid: &str, a: &AudioOutput) {
        if let Some(opus) = &a.full_mix.opus {
            if let Some(mut outs) = self.output(output_guid) {
                if let Some(o) = outs.get_mut(output_guid) {
                    if let Ok(pkts) = o.audio.packetize(opus, a.timestamp) {
                        pkts.into_iter()
                            .for_each(|p| o.stream.forward_local(MediaKind::Audio, p));
                    }
                }
            }
        }
        let mut l = lock(&self.listeners);
        if let Some(v) = l.get_mut(output_guid) {
            v.retain(|(_, t)| !t.is_closed());
            for (name, tx) in v.iter() {
                // Mix-minus: never the participant's own voice.
                if let Some(tracks) = a.participant(name).and_then(|p| p.tracks(self.plan)) {
                    let _ = tx.try_send(MixMinus {
                        timestamp: a.timestamp,
                        tracks,
                    });
                }
            }
        }
    }

    fn stopped(&self, output_guid: &str) {
        let o = lock(&self.outputs).remove(output_guid);
        if let Some(o) = o {
            // Subscribers get NetStream.Play.UnpublishNotify.
            self.registry.unpublish(&o.stream);
        }
        lock(&self.listeners).remove(output_guid);
    }
}

/// Starts the mixers of a server: [`MixerHost`] with an [`SfuSink`], and the feeder task that
/// keeps one decoding tap per conference stream.
pub fn start(
    conf: ConferenceState,
    registry: Arc<Registry>,
    plan: AudioTrackPlan,
) -> (
    Arc<MixerHost>,
    Arc<SfuSink>,
    Vec<tokio::task::JoinHandle<()>>,
) {
    let sink = SfuSink::new(registry.clone(), tokio::runtime::Handle::current(), plan);
    let (host, host_task) = MixerHost::spawn(conf.clone(), sink.clone());
    let _ = sink.host.set(Arc::downgrade(&host));
    let feeder = tokio::spawn(feed(conf, registry, Arc::downgrade(&host)));
    (host, sink, vec![host_task, feeder])
}

struct TapHandle {
    stream: Arc<Stream>,
    _att: Attachment,
}

/// Keeps the set of decoding taps equal to what the running mixers need: for every stream
/// `s` in the conference list of a mixed room `R`, `R/s` when published, else `R_wr/s`; every
/// published Brew source. Re-checked on each conference event and every 250 ms (publishes
/// and republishes).
async fn feed(conf: ConferenceState, registry: Arc<Registry>, host: Weak<MixerHost>) {
    let mut events = conf.subscribe();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut taps: HashMap<String, TapHandle> = HashMap::new();
    loop {
        tokio::select! {
            r = events.recv() => {
                if matches!(r, Err(tokio::sync::broadcast::error::RecvError::Closed)) {
                    break;
                }
            }
            _ = tick.tick() => {}
        }
        let Some(h) = host.upgrade() else { break };
        let (rooms, sources) = h.inputs();
        let mut want: Vec<String> = sources
            .into_iter()
            .filter(|g| registry.is_published(g))
            .collect();
        for room in rooms {
            let (streams, _) = conf.conference(&room);
            for s in streams {
                let main = format!("{room}/{s}");
                let wr = format!("{room}_wr/{s}");
                if registry.is_published(&main) {
                    want.push(main);
                } else if registry.is_published(&wr) {
                    want.push(wr);
                }
            }
        }
        taps.retain(|g, t| {
            want.contains(g)
                && !t.stream.is_closed()
                && registry.get(g).is_some_and(|s| Arc::ptr_eq(&s, &t.stream))
        });
        for g in want {
            if taps.contains_key(&g) {
                continue;
            }
            let Some(stream) = registry.get(&g) else {
                continue;
            };
            let (att, rx) = sfu::tap(&registry, &stream, DECODE_QUEUE);
            spawn_decoder(g.clone(), stream.clone(), rx, host.clone());
            taps.insert(g, TapHandle { stream, _att: att });
        }
        drop(h);
    }
}

/// One decoding thread per tapped stream: RTP → jitter buffer → H.264/VP8/Opus decoders →
/// `MixerHost::push_video/push_audio`. Ends when the tap is dropped.
fn spawn_decoder(
    guid: String,
    stream: Arc<Stream>,
    mut rx: mpsc::Receiver<Forwarded>,
    host: Weak<MixerHost>,
) {
    let (tx, drx) = std_mpsc::sync_channel::<Forwarded>(DECODE_QUEUE);
    tokio::spawn(async move {
        while let Some(f) = rx.recv().await {
            if let Err(std_mpsc::TrySendError::Disconnected(_)) = tx.try_send(f) {
                break;
            }
        }
    });
    let video_codec = stream.video.as_ref().and_then(|v| {
        let m = v.codec.mime_type.to_ascii_lowercase();
        if m.ends_with("/h264") {
            Some(VideoCodec::H264)
        } else if m.ends_with("/vp8") {
            Some(VideoCodec::Vp8)
        } else {
            None
        }
    });
    let weak_stream = Arc::downgrade(&stream);
    drop(stream);
    let spawned = std::thread::Builder::new()
        .name("red5-mixfeed".into())
        .spawn(move || {
            let mut video = video_codec.and_then(|c| VideoReceiver::new(c).ok());
            let mut audio = AudioReceiver::new(1).ok();
            loop {
                match drx.recv_timeout(Duration::from_millis(10)) {
                    Ok(f) => match f.kind {
                        MediaKind::Video => {
                            if let Some(v) = video.as_mut() {
                                v.push(f.pkt, Instant::now());
                            }
                        }
                        MediaKind::Audio => {
                            if let Some(a) = audio.as_mut() {
                                a.push(f.pkt, Instant::now());
                            }
                        }
                    },
                    Err(std_mpsc::RecvTimeoutError::Timeout) => {}
                    Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
                }
                let Some(h) = host.upgrade() else { break };
                let now = Instant::now();
                if let Some(v) = video.as_mut() {
                    for out in v.poll(now) {
                        match out {
                            VideoReceiveOutput::Frame { frame, .. } => {
                                h.push_video(&guid, frame);
                            }
                            VideoReceiveOutput::KeyframeNeeded => {
                                if let Some(s) = weak_stream.upgrade() {
                                    s.request_keyframe();
                                }
                            }
                        }
                    }
                }
                if let Some(a) = audio.as_mut() {
                    for (frame, _) in a.poll(now) {
                        h.push_audio(&guid, frame);
                    }
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("no decoder thread for the mixer input: {e}");
    }
}
