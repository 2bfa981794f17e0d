//! Opus at 48 kHz, 20 ms frames (bundled libopus through the `opus` crate).

use bytes::Bytes;
use opus::{Application, Bitrate, Channels};

use super::{AudioDecoder, AudioEncoder};
use crate::error::MediaError;
use crate::frame::{AudioFrame, AUDIO_FRAME_SAMPLES, AUDIO_RATE};

const CODEC: &str = "Opus";
/// Largest packet we accept from the encoder (RFC 6716 recommends 1275 per frame).
const MAX_PACKET: usize = 1500;

fn channels(n: u16) -> Result<Channels, MediaError> {
    match n {
        1 => Ok(Channels::Mono),
        2 => Ok(Channels::Stereo),
        _ => Err(MediaError::UnsupportedFormat(format!(
            "Opus carries 1 or 2 channels, not {n}"
        ))),
    }
}

/// Opus encoder for voice/music from a microphone: VoIP mode, in-band FEC, 20 ms frames.
pub struct OpusEncoder {
    enc: opus::Encoder,
    channels: u16,
    out: Vec<u8>,
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder")
            .field("channels", &self.channels)
            .finish_non_exhaustive()
    }
}

impl OpusEncoder {
    pub fn new(channels_n: u16, bitrate_bps: u32) -> Result<Self, MediaError> {
        let mut enc = opus::Encoder::new(AUDIO_RATE, channels(channels_n)?, Application::Voip)
            .map_err(|e| MediaError::codec(CODEC, e))?;
        let rate = i32::try_from(bitrate_bps)
            .map_err(|_| MediaError::codec(CODEC, "bitrate too large"))?;
        enc.set_bitrate(Bitrate::Bits(rate))
            .and_then(|_| enc.set_inband_fec(true))
            .and_then(|_| enc.set_packet_loss_perc(5))
            .map_err(|e| MediaError::codec(CODEC, e))?;
        Ok(OpusEncoder {
            enc,
            channels: channels_n,
            out: vec![0; MAX_PACKET],
        })
    }
}

impl AudioEncoder for OpusEncoder {
    fn encode(&mut self, frame: &AudioFrame) -> Result<Bytes, MediaError> {
        if frame.sample_rate != AUDIO_RATE
            || frame.channels != self.channels
            || frame.samples.len() != AUDIO_FRAME_SAMPLES * usize::from(self.channels)
        {
            return Err(MediaError::InvalidFrame(format!(
                "Opus needs 20 ms at 48 kHz with {} channel(s); got {} samples at {} Hz with {}",
                self.channels,
                frame.samples.len(),
                frame.sample_rate,
                frame.channels
            )));
        }
        let n = self
            .enc
            .encode_float(&frame.samples, &mut self.out)
            .map_err(|e| MediaError::codec(CODEC, e))?;
        Ok(Bytes::copy_from_slice(&self.out[..n]))
    }

    fn set_bitrate(&mut self, bps: u32) -> Result<(), MediaError> {
        let rate = i32::try_from(bps).map_err(|_| MediaError::codec(CODEC, "bitrate too large"))?;
        self.enc
            .set_bitrate(Bitrate::Bits(rate))
            .map_err(|e| MediaError::codec(CODEC, e))
    }
}

/// Opus decoder with packet-loss concealment.
pub struct OpusDecoder {
    dec: opus::Decoder,
    channels: u16,
    buf: Vec<f32>,
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDecoder")
            .field("channels", &self.channels)
            .finish_non_exhaustive()
    }
}

impl OpusDecoder {
    /// `channels`: the output layout wanted (Opus decodes any stream into it).
    pub fn new(channels_n: u16) -> Result<Self, MediaError> {
        let dec = opus::Decoder::new(AUDIO_RATE, channels(channels_n)?)
            .map_err(|e| MediaError::codec(CODEC, e))?;
        Ok(OpusDecoder {
            dec,
            channels: channels_n,
            // 120 ms is the longest Opus packet.
            buf: vec![0.0; 5760 * usize::from(channels_n)],
        })
    }
}

impl AudioDecoder for OpusDecoder {
    fn decode(&mut self, packet: Option<&[u8]>) -> Result<AudioFrame, MediaError> {
        let n = match packet {
            Some(p) if !p.is_empty() => self.dec.decode_float(p, &mut self.buf, false),
            // Loss: conceal one 20 ms frame.
            _ => {
                let len = AUDIO_FRAME_SAMPLES * usize::from(self.channels);
                self.dec.decode_float(&[], &mut self.buf[..len], false)
            }
        }
        .map_err(|e| MediaError::codec(CODEC, e))?;
        Ok(AudioFrame {
            samples: self.buf[..n * usize::from(self.channels)].to_vec(),
            channels: self.channels,
            sample_rate: AUDIO_RATE,
            timestamp: std::time::Duration::ZERO,
        })
    }
}
