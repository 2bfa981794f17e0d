//! Small signal measurements: level meters and a dominant-frequency estimate.

use serde::{Deserialize, Serialize};

/// Peak and RMS of a block, linear (0..=1) and in dBFS, for a UI meter.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Level {
    pub peak: f32,
    pub rms: f32,
}

/// Floor used for silence in dBFS.
pub const SILENCE_DBFS: f32 = -100.0;

impl Level {
    pub const SILENT: Level = Level {
        peak: 0.0,
        rms: 0.0,
    };

    /// Measure interleaved samples (all channels together).
    pub fn measure(samples: &[f32]) -> Level {
        if samples.is_empty() {
            return Level::SILENT;
        }
        let mut peak = 0f32;
        let mut sum = 0f64;
        for &s in samples {
            peak = peak.max(s.abs());
            sum += f64::from(s) * f64::from(s);
        }
        Level {
            peak: peak.min(1.0),
            rms: ((sum / samples.len() as f64).sqrt() as f32).min(1.0),
        }
    }

    pub fn peak_dbfs(&self) -> f32 {
        to_dbfs(self.peak)
    }

    pub fn rms_dbfs(&self) -> f32 {
        to_dbfs(self.rms)
    }
}

/// Linear amplitude to dBFS (floored at [`SILENCE_DBFS`]).
pub fn to_dbfs(x: f32) -> f32 {
    if x <= 1e-5 {
        SILENCE_DBFS
    } else {
        (20.0 * x.log10()).max(SILENCE_DBFS)
    }
}

/// Goertzel power of one frequency over a mono block.
fn goertzel_power(samples: &[f32], sample_rate: u32, freq: f32) -> f32 {
    let w = 2.0 * std::f32::consts::PI * freq / sample_rate as f32;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0f32, 0f32);
    for &x in samples {
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

/// Relative power of one frequency in a mono block (0 for silence; ~0.25 x amplitude^2 for a
/// pure tone at that frequency).
pub fn tone_power(samples: &[f32], sample_rate: u32, freq: f32) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    let n = samples.len() as f32;
    goertzel_power(samples, sample_rate, freq) / (n * n)
}

/// Frequency with the most energy in a mono block, between 50 Hz and 8 kHz: a coarse scan in
/// 10 Hz steps over a window of at most 8192 samples, then a 1 Hz refinement around the peak.
pub fn dominant_frequency(samples: &[f32], sample_rate: u32) -> f32 {
    let n = samples.len().min(8192);
    if n < 64 || sample_rate == 0 {
        return 0.0;
    }
    let start = (samples.len() - n) / 2;
    let block = &samples[start..start + n];
    let top = (sample_rate as f32 / 2.0).min(8000.0);
    let best_in = |from: f32, to: f32, step: f32| {
        let mut best = (from, -1f32);
        let mut f = from;
        while f <= to {
            let p = goertzel_power(block, sample_rate, f);
            if p > best.1 {
                best = (f, p);
            }
            f += step;
        }
        best.0
    };
    let coarse = best_in(50.0, top, 10.0);
    best_in((coarse - 10.0).max(20.0), coarse + 10.0, 1.0)
}

/// Take one channel out of interleaved audio.
pub fn channel(samples: &[f32], channels: u16, index: u16) -> Vec<f32> {
    let ch = usize::from(channels.max(1));
    samples
        .iter()
        .skip(usize::from(index))
        .step_by(ch)
        .copied()
        .collect()
}

/// Collects latency samples (e.g. glass-to-glass from the pattern stamp) and reports
/// percentiles.
#[derive(Debug, Clone, Default)]
pub struct LatencyStats {
    samples_us: Vec<u64>,
}

/// Summary of a [`LatencyStats`] in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub count: usize,
    pub min_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
}

impl LatencyStats {
    pub fn add_us(&mut self, us: u64) {
        self.samples_us.push(us);
    }

    pub fn len(&self) -> usize {
        self.samples_us.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples_us.is_empty()
    }

    /// Nearest-rank percentiles; `None` without samples.
    pub fn summary(&self) -> Option<LatencySummary> {
        if self.samples_us.is_empty() {
            return None;
        }
        let mut v = self.samples_us.clone();
        v.sort_unstable();
        let pct = |p: f64| {
            let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
            v[rank.clamp(1, v.len()) - 1] as f64 / 1000.0
        };
        Some(LatencySummary {
            count: v.len(),
            min_ms: v[0] as f64 / 1000.0,
            p50_ms: pct(50.0),
            p95_ms: pct(95.0),
            max_ms: v[v.len() - 1] as f64 / 1000.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_percentiles() {
        let mut s = LatencyStats::default();
        assert!(s.summary().is_none());
        for ms in 1..=100u64 {
            s.add_us(ms * 1000);
        }
        let sum = s.summary().unwrap();
        assert_eq!(
            (sum.count, sum.min_ms, sum.p50_ms, sum.p95_ms, sum.max_ms),
            (100, 1.0, 50.0, 95.0, 100.0)
        );
    }

    #[test]
    fn levels() {
        let l = Level::measure(&[0.5, -0.5, 0.5, -0.5]);
        assert!((l.peak - 0.5).abs() < 1e-6 && (l.rms - 0.5).abs() < 1e-6);
        assert!((l.peak_dbfs() + 6.02).abs() < 0.01);
        assert_eq!(Level::measure(&[]).rms_dbfs(), SILENCE_DBFS);
    }

    #[test]
    fn finds_a_tone() {
        for freq in [220.0f32, 440.0, 1000.0, 3150.0] {
            let s: Vec<f32> = (0..9600)
                .map(|i| (2.0 * std::f32::consts::PI * freq * i as f32 / 48_000.0).sin())
                .collect();
            let f = dominant_frequency(&s, 48_000);
            assert!((f - freq).abs() <= 2.0, "{freq} -> {f}");
        }
        assert_eq!(channel(&[1.0, 2.0, 3.0, 4.0], 2, 1), vec![2.0, 4.0]);
    }
}
