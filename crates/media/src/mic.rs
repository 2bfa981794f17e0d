//! Microphone capture through cpal, converted to 48 kHz 20 ms frames.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

use cpal::traits::{DeviceTrait, StreamTrait};
use cpal::{ErrorKind, FromSample, SampleFormat, SizedSample};

use crate::analysis::Level;
use crate::devices::{audio_device_name, find_audio_device, stream_error_is_fatal, DeviceKind};
use crate::error::MediaError;
use crate::ffi::alsa_quiet;
use crate::frame::AudioFrame;
use crate::resample::AudioConverter;
use crate::source::AudioSource;

enum Chunk {
    Samples(Vec<f32>),
    Failed(cpal::Error),
}

/// How long without any audio before a microphone counts as gone.
const STALL: Duration = Duration::from_secs(3);

/// A running microphone.
pub struct MicrophoneSource {
    name: String,
    /// `None` once the device died (see Drop).
    stream: Option<cpal::Stream>,
    rx: Receiver<Chunk>,
    converter: AudioConverter,
    level: Level,
    n: u64,
}

impl std::fmt::Debug for MicrophoneSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MicrophoneSource")
            .field("name", &self.name)
            .field("converter", &self.converter)
            .finish_non_exhaustive()
    }
}

fn build<T>(
    dev: &cpal::Device,
    config: cpal::StreamConfig,
    tx: mpsc::SyncSender<Chunk>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample + cpal::Sample,
    f32: cpal::FromSample<T>,
{
    let etx = tx.clone();
    dev.build_input_stream::<T, _, _>(
        config,
        move |data: &[T], _| {
            let v: Vec<f32> = data.iter().map(|s| f32::from_sample_(*s)).collect();
            // Never block the audio thread: if the reader stalls, drop audio.
            let _ = tx.try_send(Chunk::Samples(v));
        },
        move |e| {
            let _ = etx.try_send(Chunk::Failed(e));
        },
        Some(Duration::from_secs(5)),
    )
}

impl MicrophoneSource {
    /// Open a microphone by id (`None` = the system default) delivering `channels` channels.
    pub fn open(id: Option<&str>, channels: u16) -> Result<Self, MediaError> {
        alsa_quiet::quiet_current_thread();
        let dev = find_audio_device(DeviceKind::Microphone, id)?;
        let name = audio_device_name(&dev).unwrap_or_else(|| id.unwrap_or("default").to_owned());
        let supported = dev
            .default_input_config()
            .map_err(|e| match (id, e.kind()) {
                // The default device of a machine without sound hardware or server.
                (None, ErrorKind::DeviceNotAvailable | ErrorKind::HostUnavailable) => {
                    MediaError::NoMicrophone
                }
                _ => MediaError::MicrophoneUnavailable {
                    name: name.clone(),
                    reason: e.to_string(),
                },
            })?;
        let config = supported.config();
        // About 2 s of callbacks at typical 10 ms periods.
        let (tx, rx) = mpsc::sync_channel(200);
        let unavailable = |e: cpal::Error| MediaError::MicrophoneUnavailable {
            name: name.clone(),
            reason: e.to_string(),
        };
        let stream = match supported.sample_format() {
            SampleFormat::F32 => build::<f32>(&dev, config, tx),
            SampleFormat::I16 => build::<i16>(&dev, config, tx),
            SampleFormat::U16 => build::<u16>(&dev, config, tx),
            SampleFormat::I32 => build::<i32>(&dev, config, tx),
            SampleFormat::U8 => build::<u8>(&dev, config, tx),
            SampleFormat::F64 => build::<f64>(&dev, config, tx),
            other => {
                return Err(MediaError::MicrophoneUnavailable {
                    name,
                    reason: format!("sample format {other} is not supported"),
                })
            }
        }
        .map_err(unavailable)?;
        stream.play().map_err(unavailable)?;
        let converter = AudioConverter::new(config.sample_rate, config.channels, channels)?;
        tracing::info!(
            "microphone '{name}' open: {} Hz, {} ch, {:?}",
            config.sample_rate,
            config.channels,
            supported.sample_format()
        );
        Ok(MicrophoneSource {
            name,
            stream: Some(stream),
            rx,
            converter,
            level: Level::SILENT,
            n: 0,
        })
    }

    /// The device's native (rate, channels).
    pub fn device_format(&self) -> (u32, u16) {
        (self.converter.input_rate(), self.converter.input_channels())
    }

    /// Level of the last delivered frame (for the mic meter).
    pub fn level(&self) -> Level {
        self.level
    }

    fn map_stream_error(&self, e: &cpal::Error) -> MediaError {
        match e.kind() {
            ErrorKind::PermissionDenied | ErrorKind::DeviceBusy => MediaError::AudioDevice {
                device: self.name.clone(),
                reason: e.to_string(),
            },
            _ => {
                tracing::warn!("microphone '{}' stopped: {e}", self.name);
                MediaError::MicrophoneDisappeared(self.name.clone())
            }
        }
    }
}

impl AudioSource for MicrophoneSource {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn channels(&self) -> u16 {
        self.converter.output_channels()
    }

    fn next_frame(&mut self) -> Result<AudioFrame, MediaError> {
        loop {
            if let Some(mut f) = self.converter.pop_frame() {
                f.timestamp = Duration::from_millis(20 * self.n);
                self.n += 1;
                self.level = Level::measure(&f.samples);
                return Ok(f);
            }
            match self.rx.recv_timeout(STALL) {
                Ok(Chunk::Samples(v)) => self.converter.push(&v)?,
                Ok(Chunk::Failed(e)) => {
                    // Xruns are glitches, not failures.
                    if !stream_error_is_fatal(&e) {
                        tracing::debug!("microphone '{}': {e}", self.name);
                        continue;
                    }
                    self.abandon_stream();
                    return Err(self.map_stream_error(&e));
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    self.abandon_stream();
                    return Err(MediaError::MicrophoneDisappeared(self.name.clone()));
                }
            }
        }
    }
}

impl MicrophoneSource {
    /// After the device or sound server died, dropping the cpal stream joins a worker that can
    /// be deadlocked inside the backend (seen with ALSA's PulseAudio plugin when the server is
    /// killed). Leak that one thread instead of hanging the app.
    fn abandon_stream(&mut self) {
        if let Some(s) = self.stream.take() {
            std::mem::forget(s);
        }
    }
}

impl Drop for MicrophoneSource {
    fn drop(&mut self) {
        // A failure nobody read yet still means the worker may be stuck: check first.
        while let Ok(chunk) = self.rx.try_recv() {
            if let Chunk::Failed(e) = chunk {
                if stream_error_is_fatal(&e) {
                    self.abandon_stream();
                }
            }
        }
        if let Some(s) = &self.stream {
            let _ = s.pause();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_microphone_id_is_clear() {
        let err = MicrophoneSource::open(Some("alsa:no-such-mic"), 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the microphone 'alsa:no-such-mic' was not found"
        );
    }
}
