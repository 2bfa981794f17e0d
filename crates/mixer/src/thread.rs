//! A thin driver: runs a [`Mixer`] on its own thread with the real clock. Media and control go
//! in through a bounded channel (media is dropped, never queued without limit, when the mixer
//! falls behind); events come out through a callback, which may forward them to any async
//! channel (e.g. a tokio `UnboundedSender`, whose `send` does not block).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use red5_media::frame::{AudioFrame, VideoFrame};

use crate::error::MixerError;
use crate::layout::LayoutKind;
use crate::mixer::{Mixer, MixerConfig, MixerEvent};

/// Queue length between callers and the mixer thread.
const QUEUE: usize = 256;

enum Command {
    Video(String, VideoFrame, Instant),
    Audio(String, AudioFrame),
    Participants(Vec<String>),
    Presenter(Option<String>),
    Layout(LayoutKind),
    Bitrate(u32),
    Keyframe,
    Mute(String, bool),
    Stop,
}

/// Handle to a mixer running on its own thread. Dropping it stops the thread.
pub struct MixerThread {
    tx: SyncSender<Command>,
    dropped: Arc<AtomicU64>,
    join: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for MixerThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MixerThread")
            .field("dropped", &self.dropped.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl MixerThread {
    /// Start a mixer; `on_event` runs on the mixer thread for every output.
    pub fn spawn(
        config: MixerConfig,
        mut on_event: impl FnMut(MixerEvent) + Send + 'static,
    ) -> Result<Self, MixerError> {
        let mut mixer = Mixer::new(config, Instant::now())?;
        let (tx, rx) = mpsc::sync_channel::<Command>(QUEUE);
        let join = std::thread::Builder::new()
            .name("red5-mixer".into())
            .spawn(move || loop {
                let deadline = mixer.next_deadline();
                let wait = deadline.saturating_duration_since(Instant::now());
                let mut cmd = match rx.recv_timeout(wait) {
                    Ok(c) => Some(c),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return,
                };
                // Apply everything queued before mixing, so a tick sees the newest media.
                while let Some(c) = cmd {
                    if !apply(&mut mixer, c) {
                        return;
                    }
                    cmd = rx.try_recv().ok();
                }
                if Instant::now() >= mixer.next_deadline() {
                    match mixer.tick(Instant::now()) {
                        Ok(events) => events.into_iter().for_each(&mut on_event),
                        Err(e) => tracing::warn!("mixer tick failed: {e}"),
                    }
                }
            })
            .map_err(|e| MixerError::InvalidConfig(format!("no thread for the mixer: {e}")))?;
        Ok(MixerThread {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
            join: Some(join),
        })
    }

    fn media(&self, c: Command) -> bool {
        match self.tx.try_send(c) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }

    fn control(&self, c: Command) -> bool {
        self.tx.send(c).is_ok()
    }

    /// A participant's decoded picture (arrival = now). False once the mixer stopped.
    pub fn push_video(&self, id: &str, frame: VideoFrame) -> bool {
        self.media(Command::Video(id.to_owned(), frame, Instant::now()))
    }

    /// A participant's decoded audio. False once the mixer stopped.
    pub fn push_audio(&self, id: &str, frame: AudioFrame) -> bool {
        self.media(Command::Audio(id.to_owned(), frame))
    }

    pub fn set_participants(&self, order: Vec<String>) -> bool {
        self.control(Command::Participants(order))
    }

    pub fn set_presenter(&self, presenter: Option<String>) -> bool {
        self.control(Command::Presenter(presenter))
    }

    pub fn set_layout(&self, layout: LayoutKind) -> bool {
        self.control(Command::Layout(layout))
    }

    pub fn set_bitrate_kbps(&self, kbps: u32) -> bool {
        self.control(Command::Bitrate(kbps))
    }

    pub fn request_keyframe(&self) -> bool {
        self.control(Command::Keyframe)
    }

    /// Host mute/unmute of a participant's audio.
    pub fn set_audio_muted(&self, id: &str, muted: bool) -> bool {
        self.control(Command::Mute(id.to_owned(), muted))
    }

    /// Media items dropped because the mixer thread was behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Stop the thread and wait for it.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let _ = self.tx.send(Command::Stop);
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

impl Drop for MixerThread {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Apply one command; false = stop.
fn apply(mixer: &mut Mixer, c: Command) -> bool {
    let r = match c {
        Command::Video(id, f, at) => mixer.push_video(&id, f, at).map(|_| ()),
        Command::Audio(id, f) => mixer.push_audio(&id, &f).map(|_| ()),
        Command::Participants(p) => mixer.set_participants(&p),
        Command::Presenter(p) => {
            mixer.set_presenter(p.as_deref());
            Ok(())
        }
        Command::Layout(l) => {
            mixer.set_layout(l);
            Ok(())
        }
        Command::Bitrate(k) => mixer.set_bitrate_kbps(k),
        Command::Keyframe => {
            mixer.request_keyframe();
            Ok(())
        }
        Command::Mute(id, muted) => {
            mixer.set_audio_muted(&id, muted);
            Ok(())
        }
        Command::Stop => return false,
    };
    if let Err(e) = r {
        tracing::warn!("mixer input refused: {e}");
    }
    true
}
