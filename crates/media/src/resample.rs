//! Audio conversion: any rate and channel count to 48 kHz with the wanted channel count,
//! delivered as 20 ms frames.

use std::collections::VecDeque;
use std::time::Duration;

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Async, FixedAsync, Resampler, SincInterpolationParameters, WindowFunction};

use crate::error::MediaError;
use crate::frame::{AudioFrame, AUDIO_FRAME_SAMPLES, AUDIO_RATE};

/// Mix interleaved audio from `from` channels to `to` channels.
///
/// Down-mix averages (so a stereo mic becomes a clean mono signal without clipping); up-mix
/// copies mono into every channel; otherwise channels are mapped by index and extras dropped.
pub fn mix_channels(input: &[f32], from: u16, to: u16, out: &mut Vec<f32>) {
    let (from, to) = (usize::from(from.max(1)), usize::from(to.max(1)));
    let frames = input.len() / from;
    out.clear();
    out.reserve(frames * to);
    if from == to {
        out.extend_from_slice(&input[..frames * from]);
        return;
    }
    for f in input.chunks_exact(from) {
        if to == 1 {
            out.push(f.iter().sum::<f32>() / from as f32);
        } else if from == 1 {
            out.extend(std::iter::repeat_n(f[0], to));
        } else {
            out.extend((0..to).map(|c| f.get(c).copied().unwrap_or(0.0)));
        }
    }
}

/// Streaming converter to 48 kHz (sinc resampling via rubato), emitting 20 ms frames.
pub struct AudioConverter {
    in_rate: u32,
    out_rate: u32,
    in_channels: u16,
    out_channels: u16,
    resampler: Option<Async<f32>>,
    mixed: Vec<f32>,
    pending_in: Vec<f32>,
    resampled: Vec<f32>,
    out_fifo: VecDeque<f32>,
    emitted_frames: u64,
}

impl std::fmt::Debug for AudioConverter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioConverter")
            .field("in_rate", &self.in_rate)
            .field("in_channels", &self.in_channels)
            .field("out_channels", &self.out_channels)
            .finish_non_exhaustive()
    }
}

impl AudioConverter {
    /// `in_rate`/`in_channels` describe the device; the output is 48 kHz with `out_channels`.
    pub fn new(in_rate: u32, in_channels: u16, out_channels: u16) -> Result<Self, MediaError> {
        Self::with_output(in_rate, in_channels, AUDIO_RATE, out_channels)
    }

    /// Any rate to any rate (playout uses this for 48 kHz to the speaker's rate).
    pub fn with_output(
        in_rate: u32,
        in_channels: u16,
        out_rate: u32,
        out_channels: u16,
    ) -> Result<Self, MediaError> {
        if in_rate == 0 || in_channels == 0 || out_channels == 0 || out_rate == 0 {
            return Err(MediaError::Resample(format!(
                "invalid input format {in_rate} Hz / {in_channels} channels"
            )));
        }
        let resampler = if in_rate == out_rate {
            None
        } else {
            let params = SincInterpolationParameters::new(128, WindowFunction::BlackmanHarris2);
            // 10 ms chunks of input keep the added latency small.
            let chunk = (in_rate / 100).max(16) as usize;
            Some(
                Async::<f32>::new_sinc(
                    f64::from(out_rate) / f64::from(in_rate),
                    1.1,
                    &params,
                    chunk,
                    usize::from(out_channels),
                    FixedAsync::Input,
                )
                .map_err(|e| MediaError::Resample(e.to_string()))?,
            )
        };
        Ok(AudioConverter {
            in_rate,
            out_rate,
            in_channels,
            out_channels,
            resampler,
            mixed: Vec::new(),
            pending_in: Vec::new(),
            resampled: Vec::new(),
            out_fifo: VecDeque::new(),
            emitted_frames: 0,
        })
    }

    /// A converter that only passes samples through (same rate and channels); cannot fail.
    pub fn passthrough(rate: u32, channels: u16) -> Self {
        AudioConverter {
            in_rate: rate,
            out_rate: rate,
            in_channels: channels.max(1),
            out_channels: channels.max(1),
            resampler: None,
            mixed: Vec::new(),
            pending_in: Vec::new(),
            resampled: Vec::new(),
            out_fifo: VecDeque::new(),
            emitted_frames: 0,
        }
    }

    pub fn input_rate(&self) -> u32 {
        self.in_rate
    }

    pub fn input_channels(&self) -> u16 {
        self.in_channels
    }

    pub fn output_channels(&self) -> u16 {
        self.out_channels
    }

    /// Feed interleaved samples in the input format.
    pub fn push(&mut self, input: &[f32]) -> Result<(), MediaError> {
        mix_channels(input, self.in_channels, self.out_channels, &mut self.mixed);
        let ch = usize::from(self.out_channels);
        let Some(rs) = self.resampler.as_mut() else {
            self.out_fifo.extend(self.mixed.iter().copied());
            return Ok(());
        };
        self.pending_in.extend_from_slice(&self.mixed);
        loop {
            let need = rs.input_frames_next();
            if self.pending_in.len() < need * ch {
                break;
            }
            let out_frames = rs.output_frames_max();
            self.resampled.resize(out_frames * ch, 0.0);
            let inp = InterleavedSlice::new(&self.pending_in[..need * ch], ch, need)
                .map_err(|e| MediaError::Resample(e.to_string()))?;
            let mut outp = InterleavedSlice::new_mut(&mut self.resampled, ch, out_frames)
                .map_err(|e| MediaError::Resample(e.to_string()))?;
            let (used, produced) = rs
                .process_into_buffer(&inp, &mut outp, None)
                .map_err(|e| MediaError::Resample(e.to_string()))?;
            self.out_fifo
                .extend(self.resampled[..produced * ch].iter().copied());
            self.pending_in.drain(..used * ch);
        }
        Ok(())
    }

    /// Everything converted so far (interleaved, output format).
    pub fn take_all(&mut self) -> Vec<f32> {
        self.out_fifo.drain(..).collect()
    }

    /// Take the next complete 20 ms frame, if one is ready.
    pub fn pop_frame(&mut self) -> Option<AudioFrame> {
        let per_channel = if self.out_rate == AUDIO_RATE {
            AUDIO_FRAME_SAMPLES
        } else {
            (self.out_rate / 50) as usize
        };
        let n = per_channel * usize::from(self.out_channels);
        if self.out_fifo.len() < n {
            return None;
        }
        let samples: Vec<f32> = self.out_fifo.drain(..n).collect();
        let timestamp = Duration::from_micros(self.emitted_frames * 20_000);
        self.emitted_frames += 1;
        Some(AudioFrame {
            samples,
            channels: self.out_channels,
            sample_rate: self.out_rate,
            timestamp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::dominant_frequency;

    #[test]
    fn mixing() {
        let mut out = Vec::new();
        mix_channels(&[1.0, 0.0, 0.5, 0.5], 2, 1, &mut out);
        assert_eq!(out, vec![0.5, 0.5]);
        mix_channels(&[0.25, -0.25], 1, 2, &mut out);
        assert_eq!(out, vec![0.25, 0.25, -0.25, -0.25]);
        mix_channels(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 3, 2, &mut out);
        assert_eq!(out, vec![1.0, 2.0, 4.0, 5.0]);
    }

    fn tone(rate: u32, channels: u16, freq: f32, secs: f32) -> Vec<f32> {
        let n = (rate as f32 * secs) as usize;
        let mut v = Vec::with_capacity(n * usize::from(channels));
        for i in 0..n {
            let s = (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin() * 0.5;
            for _ in 0..channels {
                v.push(s);
            }
        }
        v
    }

    #[test]
    fn resamples_44k1_stereo_to_48k_mono_keeping_pitch() {
        let input = tone(44_100, 2, 1000.0, 1.0);
        let mut conv = AudioConverter::new(44_100, 2, 1).unwrap();
        // Feed in odd-sized chunks as a device callback would.
        for chunk in input.chunks(2 * 441 + 14) {
            conv.push(chunk).unwrap();
        }
        let mut out = Vec::new();
        let mut frames = 0;
        while let Some(f) = conv.pop_frame() {
            assert_eq!(
                (f.channels, f.sample_rate, f.samples.len()),
                (1, 48_000, 960)
            );
            out.extend_from_slice(&f.samples);
            frames += 1;
        }
        // ~1 s of output minus the resampler's delay and the last partial chunk.
        assert!((45..=50).contains(&frames), "{frames} frames");
        let f = dominant_frequency(&out[4800..], 48_000);
        assert!((f - 1000.0).abs() < 10.0, "dominant {f} Hz");
    }

    #[test]
    fn passthrough_at_48k() {
        let input = tone(48_000, 1, 440.0, 0.1);
        let mut conv = AudioConverter::new(48_000, 1, 2).unwrap();
        conv.push(&input).unwrap();
        let f = conv.pop_frame().unwrap();
        assert_eq!(f.samples.len(), 1920);
        assert_eq!(f.samples[0], f.samples[1]);
        assert_eq!(f.samples[2], input[1]);
        assert!(conv.pop_frame().is_some());
    }

    #[test]
    fn invalid_formats_are_errors() {
        assert!(AudioConverter::new(0, 1, 1).is_err());
        assert!(AudioConverter::new(48_000, 0, 1).is_err());
    }
}
