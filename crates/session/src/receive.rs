//! Receiving a remote track, shared by the subscriber and the conference participant: RTP is
//! pumped from the webrtc-rs track task to a decode thread (decoders are blocking and must not
//! stall the runtime), decoded frames go to the caller, and key frames are asked for with PLI.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use red5_media::codec::VideoCodec;
use red5_media::pipeline::{AudioReceiver, VideoReceiveOutput, VideoReceiver};
use red5_media::AudioFrame;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use tokio::sync::mpsc;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use crate::stats::Counters;
use crate::subscriber::DecodedVideo;

/// One received RTP packet and when it arrived (the jitter buffer's clock).
type Packet = (red5_media::rtp::Packet, Instant);

/// How long a decode thread waits for a packet before it polls its receiver anyway (the jitter
/// buffer releases frames on time, not only when a packet comes in).
const POLL: Duration = Duration::from_millis(5);

/// Writes a PLI on `track` for each `()` sent; ends with the last sender or the track.
pub(crate) fn spawn_pli(track: Arc<dyn TrackRemote>) -> mpsc::UnboundedSender<()> {
    let (pli_tx, mut pli_rx) = mpsc::unbounded_channel::<()>();
    tokio::spawn(async move {
        while pli_rx.recv().await.is_some() {
            let media_ssrc = track.ssrcs().await.first().copied().unwrap_or(0);
            let pli = PictureLossIndication {
                sender_ssrc: 0,
                media_ssrc,
            };
            if track.write_rtcp(vec![Box::new(pli)]).await.is_err() {
                break;
            }
        }
    });
    pli_tx
}

/// Forwards the track's RTP to a decode thread, counting bytes in; stops when the thread is gone.
fn pump_rtp(track: Arc<dyn TrackRemote>, ptx: Sender<Packet>, counters: Arc<Counters>) {
    tokio::spawn(async move {
        while let Some(ev) = track.poll().await {
            if let TrackRemoteEvent::OnRtpPacket(p) = ev {
                counters.add_in(p.payload.len() + 12);
                if ptx.send((p, Instant::now())).is_err() {
                    break;
                }
            }
        }
    });
}

/// What a video decode thread needs besides its track.
pub(crate) struct VideoDecode {
    pub thread: &'static str,
    pub codec: VideoCodec,
    pub counters: Arc<Counters>,
    pub frames: mpsc::Sender<DecodedVideo>,
    /// Set by the first decoded frame of the whole (re)connection, shared by its tracks.
    pub first_frame: Arc<AtomicBool>,
    pub pli: mpsc::UnboundedSender<()>,
    /// Until the first picture, ask for a key frame this often while packets arrive (a stream
    /// that starts mid-GOP, like the composite, gets no word from the decoder about it).
    pub ask_until_picture: Option<Duration>,
}

/// Decodes `track` on its own thread. `first(width, height)` is called once per connection,
/// `broken(text)` when no decoder can be made; the error is the thread's that could not start
/// (RTP is pumped either way: the pump ends by itself when nobody receives).
pub(crate) fn receive_video(
    track: Arc<dyn TrackRemote>,
    v: VideoDecode,
    first: impl Fn(u32, u32) + Send + 'static,
    broken: impl FnOnce(String) + Send + 'static,
) -> std::io::Result<()> {
    let (ptx, prx) = std::sync::mpsc::channel::<Packet>();
    let counters = v.counters.clone();
    let spawned = std::thread::Builder::new()
        .name(v.thread.into())
        .spawn(move || decode_video(v, prx, first, broken));
    pump_rtp(track, ptx, counters);
    spawned.map(drop)
}

fn decode_video(
    v: VideoDecode,
    prx: Receiver<Packet>,
    first: impl Fn(u32, u32),
    broken: impl FnOnce(String),
) {
    let mut rx = match VideoReceiver::new(v.codec) {
        Ok(r) => r,
        Err(e) => return broken(e.to_string()),
    };
    let ask_keyframe = || {
        v.counters.keyframe_requests.fetch_add(1, Ordering::Relaxed);
        let _ = v.pli.send(());
    };
    let mut first_packet: Option<Instant> = None;
    let mut last_ask: Option<Instant> = None;
    let mut decoded = false;
    loop {
        match prx.recv_timeout(POLL) {
            Ok((p, at)) => {
                first_packet.get_or_insert(at);
                rx.push(p, at)
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        let now = Instant::now();
        if let Some(every) = v.ask_until_picture {
            if !decoded
                && first_packet.is_some_and(|t| now.duration_since(t) >= every)
                && last_ask.is_none_or(|t| now.duration_since(t) >= every)
            {
                last_ask = Some(now);
                ask_keyframe();
            }
        }
        for out in rx.poll(now) {
            match out {
                VideoReceiveOutput::Frame {
                    frame,
                    rtp_timestamp,
                } => {
                    decoded = true;
                    v.counters.video_frame(frame.width, frame.height);
                    if !v.first_frame.swap(true, Ordering::Relaxed) {
                        first(frame.width, frame.height);
                    }
                    let _ = v.frames.try_send(DecodedVideo {
                        frame,
                        rtp_timestamp,
                        received_at: Instant::now(),
                    });
                }
                VideoReceiveOutput::KeyframeNeeded => ask_keyframe(),
            }
        }
    }
}

/// Decodes an Opus track to stereo on its own thread; `sink` gets each frame and returns false
/// to stop. `broken` and the result as for [`receive_video`].
pub(crate) fn receive_audio(
    track: Arc<dyn TrackRemote>,
    thread: &'static str,
    counters: Arc<Counters>,
    mut sink: impl FnMut(AudioFrame) -> bool + Send + 'static,
    broken: impl FnOnce(String) + Send + 'static,
) -> std::io::Result<()> {
    let (ptx, prx) = std::sync::mpsc::channel::<Packet>();
    let c2 = counters.clone();
    let spawned = std::thread::Builder::new()
        .name(thread.into())
        .spawn(move || {
            let mut rx = match AudioReceiver::new(2) {
                Ok(r) => r,
                Err(e) => return broken(e.to_string()),
            };
            loop {
                match prx.recv_timeout(POLL) {
                    Ok((p, at)) => {
                        c2.audio_packet();
                        rx.push(p, at)
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
                for (frame, _ts) in rx.poll(Instant::now()) {
                    if !sink(frame) {
                        return;
                    }
                }
            }
        });
    pump_rtp(track, ptx, counters);
    spawned.map(drop)
}
