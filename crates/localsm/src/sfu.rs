//! The selective forwarding unit: published streams, their subscribers, RTP fan-out with one
//! bounded queue per subscriber, key-frame requests, and the metadata relay.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use red5_signal::dc::Invoke;
use rtc::media_stream::MediaStreamTrack;
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::PeerConnection;
use webrtc::rtp_transceiver::RtpSender;

use crate::error::{LocalSmError, Result};
use crate::peer::Negotiated;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Audio,
    Video,
}

/// Control messages from a stream to one subscriber session.
#[derive(Debug, Clone)]
pub enum SubCtl {
    /// A publisher `send()` to relay (metadata or any method).
    Invoke(Invoke),
    /// The publisher stopped: send `NetStream.Play.UnpublishNotify`.
    Unpublished,
}

/// One packet on its way to a subscriber.
pub struct Forwarded {
    pub kind: MediaKind,
    pub pkt: rtp::Packet,
}

struct SubLink {
    id: u64,
    media: mpsc::Sender<Forwarded>,
    ctl: mpsc::UnboundedSender<SubCtl>,
    /// Set when packets were dropped for this subscriber; cleared by the next key frame request.
    lagging: AtomicBool,
    delivered: AtomicU64,
    dropped: AtomicU64,
}

/// A published stream.
pub struct Stream {
    pub guid: String,
    pub name: String,
    pub video: Option<Negotiated>,
    pub audio: Option<Negotiated>,
    subs: RwLock<Vec<Arc<SubLink>>>,
    keyframe_tx: mpsc::Sender<()>,
    keyframe_rx: Mutex<Option<mpsc::Receiver<()>>>,
    metadata: Mutex<Option<Invoke>>,
    closed: AtomicBool,
    pub packets_in: AtomicU64,
}

impl Stream {
    fn new(
        guid: String,
        name: String,
        video: Option<Negotiated>,
        audio: Option<Negotiated>,
    ) -> Self {
        let (keyframe_tx, keyframe_rx) = mpsc::channel(1);
        Stream {
            guid,
            name,
            video,
            audio,
            subs: RwLock::new(Vec::new()),
            keyframe_tx,
            keyframe_rx: Mutex::new(Some(keyframe_rx)),
            metadata: Mutex::new(None),
            closed: AtomicBool::new(false),
            packets_in: AtomicU64::new(0),
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub fn subscriber_count(&self) -> usize {
        self.subs.read().map(|s| s.len()).unwrap_or(0)
    }

    /// Asks the publisher for a key frame (coalesced: at most one pending request).
    pub fn request_keyframe(&self) {
        let _ = self.keyframe_tx.try_send(());
    }

    /// Feeds a packet the server produced itself (a mixer output stream).
    pub fn forward_local(&self, kind: MediaKind, pkt: rtp::Packet) {
        self.forward(kind, pkt);
    }

    /// The key-frame requests of this stream's subscribers, for a publisher inside the
    /// server (once; `None` when already taken).
    pub fn take_keyframe_requests(&self) -> Option<mpsc::Receiver<()>> {
        self.keyframe_rx.lock().ok().and_then(|mut r| r.take())
    }

    /// Fans one publisher packet out. Never blocks: a full subscriber queue drops the packet for
    /// that subscriber only and asks for a key frame so it can recover.
    fn forward(&self, kind: MediaKind, pkt: rtp::Packet) {
        self.packets_in.fetch_add(1, Ordering::Relaxed);
        let Ok(subs) = self.subs.read() else { return };
        for s in subs.iter() {
            match s.media.try_send(Forwarded {
                kind,
                pkt: pkt.clone(),
            }) {
                Ok(()) => {
                    s.delivered.fetch_add(1, Ordering::Relaxed);
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    s.dropped.fetch_add(1, Ordering::Relaxed);
                    if kind == MediaKind::Video && !s.lagging.swap(true, Ordering::AcqRel) {
                        self.request_keyframe();
                    }
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
    }

    /// Relays a publisher `send()` to every subscriber; `onMetaData` is also stored (latest wins)
    /// for subscribers who join later.
    pub fn relay(&self, invoke: Invoke) {
        if invoke.is_metadata() {
            if let Ok(mut m) = self.metadata.lock() {
                *m = Some(invoke.clone());
            }
        }
        if let Ok(subs) = self.subs.read() {
            for s in subs.iter() {
                let _ = s.ctl.send(SubCtl::Invoke(invoke.clone()));
            }
        }
    }

    /// The latest `onMetaData`, replayed to a subscriber right after its start status.
    pub fn latest_metadata(&self) -> Option<Invoke> {
        self.metadata.lock().ok().and_then(|m| m.clone())
    }

    pub fn detach(&self, id: u64) {
        if let Ok(mut subs) = self.subs.write() {
            subs.retain(|s| s.id != id);
        }
    }

    fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Ok(mut subs) = self.subs.write() {
            for s in subs.drain(..) {
                let _ = s.ctl.send(SubCtl::Unpublished);
            }
        }
    }
}

/// Keeps a subscriber's video sequence numbers contiguous across packets the SFU skipped.
#[derive(Default)]
struct SeqRewrite {
    offset: u16,
    last_out: Option<u16>,
    skipping: bool,
}

impl SeqRewrite {
    fn skip(&mut self) {
        self.skipping = true;
    }
    fn map(&mut self, input: u16) -> u16 {
        if self.skipping {
            self.skipping = false;
            if let Some(last) = self.last_out {
                self.offset = input.wrapping_sub(last.wrapping_add(1));
            }
        }
        let out = input.wrapping_sub(self.offset);
        self.last_out = Some(out);
        out
    }
}

/// Whether an RTP payload starts a key frame (H.264: SPS or IDR, single, STAP-A or FU-A start;
/// VP8: start of a key frame partition). Other codecs are passed through.
pub(crate) fn is_keyframe_start(mime: &str, p: &[u8]) -> bool {
    if mime.ends_with("/h264") {
        let Some(&b0) = p.first() else { return false };
        match b0 & 0x1f {
            5 | 7 => true,
            24 => {
                // STAP-A: 16-bit sizes, each followed by a NAL.
                let mut i = 1;
                while i + 2 < p.len() {
                    let n = usize::from(u16::from_be_bytes([p[i], p[i + 1]]));
                    if matches!(p[i + 2] & 0x1f, 5 | 7) {
                        return true;
                    }
                    i += 2 + n;
                }
                false
            }
            28 => p.get(1).is_some_and(|h| h & 0x80 != 0 && h & 0x1f == 5),
            _ => false,
        }
    } else if mime.ends_with("/vp8") {
        let Some(&d) = p.first() else { return false };
        if d & 0x10 == 0 {
            return false; // not the start of a partition
        }
        let mut i = 1;
        if d & 0x80 != 0 {
            let Some(&x) = p.get(1) else { return false };
            i = 2;
            if x & 0x80 != 0 {
                // PictureID: 7 or 15 bits
                i += if p.get(i).is_some_and(|b| b & 0x80 != 0) {
                    2
                } else {
                    1
                };
            }
            if x & 0x40 != 0 {
                i += 1;
            }
            if x & 0x30 != 0 {
                i += 1;
            }
        }
        p.get(i).is_some_and(|h| h & 0x01 == 0)
    } else {
        true
    }
}

/// Told about every client publish/unpublish (`guid`, `true` = published): the conference's
/// internal webhook. Called outside the registry lock.
pub type PublishListener = Arc<dyn Fn(&str, bool) + Send + Sync>;

/// All published streams of the server, by stream GUID (`live/room1/stream1`).
#[derive(Default)]
pub struct Registry {
    streams: Mutex<HashMap<String, Arc<Stream>>>,
    next_id: AtomicU64,
    listener: OnceLock<PublishListener>,
    /// GUIDs published by the server itself (mixer outputs): not reported to the listener.
    internal: Mutex<std::collections::HashSet<String>>,
}

impl Registry {
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn get(&self, guid: &str) -> Option<Arc<Stream>> {
        self.streams.lock().ok()?.get(guid).cloned()
    }

    pub fn is_published(&self, guid: &str) -> bool {
        self.get(guid).is_some()
    }

    pub fn guids(&self) -> Vec<String> {
        self.streams
            .lock()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Sets the publish listener (once; later calls are ignored).
    pub fn set_listener(&self, l: PublishListener) {
        let _ = self.listener.set(l);
    }

    fn notify(&self, guid: &str, published: bool) {
        let internal = self
            .internal
            .lock()
            .map(|m| m.contains(guid))
            .unwrap_or(false);
        if let (false, Some(l)) = (internal, self.listener.get()) {
            l(guid, published);
        }
    }

    pub fn publish(
        &self,
        guid: &str,
        name: &str,
        video: Option<Negotiated>,
        audio: Option<Negotiated>,
    ) -> Result<Arc<Stream>> {
        let s = self.insert(guid, name, video, audio)?;
        self.notify(guid, true);
        Ok(s)
    }

    /// Publishes a stream of the server itself (a mixer output): subscribers see an ordinary
    /// stream, the publish listener (conference webhook) does not.
    pub fn publish_internal(
        &self,
        guid: &str,
        name: &str,
        video: Option<Negotiated>,
        audio: Option<Negotiated>,
    ) -> Result<Arc<Stream>> {
        let s = self.insert(guid, name, video, audio)?;
        if let Ok(mut m) = self.internal.lock() {
            m.insert(guid.to_owned());
        }
        Ok(s)
    }

    fn insert(
        &self,
        guid: &str,
        name: &str,
        video: Option<Negotiated>,
        audio: Option<Negotiated>,
    ) -> Result<Arc<Stream>> {
        let mut map = self
            .streams
            .lock()
            .map_err(|_| LocalSmError::ShuttingDown)?;
        if map.contains_key(guid) {
            return Err(LocalSmError::AlreadyPublished(guid.to_owned()));
        }
        let s = Arc::new(Stream::new(guid.to_owned(), name.to_owned(), video, audio));
        map.insert(guid.to_owned(), s.clone());
        tracing::info!(stream = guid, "published");
        Ok(s)
    }

    /// Removes the stream (if it is still this one) and notifies its subscribers.
    pub fn unpublish(&self, stream: &Arc<Stream>) {
        let mut removed = false;
        if let Ok(mut map) = self.streams.lock() {
            if map
                .get(&stream.guid)
                .is_some_and(|s| Arc::ptr_eq(s, stream))
            {
                map.remove(&stream.guid);
                removed = true;
                tracing::info!(stream = %stream.guid, "unpublished");
            }
        }
        stream.close();
        if removed {
            self.notify(&stream.guid, false);
            if let Ok(mut m) = self.internal.lock() {
                m.remove(&stream.guid);
            }
        }
    }

    pub fn unpublish_all(&self) {
        let all: Vec<_> = self
            .streams
            .lock()
            .map(|mut m| m.drain().map(|(_, s)| s).collect())
            .unwrap_or_default();
        for s in all {
            s.close();
            self.notify(&s.guid, false);
        }
    }
}

/// Reads a publisher track and fans its packets out; the video track also serves key-frame
/// requests (PLI, at most one per 300 ms).
pub fn spawn_ingest(stream: Arc<Stream>, track: Arc<dyn TrackRemote>) {
    tokio::spawn(async move {
        let kind = match track.kind().await {
            RtpCodecKind::Video => MediaKind::Video,
            _ => MediaKind::Audio,
        };
        if kind == MediaKind::Video {
            let rx = stream.keyframe_rx.lock().ok().and_then(|mut r| r.take());
            if let Some(mut rx) = rx {
                let t = track.clone();
                let st = Arc::downgrade(&stream);
                tokio::spawn(async move {
                    while rx.recv().await.is_some() {
                        if st.upgrade().is_none_or(|s| s.is_closed()) {
                            break;
                        }
                        let media_ssrc = t.ssrcs().await.first().copied().unwrap_or(0);
                        let pli = PictureLossIndication {
                            sender_ssrc: 0,
                            media_ssrc,
                        };
                        if t.write_rtcp(vec![Box::new(pli)]).await.is_err() {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(300)).await;
                    }
                });
            }
        }
        while let Some(ev) = track.poll().await {
            if let TrackRemoteEvent::OnRtpPacket(p) = ev {
                if stream.is_closed() {
                    break;
                }
                stream.forward(kind, p);
            }
        }
    });
}

/// The outgoing tracks of one subscriber peer connection.
pub struct SubTracks {
    video: Option<OutTrack>,
    audio: Option<OutTrack>,
}

struct OutTrack {
    track: Arc<TrackLocalStaticRTP>,
    ssrc: u32,
    sender: Arc<dyn RtpSender>,
    /// Sequence numbers and timestamps stay continuous on this track across attachments
    /// (a participant's composite track is re-attached when the composite is republished).
    cont: Arc<Mutex<Continuity>>,
}

/// Output numbering of one video track over its whole life.
#[derive(Default)]
struct Continuity {
    seq: SeqRewrite,
    ts_offset: u32,
    last_ts: Option<u32>,
    /// The next packet starts a new source: place it one 30 fps frame after the last one.
    rebase: bool,
}

impl Continuity {
    fn new_source(&mut self) {
        self.seq.skip();
        self.rebase = true;
    }
    fn map_ts(&mut self, ts: u32) -> u32 {
        if std::mem::take(&mut self.rebase) {
            if let Some(last) = self.last_ts {
                self.ts_offset = ts.wrapping_sub(last.wrapping_add(3000));
            }
        }
        let out = ts.wrapping_sub(self.ts_offset);
        self.last_ts = Some(out);
        out
    }
}

fn local_track(
    stream: &Stream,
    kind: MediaKind,
    n: &Negotiated,
) -> (Arc<TrackLocalStaticRTP>, u32) {
    new_local_track(&stream.name, kind, n)
}

/// A local RTP track with a random SSRC (`msid` = stream name).
pub fn new_local_track(
    stream_name: &str,
    kind: MediaKind,
    n: &Negotiated,
) -> (Arc<TrackLocalStaticRTP>, u32) {
    let ssrc = rand::random::<u32>();
    let (rk, label) = match kind {
        MediaKind::Video => (RtpCodecKind::Video, "video"),
        MediaKind::Audio => (RtpCodecKind::Audio, "audio"),
    };
    let msid = stream_name.replace(char::is_whitespace, "_");
    let t = TrackLocalStaticRTP::new(MediaStreamTrack::new(
        msid,
        format!("{label}-{ssrc:08x}"),
        label.to_owned(),
        rk,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec: n.codec.clone(),
            ..Default::default()
        }],
    ));
    (Arc::new(t), ssrc)
}

impl SubTracks {
    /// Only a video track, already added to a peer connection (a conference participant's
    /// composite section).
    pub fn video_only(
        track: Arc<TrackLocalStaticRTP>,
        ssrc: u32,
        sender: Arc<dyn RtpSender>,
    ) -> SubTracks {
        SubTracks {
            video: Some(OutTrack {
                track,
                ssrc,
                sender,
                cont: Arc::default(),
            }),
            audio: None,
        }
    }

    /// Adds one sendonly track per published kind (video first, then audio, as Red5 offers).
    pub async fn add_to(pc: &Arc<dyn PeerConnection>, stream: &Stream) -> Result<SubTracks> {
        let mut out = SubTracks {
            video: None,
            audio: None,
        };
        if let Some(v) = &stream.video {
            let (track, ssrc) = local_track(stream, MediaKind::Video, v);
            let sender = pc.add_track(track.clone() as Arc<dyn TrackLocal>).await?;
            out.video = Some(OutTrack {
                track,
                ssrc,
                sender,
                cont: Arc::default(),
            });
        }
        let a = stream.audio.clone().unwrap_or(Negotiated {
            codec: crate::peer::opus_codec(),
            payload_type: 111,
        });
        let (track, ssrc) = local_track(stream, MediaKind::Audio, &a);
        let sender = pc.add_track(track.clone() as Arc<dyn TrackLocal>).await?;
        out.audio = Some(OutTrack {
            track,
            ssrc,
            sender,
            cont: Arc::default(),
        });
        Ok(out)
    }
}

/// Handle of an attached subscriber; detaches on drop.
pub struct Attachment {
    pub id: u64,
    pub stream: Arc<Stream>,
    pub ctl: mpsc::UnboundedReceiver<SubCtl>,
}

impl Drop for Attachment {
    fn drop(&mut self) {
        self.stream.detach(self.id);
    }
}

/// An in-process subscriber (the mixer's decoders): the stream's packets arrive on the
/// returned channel (bounded; a full queue drops like any slow subscriber).
pub fn tap(
    registry: &Registry,
    stream: &Arc<Stream>,
    queue: usize,
) -> (Attachment, mpsc::Receiver<Forwarded>) {
    let id = registry.next_id();
    let (media, rx) = mpsc::channel::<Forwarded>(queue.max(8));
    let (ctl, ctl_rx) = mpsc::unbounded_channel();
    let link = Arc::new(SubLink {
        id,
        media,
        ctl,
        lagging: AtomicBool::new(false),
        delivered: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
    });
    if let Ok(mut subs) = stream.subs.write() {
        subs.push(link);
    }
    stream.request_keyframe();
    (
        Attachment {
            id,
            stream: stream.clone(),
            ctl: ctl_rx,
        },
        rx,
    )
}

/// Starts forwarding the stream into this subscriber's tracks. One task writes RTP (its queue
/// is the only place packets wait), one task per track turns PLI/FIR into key-frame requests.
pub async fn attach(
    registry: &Registry,
    stream: &Arc<Stream>,
    tracks: &SubTracks,
    queue: usize,
) -> Attachment {
    let id = registry.next_id();
    let (media_tx, mut media_rx) = mpsc::channel::<Forwarded>(queue.max(8));
    let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
    let mut outs: Vec<(MediaKind, Arc<TrackLocalStaticRTP>, u32, Option<u8>)> = Vec::new();
    for (kind, t) in [
        (MediaKind::Video, &tracks.video),
        (MediaKind::Audio, &tracks.audio),
    ] {
        if let Some(OutTrack {
            track,
            ssrc,
            sender,
            ..
        }) = t
        {
            let pt = sender
                .get_parameters()
                .await
                .ok()
                .and_then(|p| p.rtp_parameters.codecs.first().map(|c| c.payload_type));
            outs.push((kind, track.clone(), *ssrc, pt));
            let weak = Arc::downgrade(stream);
            let track = track.clone();
            tokio::spawn(async move {
                while let Some(TrackLocalEvent::OnRtcpPacket(pkts)) = track.poll().await {
                    let wants_key = pkts.iter().any(|p| {
                        p.as_any().downcast_ref::<PictureLossIndication>().is_some()
                            || p.as_any().downcast_ref::<FullIntraRequest>().is_some()
                    });
                    if wants_key {
                        match weak.upgrade() {
                            Some(s) => s.request_keyframe(),
                            None => break,
                        }
                    }
                }
            });
        }
    }
    let link = Arc::new(SubLink {
        id,
        media: media_tx,
        ctl: ctl_tx,
        lagging: AtomicBool::new(false),
        delivered: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
    });
    let link_w = Arc::downgrade(&link);
    let stream_w = Arc::downgrade(stream);
    let video_mime = stream
        .video
        .as_ref()
        .map(|v| v.codec.mime_type.to_ascii_lowercase());
    let cont = tracks
        .video
        .as_ref()
        .map(|v| v.cont.clone())
        .unwrap_or_default();
    if let Ok(mut c) = cont.lock() {
        c.new_source();
    }
    tokio::spawn(async move {
        // Video starts (and restarts after drops) at a key frame; until then packets are held
        // back and a key frame is asked for every 500 ms. Sequence numbers stay contiguous.
        let mut need_key = video_mime.is_some();
        let mut ask = tokio::time::interval(Duration::from_millis(500));
        loop {
            let Forwarded { kind, mut pkt } = tokio::select! {
                f = media_rx.recv() => match f {
                    Some(f) => f,
                    None => break,
                },
                _ = ask.tick(), if need_key => {
                    match stream_w.upgrade() {
                        Some(s) => s.request_keyframe(),
                        None => break,
                    }
                    continue;
                }
            };
            let Some((_, track, ssrc, pt)) = outs.iter().find(|o| o.0 == kind) else {
                continue;
            };
            if kind == MediaKind::Video {
                if link_w
                    .upgrade()
                    .is_some_and(|l| l.lagging.swap(false, Ordering::AcqRel))
                {
                    need_key = true;
                }
                if need_key {
                    let mime = video_mime.as_deref().unwrap_or("");
                    if !is_keyframe_start(mime, &pkt.payload) {
                        if let Ok(mut c) = cont.lock() {
                            c.seq.skip();
                        }
                        continue;
                    }
                    need_key = false;
                }
                if let Ok(mut c) = cont.lock() {
                    pkt.header.sequence_number = c.seq.map(pkt.header.sequence_number);
                    pkt.header.timestamp = c.map_ts(pkt.header.timestamp);
                }
            }
            pkt.header.ssrc = *ssrc;
            if let Some(pt) = pt {
                pkt.header.payload_type = *pt;
            }
            // The publisher's extension ids mean nothing on this connection.
            pkt.header.extension = false;
            pkt.header.extensions.clear();
            // A write error means the transport is not up yet or gone; keep draining.
            let _ = track.write_rtp(pkt).await;
        }
    });
    if let Ok(mut subs) = stream.subs.write() {
        subs.push(link);
    }
    stream.request_keyframe();
    Attachment {
        id,
        stream: stream.clone(),
        ctl: ctl_rx,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use serde_json::json;

    fn link(
        id: u64,
        cap: usize,
    ) -> (
        Arc<SubLink>,
        mpsc::Receiver<Forwarded>,
        mpsc::UnboundedReceiver<SubCtl>,
    ) {
        let (media, mrx) = mpsc::channel(cap);
        let (ctl, crx) = mpsc::unbounded_channel();
        let l = Arc::new(SubLink {
            id,
            media,
            ctl,
            lagging: AtomicBool::new(false),
            delivered: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        });
        (l, mrx, crx)
    }

    fn pkt(seq: u16) -> rtp::Packet {
        let mut p = rtp::Packet::default();
        p.header.sequence_number = seq;
        p
    }

    #[tokio::test]
    async fn a_slow_subscriber_never_stalls_the_others() {
        let s = Stream::new("live/s".into(), "s".into(), None, None);
        let (fast, mut fast_rx, _c1) = link(1, 8);
        let (slow, _slow_rx_never_read, _c2) = link(2, 8);
        s.subs.write().unwrap().extend([fast.clone(), slow.clone()]);
        let reader = tokio::spawn(async move {
            let mut n = 0;
            while let Some(f) = fast_rx.recv().await {
                assert_eq!(f.pkt.header.sequence_number, n);
                n += 1;
                if n == 1000 {
                    break;
                }
            }
            n
        });
        for i in 0..1000u16 {
            s.forward(MediaKind::Video, pkt(i));
            // Let the fast reader run, as a real subscriber task would.
            tokio::task::yield_now().await;
        }
        assert_eq!(reader.await.unwrap(), 1000);
        assert_eq!(fast.dropped.load(Ordering::Relaxed), 0);
        assert_eq!(slow.delivered.load(Ordering::Relaxed), 8);
        assert_eq!(slow.dropped.load(Ordering::Relaxed), 992);
        // The drop asked the publisher for a key frame so the slow one can recover.
        let mut rx = s.keyframe_rx.lock().unwrap().take().unwrap();
        assert!(rx.try_recv().is_ok());
    }

    #[test]
    fn keyframe_detection() {
        let h = "video/h264";
        assert!(is_keyframe_start(h, &[0x65, 1, 2]));
        assert!(is_keyframe_start(h, &[0x67, 1, 2]));
        assert!(!is_keyframe_start(h, &[0x41, 1, 2]));
        // STAP-A with SPS
        assert!(is_keyframe_start(
            h,
            &[0x78, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0]
        ));
        // FU-A start of an IDR, and a middle fragment
        assert!(is_keyframe_start(h, &[0x7c, 0x85, 9]));
        assert!(!is_keyframe_start(h, &[0x7c, 0x05, 9]));
        assert!(!is_keyframe_start(h, &[0x7c, 0x81, 9]));
        let v = "video/vp8";
        assert!(is_keyframe_start(v, &[0x10, 0x00]));
        assert!(!is_keyframe_start(v, &[0x10, 0x01]));
        assert!(!is_keyframe_start(v, &[0x00, 0x00]));
        // X, I with a 15-bit picture id, then a key frame header
        assert!(is_keyframe_start(v, &[0x90, 0x80, 0x81, 0x23, 0x00]));
    }

    #[test]
    fn sequence_numbers_stay_contiguous() {
        let mut s = SeqRewrite::default();
        assert_eq!(s.map(100), 100);
        assert_eq!(s.map(101), 101);
        s.skip();
        s.skip();
        assert_eq!(s.map(110), 102);
        assert_eq!(s.map(111), 103);
        s.skip();
        assert_eq!(s.map(5), 104, "wraps");
    }

    #[test]
    fn a_new_source_continues_numbering_on_the_same_track() {
        let mut c = Continuity::default();
        c.new_source();
        assert_eq!(
            (c.seq.map(500), c.map_ts(90_000)),
            (500, 90_000),
            "first source as is"
        );
        assert_eq!((c.seq.map(501), c.map_ts(93_000)), (501, 93_000));
        // The composite is republished: another packetizer, other numbers.
        c.new_source();
        assert_eq!((c.seq.map(7), c.map_ts(1_000)), (502, 96_000));
        assert_eq!((c.seq.map(8), c.map_ts(4_000)), (503, 99_000));
    }

    #[tokio::test]
    async fn relay_keeps_the_latest_metadata_and_unpublish_notifies() {
        let reg = Registry::default();
        let s = reg.publish("live/s", "s", None, None).unwrap();
        assert!(matches!(
            reg.publish("live/s", "s", None, None),
            Err(LocalSmError::AlreadyPublished(_))
        ));
        let (l, _m, mut ctl) = link(1, 8);
        s.subs.write().unwrap().push(l);
        assert!(s.latest_metadata().is_none());
        s.relay(Invoke::metadata(json!({"v": 1})));
        s.relay(Invoke {
            method: "onCue".into(),
            ..Invoke::metadata(json!({"c": 1}))
        });
        s.relay(Invoke::metadata(json!({"v": 2})));
        assert_eq!(s.latest_metadata().unwrap().data, json!({"v": 2}));
        for want in [json!({"v": 1}), json!({"c": 1}), json!({"v": 2})] {
            match ctl.try_recv().unwrap() {
                SubCtl::Invoke(i) => assert_eq!(i.data, want),
                other => panic!("unexpected {other:?}"),
            }
        }
        reg.unpublish(&s);
        assert!(matches!(ctl.try_recv().unwrap(), SubCtl::Unpublished));
        assert!(reg.get("live/s").is_none());
        assert!(s.is_closed());
    }
}
