//! One client session (publisher or subscriber) on any transport: the legacy WebSocket (with the
//! switch to the `red5pro` data channel) or WHIP/WHEP (data channel only). The session task owns
//! its peer connection, its transports and its place in the SFU.

use std::sync::Arc;
use std::time::Duration;

use red5_signal::dc::{self, Invoke, RpcReply};
use red5_signal::ws::{self, IceCandidate, ServerMessage};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelInit};
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnection, RTCIceCandidateInit, RTCPeerConnectionState, RTCSessionDescription,
};

use crate::config::ServerConfig;
use crate::error::{LocalSmError, Result};
use crate::peer::{self, Peer, PeerEvent};
use crate::sdp;
use crate::sfu::{self, Attachment, MediaKind, Registry, Stream, SubCtl, SubTracks};
use red5_media::rtp::{RtpCodec, RtpPacketizer};
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::rtp_transceiver::RtpSender;

/// Label of the hidden, pre-negotiated channel that only exists to put an `m=application`
/// section into server offers (the client's own `red5pro` channel then opens in-band).
const CARRIER_ID: u16 = 1023;
const CARRIER_LABEL: &str = "red5pro-carrier";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Publisher,
    Subscriber,
}

/// Frames for the WebSocket writer.
pub enum WsOut {
    Text(String),
    Close,
}

/// Frames from the WebSocket reader.
pub enum WsIn {
    Text(String),
    Closed,
}

/// Follow-up requests of WHIP/WHEP sessions.
pub enum Cmd {
    /// WHEP PATCH with the client's answer.
    Answer(String, oneshot::Sender<std::result::Result<(), String>>),
    /// PATCH sdpfrag.
    Candidates(Vec<RTCIceCandidateInit>),
    /// DELETE.
    Delete,
}

enum DcIn {
    Open(Arc<dyn DataChannel>),
    Message(String),
    Closed,
}

pub struct Shared {
    pub registry: Arc<Registry>,
    pub cfg: Arc<ServerConfig>,
    /// Flips to true when the server shuts down; every session ends.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// Mixer outputs (mix-minus for joinGroup participants).
    pub mix: Arc<crate::mixfeed::SfuSink>,
    /// The conference control plane (exclusions refuse joinGroup).
    pub conf: crate::conference::ConferenceState,
}

/// A joinGroup participant (§7.6): its id, group and the tracks the server sends it.
struct Participant {
    id: String,
    group: String,
    /// The first extra video section: the composite.
    composite: Option<(Arc<TrackLocalStaticRTP>, u32, Arc<dyn RtpSender>)>,
    /// The extra audio sections: mix-minus, in m-line order.
    mix_minus: Vec<(Arc<TrackLocalStaticRTP>, u32, Arc<dyn RtpSender>)>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Where a session's media and messages go.
pub struct Session {
    shared: Arc<Shared>,
    scope: String,
    /// Stream named by the URL (SM2 proxy path, WHIP/WHEP path), checked against messages.
    path_stream: Option<String>,
    role: Option<Role>,
    name: String,
    request_id: Option<String>,
    ws_out: Option<mpsc::UnboundedSender<WsOut>>,
    /// WHIP/WHEP sessions have no WebSocket: messages only go over the data channel.
    http: bool,
    pc: Option<Arc<dyn PeerConnection>>,
    dc: Option<Arc<dyn DataChannel>>,
    dc_label: String,
    switched: bool,
    started: bool,
    dc_announced: bool,
    client_eoc: bool,
    server_eoc: bool,
    trickle_sent: bool,
    connected: bool,
    stream: Option<Arc<Stream>>,
    target: Option<Arc<Stream>>,
    tracks: Option<SubTracks>,
    attachment: Option<Attachment>,
    dc_tx: mpsc::UnboundedSender<DcIn>,
    dc_rx: mpsc::UnboundedReceiver<DcIn>,
    peer_rx: Option<mpsc::UnboundedReceiver<PeerEvent>>,
    /// Publisher tracks that arrived before the stream was registered.
    pending_tracks: Vec<Arc<dyn TrackRemote>>,
    /// The local answer (publisher), read for the negotiated codecs.
    local_sdp_cache: String,
    /// Between `DataChannel.Available` and `switchChannel` the client may already listen only
    /// to the data channel: messages wait here and go out on whichever transport wins.
    handover: Option<(Vec<String>, tokio::time::Instant)>,
    /// After `unpublish`: when to close if the client does not.
    grace: Option<tokio::time::Instant>,
    participant: Option<Participant>,
    done: bool,
}

fn init_of(c: &IceCandidate) -> Option<RTCIceCandidateInit> {
    let cand = c.candidate.clone().filter(|s| !s.is_empty())?;
    Some(RTCIceCandidateInit {
        candidate: cand,
        sdp_mid: c.sdp_mid.clone(),
        sdp_mline_index: c.sdp_m_line_index,
        username_fragment: c.username_fragment.clone(),
        ..Default::default()
    })
}

impl Session {
    pub fn new(
        shared: Arc<Shared>,
        scope: String,
        path_stream: Option<String>,
        role: Option<Role>,
    ) -> Self {
        let (dc_tx, dc_rx) = mpsc::unbounded_channel();
        Session {
            shared,
            scope,
            path_stream,
            role,
            name: String::new(),
            request_id: None,
            ws_out: None,
            http: false,
            pc: None,
            dc: None,
            dc_label: "red5pro".into(),
            switched: false,
            started: false,
            dc_announced: false,
            client_eoc: false,
            server_eoc: false,
            trickle_sent: false,
            connected: false,
            stream: None,
            target: None,
            tracks: None,
            attachment: None,
            dc_tx,
            dc_rx,
            peer_rx: None,
            pending_tracks: Vec::new(),
            local_sdp_cache: String::new(),
            handover: None,
            grace: None,
            participant: None,
            done: false,
        }
    }

    fn guid(&self, stream: &str) -> String {
        if self.scope.is_empty() {
            stream.to_owned()
        } else {
            format!("{}/{}", self.scope, stream)
        }
    }

    // ------------------------------------------------------------------ sending

    fn send_ws(&self, msg: &ServerMessage) {
        if let Some(ws) = &self.ws_out {
            let _ = ws.send(WsOut::Text(msg.to_json()));
        }
    }

    /// Sends on the current message transport: the WS until the switch, then the data channel.
    async fn send(&mut self, msg: &ServerMessage) {
        self.send_text(msg.to_json(), false).await;
    }

    async fn send_text(&mut self, text: String, _relay: bool) {
        if let Some((q, _)) = &mut self.handover {
            q.push(text);
            return;
        }
        self.send_now(text).await;
    }

    async fn send_now(&self, text: String) {
        if self.ws_out.is_some() && !self.switched {
            if let Some(ws) = &self.ws_out {
                let _ = ws.send(WsOut::Text(text));
            }
        } else if let Some(dc) = &self.dc {
            if let Err(e) = dc.send_text(&text).await {
                tracing::debug!("data channel send failed: {e}");
            }
        }
    }

    async fn relay(&mut self, inv: &Invoke) {
        let on_ws = self.ws_out.is_some() && !self.switched;
        let form = if on_ws {
            self.shared.cfg.relay_form_ws
        } else {
            self.shared.cfg.relay_form_dc
        };
        let mut inv = inv.clone();
        inv.dc_label = Some(self.dc_label.clone());
        self.send_text(inv.to_json_as(form), true).await;
    }

    fn status_code(&self, publish: bool) -> Option<&'static str> {
        self.shared.cfg.start_status_code.then_some(if publish {
            "NetStream.Publish.Start"
        } else {
            "NetStream.Play.Start"
        })
    }

    async fn error(&mut self, message: &str) {
        tracing::debug!(scope = %self.scope, "client error: {message}");
        self.send(&ServerMessage::error(message, None)).await;
    }

    // ------------------------------------------------------------------ peer setup

    fn spawn_dc_reader(&self, dc: Arc<dyn DataChannel>) {
        let tx = self.dc_tx.clone();
        tokio::spawn(async move {
            while let Some(ev) = dc.poll().await {
                match ev {
                    DataChannelEvent::OnOpen => {
                        let _ = tx.send(DcIn::Open(dc.clone()));
                    }
                    DataChannelEvent::OnMessage(m) => {
                        let _ =
                            tx.send(DcIn::Message(String::from_utf8_lossy(&m.data).into_owned()));
                    }
                    DataChannelEvent::OnClose => break,
                    _ => {}
                }
            }
            let _ = tx.send(DcIn::Closed);
        });
    }

    fn adopt(&mut self, p: Peer) {
        self.pc = Some(p.pc);
        self.peer_rx = Some(p.events);
    }

    /// Publisher: answers the client's offer. Returns the answer SDP (o=red5pro).
    pub async fn accept_offer(
        &mut self,
        name: &str,
        offer: &str,
        wait_gathering: bool,
    ) -> Result<String> {
        sdp::validate(offer).map_err(LocalSmError::InvalidSdp)?;
        let guid = self.guid(name);
        if self.shared.registry.is_published(&guid) {
            return Err(LocalSmError::AlreadyPublished(guid));
        }
        let mut p = peer::build(peer::publisher_media_engine(sdp::offers_h264(offer))?).await?;
        let desc = RTCSessionDescription::offer(offer.to_owned())
            .map_err(|e| LocalSmError::InvalidSdp(e.to_string()))?;
        if let Err(e) = p.pc.set_remote_description(desc).await {
            let _ = p.pc.close().await;
            return Err(LocalSmError::InvalidSdp(e.to_string()));
        }
        let answer = p.pc.create_answer(None).await?;
        p.pc.set_local_description(answer).await?;
        if wait_gathering {
            wait_for_gathering(&mut p, &mut Vec::new()).await;
        }
        let local =
            p.pc.local_description()
                .await
                .map(|d| d.sdp)
                .unwrap_or_default();
        self.name = name.to_owned();
        self.role = Some(Role::Publisher);
        self.local_sdp_cache = local.clone();
        self.adopt(p);
        Ok(sdp::red5_origin(&local))
    }

    /// Publisher: registers the stream (WS `publish`, or right after the WHIP answer).
    pub fn register_stream(&mut self) -> Result<()> {
        let local = self.local_sdp_cache.clone();
        let guid = self.guid(&self.name);
        let s = self.shared.registry.publish(
            &guid,
            &self.name,
            sdp::negotiated(&local, "video"),
            sdp::negotiated(&local, "audio"),
        )?;
        self.stream = Some(s);
        Ok(())
    }

    /// Conference participant (joinGroup, §7.6): the first audio and video sections receive the
    /// participant's media (published as `<scope>/<name>`), every further audio/video section
    /// is answered `sendonly`: the composite on the first extra video, mix-minus on the extra
    /// audio. Returns the answer SDP.
    async fn accept_join(&mut self, group: &str, name: &str, offer: &str) -> Result<String> {
        sdp::validate(offer).map_err(LocalSmError::InvalidSdp)?;
        let offer = &sdp::drop_unmapped_payloads(offer);
        let guid = self.guid(name);
        if self.shared.registry.is_published(&guid) {
            return Err(LocalSmError::AlreadyPublished(guid));
        }
        let p = peer::build(peer::publisher_media_engine(sdp::offers_h264(offer))?).await?;
        let video_codec = if sdp::offers_h264(offer) {
            peer::Negotiated {
                codec: peer::h264_codec(),
                payload_type: 102,
            }
        } else {
            peer::Negotiated {
                codec: peer::vp8_codec(),
                payload_type: 96,
            }
        };
        let audio_codec = peer::Negotiated {
            codec: peer::opus_codec(),
            payload_type: 111,
        };
        // Pre-made transceivers are matched to the offer's sections by kind and direction:
        // the participant's own (sendrecv) sections take the recvonly ones, its recvonly
        // sections the sendonly ones carrying our tracks.
        let mut seen_audio = false;
        let mut seen_video = false;
        let mut composite = None;
        let mut mix_minus = Vec::new();
        for (kind, dir) in sdp::media_sections(offer) {
            let (k, seen) = if kind == "audio" {
                (RtpCodecKind::Audio, &mut seen_audio)
            } else {
                (RtpCodecKind::Video, &mut seen_video)
            };
            if !*seen && (dir == "sendrecv" || dir == "sendonly") {
                *seen = true;
                p.pc.add_transceiver_from_kind(
                    k,
                    Some(RTCRtpTransceiverInit {
                        direction: RTCRtpTransceiverDirection::Recvonly,
                        ..Default::default()
                    }),
                )
                .await?;
                continue;
            }
            if dir != "recvonly" && dir != "sendrecv" {
                continue;
            }
            let (mk, n) = if k == RtpCodecKind::Audio {
                (MediaKind::Audio, &audio_codec)
            } else {
                (MediaKind::Video, &video_codec)
            };
            if mk == MediaKind::Video && composite.is_some() {
                continue;
            }
            let (track, ssrc) = sfu::new_local_track(group, mk, n);
            let t =
                p.pc.add_transceiver_from_track(
                    track.clone() as Arc<dyn TrackLocal>,
                    Some(RTCRtpTransceiverInit {
                        direction: RTCRtpTransceiverDirection::Sendonly,
                        ..Default::default()
                    }),
                )
                .await?;
            let Some(sender) = t.sender().await? else {
                continue;
            };
            if mk == MediaKind::Video {
                composite = Some((track, ssrc, sender));
            } else {
                mix_minus.push((track, ssrc, sender));
            }
        }
        let desc = RTCSessionDescription::offer(offer.to_owned())
            .map_err(|e| LocalSmError::InvalidSdp(e.to_string()))?;
        if let Err(e) = p.pc.set_remote_description(desc).await {
            let _ = p.pc.close().await;
            return Err(LocalSmError::InvalidSdp(e.to_string()));
        }
        let answer = p.pc.create_answer(None).await?;
        p.pc.set_local_description(answer).await?;
        let local =
            p.pc.local_description()
                .await
                .map(|d| d.sdp)
                .unwrap_or_default();
        self.name = name.to_owned();
        self.role = Some(Role::Publisher);
        self.local_sdp_cache = local.clone();
        self.adopt(p);
        self.participant = Some(Participant {
            id: format!("{:06x}", rand::random::<u32>() & 0x00ff_ffff),
            group: group.to_owned(),
            composite,
            mix_minus,
            tasks: Vec::new(),
        });
        Ok(sdp::red5_origin(&local))
    }

    /// Starts sending a participant the composite of `<scope>/<group>` (whenever it is
    /// published, again after a republish) and its mix-minus.
    fn start_participant_media(&mut self) {
        let Some(p) = self.participant.as_mut() else {
            return;
        };
        let output = if self.scope.is_empty() {
            p.group.clone()
        } else {
            format!("{}/{}", self.scope, p.group)
        };
        if let Some((track, ssrc, sender)) = p.composite.clone() {
            let registry = self.shared.registry.clone();
            let queue = self.shared.cfg.subscriber_queue;
            let out = output.clone();
            p.tasks.push(tokio::spawn(async move {
                let tracks = SubTracks::video_only(track, ssrc, sender);
                loop {
                    if let Some(stream) = registry.get(&out).filter(|s| !s.is_closed()) {
                        let mut a = sfu::attach(&registry, &stream, &tracks, queue).await;
                        while let Some(ctl) = a.ctl.recv().await {
                            if matches!(ctl, SubCtl::Unpublished) {
                                break;
                            }
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }));
        }
        if p.mix_minus.is_empty() {
            return;
        }
        let tracks = p.mix_minus.clone();
        let (sink, name) = (self.shared.mix.clone(), self.name.clone());
        for (t, _, _) in &tracks {
            // Drain RTCP so the track's event queue never grows.
            let t = t.clone();
            p.tasks.push(tokio::spawn(async move {
                while let Some(TrackLocalEvent::OnRtcpPacket(_)) = t.poll().await {}
            }));
        }
        p.tasks.push(tokio::spawn(async move {
            let mut outs = Vec::new();
            for (track, ssrc, sender) in tracks {
                let pt = sender
                    .get_parameters()
                    .await
                    .ok()
                    .and_then(|p| p.rtp_parameters.codecs.first().map(|c| c.payload_type))
                    .unwrap_or(111);
                let r = rand::random::<u32>();
                outs.push((
                    track,
                    RtpPacketizer::new(RtpCodec::Opus, pt, ssrc, r as u16, r),
                ));
            }
            loop {
                let mut rx = sink.listen(&output, &name);
                while let Some(mm) = rx.recv().await {
                    for ((track, pk), opus) in outs.iter_mut().zip(mm.tracks.iter()) {
                        if let Ok(pkts) = pk.packetize(opus, mm.timestamp) {
                            for pkt in pkts {
                                let _ = track.write_rtp(pkt).await;
                            }
                        }
                    }
                }
                // The mixer stopped; a new composition for the room may start later.
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }));
    }

    /// Subscriber: builds the server offer for `name` (tracks of the published stream).
    pub async fn make_offer(&mut self, name: &str, wait_gathering: bool) -> Result<String> {
        let guid = self.guid(name);
        let stream = self
            .shared
            .registry
            .get(&guid)
            .ok_or_else(|| LocalSmError::NotPublished(guid.clone()))?;
        let mut p = peer::build(peer::subscriber_media_engine(
            stream.video.as_ref(),
            stream.audio.as_ref(),
        )?)
        .await?;
        let tracks = SubTracks::add_to(&p.pc, &stream).await?;
        let carrier = RTCDataChannelInit {
            ordered: true,
            negotiated: Some(CARRIER_ID),
            ..Default::default()
        };
        p.pc.create_data_channel(CARRIER_LABEL, Some(carrier))
            .await?;
        let offer = p.pc.create_offer(None).await?;
        p.pc.set_local_description(offer).await?;
        let mut early = Vec::new();
        if wait_gathering {
            wait_for_gathering(&mut p, &mut early).await;
        }
        let local =
            p.pc.local_description()
                .await
                .map(|d| d.sdp)
                .unwrap_or_default();
        self.name = name.to_owned();
        self.role = Some(Role::Subscriber);
        self.target = Some(stream);
        self.tracks = Some(tracks);
        self.adopt(p);
        Ok(sdp::ensure_trickle(&sdp::red5_origin(&local)))
    }

    pub async fn apply_answer(&mut self, answer: &str) -> std::result::Result<(), String> {
        sdp::validate(answer)?;
        let Some(pc) = &self.pc else {
            return Err("no offer was sent".into());
        };
        let desc = RTCSessionDescription::answer(answer.to_owned()).map_err(|e| e.to_string())?;
        pc.set_remote_description(desc)
            .await
            .map_err(|e| e.to_string())
    }

    async fn add_candidate(&self, c: RTCIceCandidateInit) {
        if let Some(pc) = &self.pc {
            if let Err(e) = pc.add_ice_candidate(c).await {
                tracing::debug!("ignored remote candidate: {e}");
            }
        }
    }

    // ------------------------------------------------------------------ lifecycle

    async fn teardown(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        if let Some(p) = self.participant.take() {
            p.tasks.iter().for_each(|t| t.abort());
        }
        if let Some(s) = self.stream.take() {
            self.shared.registry.unpublish(&s);
        }
        self.attachment = None;
        if let Some(pc) = self.pc.take() {
            let _ = pc.close().await;
        }
        if let Some(ws) = self.ws_out.take() {
            let _ = ws.send(WsOut::Close);
        }
    }

    /// Sends the start status (and what follows it: replayed metadata, DC announcement).
    async fn start(&mut self) {
        if self.started {
            return;
        }
        self.started = true;
        let publish = self.role == Some(Role::Publisher);
        if let Some(p) = &self.participant {
            let msg = ServerMessage::participant_starting(&p.id, &p.group);
            self.send(&msg).await;
        } else if !self.http {
            self.send(&ServerMessage::starting(
                &self.name,
                self.status_code(publish),
            ))
            .await;
        }
        if !publish {
            if let Some(inv) = self.target.as_ref().and_then(|t| t.latest_metadata()) {
                self.relay(&inv).await;
            }
        }
        if self.dc.is_some() && !self.dc_announced {
            self.announce_dc();
        }
    }

    fn announce_dc(&mut self) {
        if self.http || self.ws_out.is_none() || self.dc_announced {
            return;
        }
        self.dc_announced = true;
        self.send_ws(&ServerMessage::data_channel_available(&self.dc_label));
        // The SDK switches about 1 s after the announcement.
        self.handover = Some((
            Vec::new(),
            tokio::time::Instant::now() + Duration::from_secs(3),
        ));
    }

    /// Ends the handover window and sends what waited, on the transport now current.
    async fn end_handover(&mut self) {
        if let Some((q, _)) = self.handover.take() {
            for t in q {
                self.send_now(t).await;
            }
        }
    }

    async fn maybe_trickle_completed(&mut self) {
        if !self.http && self.client_eoc && self.server_eoc && !self.trickle_sent {
            self.trickle_sent = true;
            self.send_ws(&ServerMessage::trickle_completed(false));
            // A participant sends no `publish`: it is started once ICE trickling is done.
            if self.participant.is_some() {
                self.start().await;
            }
        }
    }

    async fn attach_if_ready(&mut self) {
        // Attaching before the transport is up is harmless (writes fail until DTLS is up), and
        // doing it early means no relay message can miss this subscriber.
        if self.role != Some(Role::Subscriber) || self.attachment.is_some() {
            return;
        }
        // WS subscribers start receiving media once they sent `subscribe`; WHEP ones at once.
        if !self.http && !self.started {
            return;
        }
        let (Some(stream), Some(tracks)) = (&self.target, &self.tracks) else {
            return;
        };
        if stream.is_closed() {
            return;
        }
        let a = sfu::attach(
            &self.shared.registry,
            stream,
            tracks,
            self.shared.cfg.subscriber_queue,
        )
        .await;
        self.attachment = Some(a);
    }

    // ------------------------------------------------------------------ client messages

    async fn on_transport_message(&mut self, m: dc::ClientMessage) {
        match m {
            dc::ClientMessage::Send(inv) => {
                if let Some(s) = &self.stream {
                    s.relay(Invoke {
                        method: inv.method,
                        data: inv.data,
                        sender_name: Some(self.name.clone()),
                        dc_label: None,
                        form: self.shared.cfg.relay_form_dc,
                    });
                } else {
                    tracing::debug!("send() from a non-publisher ignored");
                }
            }
            dc::ClientMessage::Unpublish { stream } => {
                if self.role == Some(Role::Publisher) && (stream == self.name || stream.is_empty())
                {
                    // End the stream now, but leave the client time to read "stopping" and close
                    // its side; closing our peer connection at once would drop that message.
                    if let Some(st) = self.stream.take() {
                        self.shared.registry.unpublish(&st);
                    }
                    self.send(&ServerMessage::stopping(&self.name, None)).await;
                    self.grace = Some(tokio::time::Instant::now() + Duration::from_secs(5));
                } else {
                    self.error(&format!(
                        "Unpublish failed: {stream} is not published on this connection"
                    ))
                    .await;
                }
            }
            dc::ClientMessage::SwitchChannel { label } => {
                tracing::debug!(name = %self.name, dc = self.dc.is_some(), "switchChannel {label}");
                if self.dc.is_some() {
                    self.switched = true;
                    if !label.is_empty() {
                        self.dc_label = label;
                    }
                    self.end_handover().await;
                } else {
                    self.error("switchChannel: no data channel is open").await;
                }
            }
            dc::ClientMessage::CallAdapter(c) => {
                let id = c.id.clone().unwrap_or_default();
                let reply = RpcReply::err(
                    id,
                    json!(format!("Method {} is not supported", c.call.method)),
                );
                self.send_text(serde_json::to_string(&reply).unwrap_or_default(), false)
                    .await;
            }
            dc::ClientMessage::LeaveGroup { group, .. } => {
                self.send(&ServerMessage::leaving_group(&group)).await;
                self.teardown().await;
            }
            dc::ClientMessage::Mute(_) | dc::ClientMessage::Stats(_) => {}
            dc::ClientMessage::Log(l) => {
                tracing::debug!(level = ?l.log, "client log: {}", l.message)
            }
        }
    }

    fn check_name(&self, stream: &str) -> std::result::Result<(), String> {
        if stream.is_empty() {
            return Err("The stream name is missing".into());
        }
        if let Some(p) = &self.path_stream {
            if p != stream {
                return Err(format!(
                    "The stream name {stream} does not match the connection's stream {p}"
                ));
            }
        }
        if !self.name.is_empty() && self.name != stream {
            return Err(format!(
                "The stream name {stream} does not match this session's stream {}",
                self.name
            ));
        }
        Ok(())
    }

    async fn on_ws_text(&mut self, text: &str) {
        let msg = match ws::ClientMessage::parse(text) {
            Ok(m) => m,
            Err(e) => {
                let detail = if serde_json::from_str::<serde_json::Value>(text).is_err() {
                    "Invalid JSON".to_owned()
                } else {
                    format!("Unknown or malformed operation: {e}")
                };
                self.error(&detail).await;
                return;
            }
        };
        match msg {
            ws::ClientMessage::IsAvailable(m) => {
                let guid = self.guid(&m.stream);
                let ok = self.shared.registry.is_published(&guid);
                self.send_ws(&ServerMessage::IsAvailable(ok));
            }
            ws::ClientMessage::HandleOffer(m) => {
                if let Err(e) = self.check_name(&m.stream) {
                    return self.error(&e).await;
                }
                if self.role == Some(Role::Subscriber) || self.pc.is_some() {
                    return self
                        .error("An offer was already handled on this connection")
                        .await;
                }
                match self.accept_offer(&m.stream, &m.data.sdp.sdp, false).await {
                    Ok(answer) => self.send_ws(&ServerMessage::answer(answer, None)),
                    Err(LocalSmError::AlreadyPublished(g)) => {
                        self.error(&format!("Stream {g} is already being published"))
                            .await
                    }
                    Err(e) => self.error(&e.to_string()).await,
                }
            }
            ws::ClientMessage::RequestOffer(m) => {
                if let Err(e) = self.check_name(&m.stream) {
                    return self.error(&e).await;
                }
                if self.pc.is_some() {
                    return self
                        .error("An offer was already sent on this connection")
                        .await;
                }
                self.request_id = m.request_id.clone();
                match self.make_offer(&m.stream, false).await {
                    Ok(offer) => self.send_ws(&ServerMessage::offer(offer)),
                    Err(LocalSmError::NotPublished(_)) => {
                        self.send_ws(&ServerMessage::status(dc::Status {
                            kind: Some("error".into()),
                            code: Some("NetStream.Play.StreamNotFound".into()),
                            message: Some(format!("Stream {} not found", m.stream)),
                            ..Default::default()
                        }));
                    }
                    Err(e) => self.error(&e.to_string()).await,
                }
            }
            ws::ClientMessage::HandleAnswer(m) => {
                if let Err(e) = self.check_name(&m.stream) {
                    return self.error(&e).await;
                }
                if self.role != Some(Role::Subscriber) {
                    return self.error("handleAnswer without a requested offer").await;
                }
                if let Err(e) = self.apply_answer(&m.data.sdp.sdp).await {
                    self.error(&format!("Invalid answer SDP: {e}")).await;
                }
            }
            ws::ClientMessage::HandleCandidate(m) => {
                if self.pc.is_none() {
                    return self.error("handleCandidate before an offer").await;
                }
                if m.data.candidate.is_end() {
                    self.client_eoc = true;
                    self.maybe_trickle_completed().await;
                } else if let Some(init) = init_of(&m.data.candidate) {
                    self.add_candidate(init).await;
                }
            }
            ws::ClientMessage::Publish(m) => {
                if let Err(e) = self.check_name(&m.stream) {
                    return self.error(&e).await;
                }
                if self.role != Some(Role::Publisher) || self.pc.is_none() {
                    return self.error("publish before handleOffer").await;
                }
                if self.stream.is_none() {
                    if let Err(e) = self.register_stream() {
                        return self.error(&e.to_string()).await;
                    }
                }
                self.start().await;
            }
            ws::ClientMessage::Subscribe(m) => {
                if let Err(e) = self.check_name(&m.stream) {
                    return self.error(&e).await;
                }
                if self.role != Some(Role::Subscriber) {
                    return self.error("subscribe before requestOffer").await;
                }
                if self.target.as_ref().is_none_or(|t| t.is_closed()) {
                    return self.send(&ServerMessage::unpublish_notify()).await;
                }
                self.start().await;
                self.attach_if_ready().await;
            }
            ws::ClientMessage::JoinGroup(m) => {
                if let Err(e) = self.check_name(&m.stream_name) {
                    return self.error(&e).await;
                }
                if m.group.is_empty() {
                    return self.error("joinGroup needs the group (room) name").await;
                }
                // An excluded participant neither publishes nor hears/sees the conference.
                if self.shared.conf.is_excluded(&self.scope, &m.stream_name) {
                    let msg = format!("{} is excluded from {}", m.stream_name, self.scope);
                    return self.error(&msg).await;
                }
                if self.pc.is_some() {
                    return self
                        .error("An offer was already handled on this connection")
                        .await;
                }
                match self
                    .accept_join(&m.group, &m.stream_name, &m.data.sdp.sdp)
                    .await
                {
                    Ok(answer) => {
                        let id = self.participant.as_ref().map(|p| p.id.clone());
                        self.send_ws(&ServerMessage::answer(answer, id));
                        if let Err(e) = self.register_stream() {
                            return self.error(&e.to_string()).await;
                        }
                        self.start_participant_media();
                    }
                    Err(LocalSmError::AlreadyPublished(g)) => {
                        self.error(&format!("Stream {g} is already being published"))
                            .await
                    }
                    Err(e) => self.error(&e.to_string()).await,
                }
            }
            ws::ClientMessage::Transport(m) => self.on_transport_message(m).await,
        }
    }

    async fn on_dc(&mut self, ev: DcIn) {
        if let DcIn::Message(t) = &ev {
            tracing::debug!(name = %self.name, "data channel message: {t}");
        }
        match ev {
            DcIn::Open(dc) => {
                // webrtc-rs also reports our own pre-negotiated carrier channel: skip it. Only the
                // first client channel is the message transport.
                if self.dc.is_some() || dc.label().await.is_ok_and(|l| l == CARRIER_LABEL) {
                    return;
                }
                tracing::debug!(name = %self.name, http = self.http, "data channel open");
                if let Ok(l) = dc.label().await {
                    self.dc_label = l;
                }
                self.dc = Some(dc);
                if self.http && self.role == Some(Role::Subscriber) {
                    // WHEP: the SDK raises Subscribe.Start when the channel opens.
                    if let Some(inv) = self.target.as_ref().and_then(|t| t.latest_metadata()) {
                        self.relay(&inv).await;
                    }
                } else if self.started || self.shared.cfg.dc_available_first {
                    self.announce_dc();
                }
            }
            DcIn::Message(text) => match dc::ClientMessage::parse(&text) {
                Ok(m) => self.on_transport_message(m).await,
                Err(_) => {
                    // Some clients also use the DC for WS-style operations.
                    if let Ok(ws::ClientMessage::Transport(m)) = ws::ClientMessage::parse(&text) {
                        self.on_transport_message(m).await;
                    } else {
                        self.error("Unknown or malformed message").await;
                    }
                }
            },
            DcIn::Closed => {
                if self.dc.is_some() && (self.switched || self.http) {
                    self.teardown().await;
                }
            }
        }
    }

    async fn on_peer(&mut self, ev: PeerEvent) {
        match ev {
            PeerEvent::Candidate(c) => {
                if !self.http {
                    let ic = IceCandidate::new(
                        c.candidate,
                        c.sdp_mid.or(Some("0".into())),
                        c.sdp_mline_index.or(Some(0)),
                    );
                    self.send_ws(&ServerMessage::candidate(ic, true));
                }
            }
            PeerEvent::GatheringComplete => {
                if !self.http && !self.server_eoc {
                    self.send_ws(&ServerMessage::EndOfCandidates { typed: true });
                }
                self.server_eoc = true;
                self.maybe_trickle_completed().await;
            }
            PeerEvent::State(s) => match s {
                RTCPeerConnectionState::Connected => {
                    self.connected = true;
                    self.attach_if_ready().await;
                    // The key frame asked for at attach time may have been sent before DTLS was up.
                    if let Some(t) = &self.target {
                        t.request_keyframe();
                    }
                }
                RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed => {
                    self.teardown().await
                }
                _ => {}
            },
            PeerEvent::DataChannel(dc) => self.spawn_dc_reader(dc),
            PeerEvent::Track(t) => match &self.stream {
                Some(s) => sfu::spawn_ingest(s.clone(), t),
                None => self.pending_tracks.push(t),
            },
        }
    }

    fn flush_pending_tracks(&mut self) {
        if let Some(s) = &self.stream {
            for t in self.pending_tracks.drain(..) {
                sfu::spawn_ingest(s.clone(), t);
            }
        }
    }

    // ------------------------------------------------------------------ drivers

    /// Runs a legacy WebSocket session until the client leaves.
    pub async fn run_ws(
        mut self,
        out: mpsc::UnboundedSender<WsOut>,
        mut input: mpsc::UnboundedReceiver<WsIn>,
    ) {
        self.ws_out = Some(out);
        self.send_ws(&ServerMessage::connect_success());
        let mut shutdown = self.shared.shutdown.clone();
        let deadline = tokio::time::sleep(self.shared.cfg.session_timeout);
        tokio::pin!(deadline);
        let mut ws_open = true;
        loop {
            if self.done {
                break;
            }
            tokio::select! {
                _ = shutdown.changed() => self.teardown().await,
                m = input.recv(), if ws_open => match m {
                    Some(WsIn::Text(t)) => {
                        self.on_ws_text(&t).await;
                        self.flush_pending_tracks();
                    }
                    Some(WsIn::Closed) | None => {
                        ws_open = false;
                        self.ws_out = None;
                        if !self.switched {
                            // aggressive.connection.cleanup: a WS close without switch ends the stream.
                            self.teardown().await;
                        }
                    }
                },
                Some(ev) = self.dc_rx.recv() => self.on_dc(ev).await,
                Some(ev) = next_peer(&mut self.peer_rx) => {
                    self.on_peer(ev).await;
                    self.flush_pending_tracks();
                }
                Some(ctl) = next_ctl(&mut self.attachment) => self.on_ctl(ctl).await,
                _ = handover_deadline(&self.handover) => self.end_handover().await,
                _ = grace_deadline(self.grace) => self.teardown().await,
                _ = &mut deadline, if !self.connected && self.pc.is_some() => {
                    tracing::debug!(scope = %self.scope, "session did not connect in time");
                    self.teardown().await;
                }
            }
        }
        self.teardown().await;
    }

    /// Runs a WHIP/WHEP session (already negotiated by the POST handler).
    pub async fn run_http(mut self, mut cmds: mpsc::UnboundedReceiver<Cmd>) {
        self.http = true;
        self.flush_pending_tracks();
        self.attach_if_ready().await;
        let mut shutdown = self.shared.shutdown.clone();
        let deadline = tokio::time::sleep(self.shared.cfg.session_timeout);
        tokio::pin!(deadline);
        loop {
            if self.done {
                break;
            }
            tokio::select! {
                _ = shutdown.changed() => self.teardown().await,
                c = cmds.recv() => match c {
                    Some(Cmd::Answer(sdp, reply)) => {
                        let r = self.apply_answer(&sdp).await;
                        let _ = reply.send(r);
                    }
                    Some(Cmd::Candidates(cs)) => {
                        for c in cs {
                            self.add_candidate(c).await;
                        }
                    }
                    Some(Cmd::Delete) | None => self.teardown().await,
                },
                Some(ev) = self.dc_rx.recv() => self.on_dc(ev).await,
                Some(ev) = next_peer(&mut self.peer_rx) => {
                    self.on_peer(ev).await;
                    self.flush_pending_tracks();
                }
                Some(ctl) = next_ctl(&mut self.attachment) => self.on_ctl(ctl).await,
                _ = grace_deadline(self.grace) => self.teardown().await,
                _ = &mut deadline, if !self.connected => {
                    tracing::debug!(scope = %self.scope, "WHIP/WHEP session did not connect in time");
                    self.teardown().await;
                }
            }
        }
        self.teardown().await;
    }

    async fn on_ctl(&mut self, ctl: SubCtl) {
        tracing::debug!(name = %self.name, dc = self.dc.is_some(), switched = self.switched, ws = self.ws_out.is_some(), "ctl {ctl:?}");
        match ctl {
            SubCtl::Invoke(inv) => self.relay(&inv).await,
            SubCtl::Unpublished => {
                self.send(&ServerMessage::unpublish_notify()).await;
                self.attachment = None;
            }
        }
    }

    pub fn mark_started_http(&mut self) {
        self.http = true;
        self.started = true;
    }
}

async fn next_peer(rx: &mut Option<mpsc::UnboundedReceiver<PeerEvent>>) -> Option<PeerEvent> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

async fn handover_deadline(h: &Option<(Vec<String>, tokio::time::Instant)>) {
    match h {
        Some((_, at)) => tokio::time::sleep_until(*at).await,
        None => std::future::pending().await,
    }
}

async fn grace_deadline(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn next_ctl(a: &mut Option<Attachment>) -> Option<SubCtl> {
    match a {
        Some(a) => a.ctl.recv().await,
        None => std::future::pending().await,
    }
}

/// Waits (bounded) until local gathering completes so the SDP carries the candidates; events
/// seen meanwhile other than candidates are kept for the session.
async fn wait_for_gathering(p: &mut Peer, kept: &mut Vec<PeerEvent>) {
    let t = tokio::time::sleep(Duration::from_secs(3));
    tokio::pin!(t);
    loop {
        tokio::select! {
            ev = p.events.recv() => match ev {
                Some(PeerEvent::GatheringComplete) | None => break,
                Some(PeerEvent::Candidate(_)) => {}
                Some(other) => kept.push(other),
            },
            _ = &mut t => break,
        }
    }
}
