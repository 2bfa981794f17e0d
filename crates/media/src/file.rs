//! File sources and sinks for reproducible tests: Y4M (raw 4:2:0 video) and WAV audio.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::MediaError;
use crate::frame::{chroma_size, now_unix_micros, AudioFrame, VideoFrame};
use crate::resample::AudioConverter;
use crate::source::{AudioSource, Pacer, VideoSource};

/// Parsed Y4M stream header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Y4mHeader {
    pub width: u32,
    pub height: u32,
    pub fps_num: u32,
    pub fps_den: u32,
}

fn parse_y4m_header(line: &str) -> Result<Y4mHeader, String> {
    let mut it = line.split_ascii_whitespace();
    if it.next() != Some("YUV4MPEG2") {
        return Err("not a YUV4MPEG2 file".into());
    }
    let (mut w, mut h, mut num, mut den) = (0u32, 0u32, 30u32, 1u32);
    for tok in it {
        let (tag, val) = tok.split_at(1);
        match tag {
            "W" => w = val.parse().map_err(|_| format!("bad width '{val}'"))?,
            "H" => h = val.parse().map_err(|_| format!("bad height '{val}'"))?,
            "F" => {
                let (n, d) = val.split_once(':').ok_or("bad frame rate")?;
                num = n.parse().map_err(|_| "bad frame rate")?;
                den = d.parse().map_err(|_| "bad frame rate")?;
            }
            "C" if !val.starts_with("420") => {
                return Err(format!("colour space C{val} is not supported (only 4:2:0)"));
            }
            _ => {}
        }
    }
    if w == 0 || h == 0 || num == 0 || den == 0 {
        return Err("missing width, height or frame rate".into());
    }
    Ok(Y4mHeader {
        width: w,
        height: h,
        fps_num: num,
        fps_den: den,
    })
}

/// Plays a Y4M file as a video source.
#[derive(Debug)]
pub struct Y4mSource {
    path: PathBuf,
    reader: BufReader<File>,
    header: Y4mHeader,
    data_start: u64,
    looped: bool,
    pacer: Option<Pacer>,
    n: u64,
    buf: Vec<u8>,
}

impl Y4mSource {
    /// `paced`: deliver at the file's frame rate; `looped`: start over at the end.
    pub fn open(path: impl AsRef<Path>, paced: bool, looped: bool) -> Result<Self, MediaError> {
        let path = path.as_ref().to_path_buf();
        let file = File::open(&path).map_err(|e| MediaError::file(&path, e))?;
        let mut reader = BufReader::new(file);
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .map_err(|e| MediaError::file(&path, e))?;
        let header = parse_y4m_header(line.trim_end()).map_err(|e| MediaError::file(&path, e))?;
        let data_start = line.len() as u64;
        let period = Duration::from_secs(u64::from(header.fps_den)) / header.fps_num;
        Ok(Y4mSource {
            path,
            reader,
            header,
            data_start,
            looped,
            pacer: paced.then(|| Pacer::new(period)),
            n: 0,
            buf: Vec::new(),
        })
    }

    pub fn header(&self) -> Y4mHeader {
        self.header
    }

    fn read_frame(&mut self) -> Result<Option<VideoFrame>, MediaError> {
        let mut line = Vec::new();
        let got = self
            .reader
            .read_until(b'\n', &mut line)
            .map_err(|e| MediaError::file(&self.path, e))?;
        if got == 0 {
            return Ok(None);
        }
        if !line.starts_with(b"FRAME") {
            return Err(MediaError::file(&self.path, "frame header missing"));
        }
        let (w, h) = (self.header.width, self.header.height);
        let (cw, ch) = chroma_size(w, h);
        let size = (w * h) as usize + 2 * cw * ch;
        self.buf.resize(size, 0);
        self.reader
            .read_exact(&mut self.buf)
            .map_err(|e| MediaError::file(&self.path, format!("truncated frame: {e}")))?;
        VideoFrame::from_packed_i420(w, h, &self.buf).map(Some)
    }
}

impl VideoSource for Y4mSource {
    fn name(&self) -> String {
        format!("File {}", self.path.display())
    }

    fn format(&self) -> (u32, u32, u32) {
        let fps = self.header.fps_num.div_ceil(self.header.fps_den);
        (self.header.width, self.header.height, fps)
    }

    fn next_frame(&mut self) -> Result<VideoFrame, MediaError> {
        if let Some(p) = &mut self.pacer {
            p.wait();
        }
        let mut frame = match self.read_frame()? {
            Some(f) => f,
            None if self.looped && self.n > 0 => {
                self.reader
                    .seek(SeekFrom::Start(self.data_start))
                    .map_err(|e| MediaError::file(&self.path, e))?;
                self.read_frame()?.ok_or(MediaError::SourceEnded)?
            }
            None => return Err(MediaError::SourceEnded),
        };
        frame.timestamp =
            Duration::from_secs(self.n * u64::from(self.header.fps_den)) / self.header.fps_num;
        frame.capture_time_us = now_unix_micros();
        self.n += 1;
        Ok(frame)
    }
}

/// Writes I420 frames to a Y4M file.
#[derive(Debug)]
pub struct Y4mWriter {
    out: BufWriter<File>,
    width: u32,
    height: u32,
    path: PathBuf,
}

impl Y4mWriter {
    pub fn create(
        path: impl AsRef<Path>,
        width: u32,
        height: u32,
        fps: u32,
    ) -> Result<Self, MediaError> {
        let path = path.as_ref().to_path_buf();
        let file = File::create(&path).map_err(|e| MediaError::file(&path, e))?;
        let mut out = BufWriter::new(file);
        writeln!(
            out,
            "YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg"
        )
        .map_err(|e| MediaError::file(&path, e))?;
        Ok(Y4mWriter {
            out,
            width,
            height,
            path,
        })
    }

    pub fn write(&mut self, frame: &VideoFrame) -> Result<(), MediaError> {
        if (frame.width, frame.height) != (self.width, self.height) {
            return Err(MediaError::InvalidFrame(format!(
                "{}x{} frame for a {}x{} file",
                frame.width, frame.height, self.width, self.height
            )));
        }
        self.out
            .write_all(b"FRAME\n")
            .and_then(|_| self.out.write_all(&frame.to_packed_i420()))
            .map_err(|e| MediaError::file(&self.path, e))
    }

    pub fn finish(mut self) -> Result<(), MediaError> {
        self.out
            .flush()
            .map_err(|e| MediaError::file(&self.path, e))
    }
}

/// Plays a WAV file (any rate, channels, 8/16/24/32-bit int or f32) as 48 kHz 20 ms frames.
#[derive(Debug)]
pub struct WavSource {
    path: PathBuf,
    samples: Vec<f32>,
    in_rate: u32,
    in_channels: u16,
    out_channels: u16,
    pos: usize,
    looped: bool,
    converter: AudioConverter,
    pacer: Option<Pacer>,
    n: u64,
}

impl WavSource {
    pub fn open(
        path: impl AsRef<Path>,
        channels: u16,
        paced: bool,
        looped: bool,
    ) -> Result<Self, MediaError> {
        let path = path.as_ref().to_path_buf();
        let mut reader = hound::WavReader::open(&path).map_err(|e| MediaError::file(&path, e))?;
        let spec = reader.spec();
        let samples: Result<Vec<f32>, hound::Error> = match spec.sample_format {
            hound::SampleFormat::Float => reader.samples::<f32>().collect(),
            hound::SampleFormat::Int => {
                let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
                reader
                    .samples::<i32>()
                    .map(|s| s.map(|v| v as f32 * scale))
                    .collect()
            }
        };
        let samples = samples.map_err(|e| MediaError::file(&path, e))?;
        if samples.is_empty() {
            return Err(MediaError::file(&path, "the file has no audio"));
        }
        let converter = AudioConverter::new(spec.sample_rate, spec.channels, channels)?;
        Ok(WavSource {
            path,
            samples,
            in_rate: spec.sample_rate,
            in_channels: spec.channels,
            out_channels: channels,
            pos: 0,
            looped,
            converter,
            pacer: paced.then(|| Pacer::new(Duration::from_millis(20))),
            n: 0,
        })
    }

    /// The file's own rate and channel count.
    pub fn file_format(&self) -> (u32, u16) {
        (self.in_rate, self.in_channels)
    }
}

impl AudioSource for WavSource {
    fn name(&self) -> String {
        format!("File {}", self.path.display())
    }

    fn channels(&self) -> u16 {
        self.out_channels
    }

    fn next_frame(&mut self) -> Result<AudioFrame, MediaError> {
        if let Some(p) = &mut self.pacer {
            p.wait();
        }
        let chunk = (self.in_rate as usize / 100).max(1) * usize::from(self.in_channels);
        loop {
            if let Some(mut f) = self.converter.pop_frame() {
                f.timestamp = Duration::from_millis(20 * self.n);
                self.n += 1;
                return Ok(f);
            }
            if self.pos >= self.samples.len() {
                if self.looped {
                    self.pos = 0;
                } else {
                    return Err(MediaError::SourceEnded);
                }
            }
            let end = (self.pos + chunk).min(self.samples.len());
            self.converter.push(&self.samples[self.pos..end])?;
            self.pos = end;
        }
    }
}

/// Write interleaved f32 audio to a 16-bit WAV file.
pub fn write_wav(
    path: impl AsRef<Path>,
    samples: &[f32],
    sample_rate: u32,
    channels: u16,
) -> Result<(), MediaError> {
    let path = path.as_ref();
    let spec = hound::WavSpec {
        channels,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).map_err(|e| MediaError::file(path, e))?;
    for &s in samples {
        w.write_sample((s.clamp(-1.0, 1.0) * 32767.0) as i16)
            .map_err(|e| MediaError::file(path, e))?;
    }
    w.finalize().map_err(|e| MediaError::file(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::dominant_frequency;
    use crate::synthetic::{read_stamp, PatternColor, TestPattern};

    #[test]
    fn y4m_write_then_play_unpaced_and_looped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.y4m");
        let pat = TestPattern::new(160, 90, PatternColor::Magenta);
        let mut w = Y4mWriter::create(&path, 160, 90, 25).unwrap();
        for n in 0..3 {
            w.write(&pat.render(n, 0)).unwrap();
        }
        w.finish().unwrap();

        let mut src = Y4mSource::open(&path, false, true).unwrap();
        assert_eq!(src.format(), (160, 90, 25));
        let nums: Vec<u32> = (0..5)
            .map(|_| read_stamp(&src.next_frame().unwrap()).unwrap().frame_number)
            .collect();
        assert_eq!(nums, vec![0, 1, 2, 0, 1]);

        let mut once = Y4mSource::open(&path, false, false).unwrap();
        for _ in 0..3 {
            once.next_frame().unwrap();
        }
        assert!(matches!(once.next_frame(), Err(MediaError::SourceEnded)));
    }

    #[test]
    fn y4m_errors_are_clear() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.y4m");
        std::fs::write(&path, b"YUV4MPEG2 W16 H16 F30:1 C444\n").unwrap();
        let err = Y4mSource::open(&path, false, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("only 4:2:0"), "{err}");
        let err = Y4mSource::open(dir.path().join("missing.y4m"), false, false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("missing.y4m") && err.contains("could not be used"),
            "{err}"
        );
    }

    #[test]
    fn wav_at_22k_stereo_plays_as_48k_mono() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.wav");
        let rate = 22_050;
        let samples: Vec<f32> = (0..rate / 2)
            .flat_map(|i| {
                let s = (2.0 * std::f32::consts::PI * 600.0 * i as f32 / rate as f32).sin() * 0.4;
                [s, s]
            })
            .collect();
        write_wav(&path, &samples, rate, 2).unwrap();
        let mut src = WavSource::open(&path, 1, false, false).unwrap();
        assert_eq!(src.file_format(), (22_050, 2));
        let mut out = Vec::new();
        loop {
            match src.next_frame() {
                Ok(f) => out.extend_from_slice(&f.samples),
                Err(MediaError::SourceEnded) => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(out.len() >= 20 * 960, "{}", out.len());
        let f = dominant_frequency(&out, 48_000);
        assert!((f - 600.0).abs() < 5.0, "{f}");
    }
}
