//! H.264 constrained baseline through openh264 (bundled, built with nasm).

use bytes::Bytes;
use openh264::decoder::{Decoder, DecoderConfig};
use openh264::encoder::{
    BitRate, Complexity, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, Level,
    Profile, RateControlMode, UsageType,
};
use openh264::formats::YUVSource;
use openh264::{OpenH264API, Timestamp};

use super::{validate, EncodedVideo, VideoCodec, VideoDecoder, VideoEncoder, VideoEncoderConfig};
use crate::error::MediaError;
use crate::ffi::h264 as raw;
use crate::frame::VideoFrame;

const CODEC: &str = "H.264";

struct FrameRef<'a>(&'a VideoFrame);

impl YUVSource for FrameRef<'_> {
    fn dimensions(&self) -> (usize, usize) {
        (self.0.width as usize, self.0.height as usize)
    }
    fn strides(&self) -> (usize, usize, usize) {
        (self.0.stride_y, self.0.stride_uv, self.0.stride_uv)
    }
    fn y(&self) -> &[u8] {
        &self.0.y
    }
    fn u(&self) -> &[u8] {
        &self.0.u
    }
    fn v(&self) -> &[u8] {
        &self.0.v
    }
}

/// H.264 encoder: constrained baseline (profile-level-id 42e01f family), single slice,
/// bitrate rate control, IDR on demand and every `keyframe_interval` frames.
pub struct H264Encoder {
    enc: Encoder,
    config: VideoEncoderConfig,
    force_key: bool,
    frames: u64,
    buf: Vec<u8>,
}

impl std::fmt::Debug for H264Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H264Encoder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn build(config: &VideoEncoderConfig) -> Result<Encoder, MediaError> {
    // Level 3.1 covers 720p30, what 42e01f announces; bigger pictures need a higher level in
    // the SPS (receivers accept that, the SDP answer stays 42e01f as Red5 requires).
    let mbs = u64::from(config.width.div_ceil(16)) * u64::from(config.height.div_ceil(16));
    let level = if mbs * u64::from(config.fps) <= 108_000 && mbs <= 3600 {
        Level::Level_3_1
    } else if mbs <= 8192 && mbs * u64::from(config.fps) <= 245_760 {
        Level::Level_4_0
    } else {
        Level::Level_5_1
    };
    let cfg = EncoderConfig::new()
        .usage_type(UsageType::CameraVideoRealTime)
        .profile(Profile::Baseline)
        .level(level)
        .rate_control_mode(RateControlMode::Bitrate)
        .bitrate(BitRate::from_bps(config.bitrate_bps))
        .max_frame_rate(FrameRate::from_hz(config.fps as f32))
        .skip_frames(config.allow_frame_drop)
        .intra_frame_period(IntraFramePeriod::from_num_frames(config.keyframe_interval))
        .complexity(Complexity::Low)
        .num_threads(1)
        .scene_change_detect(false)
        .background_detection(false);
    Encoder::with_api_config(OpenH264API::from_source(), cfg)
        .map_err(|e| MediaError::codec(CODEC, e))
}

impl H264Encoder {
    pub fn new(config: VideoEncoderConfig) -> Result<Self, MediaError> {
        validate(&config)?;
        Ok(H264Encoder {
            enc: build(&config)?,
            config,
            force_key: false,
            frames: 0,
            buf: Vec::new(),
        })
    }
}

impl VideoEncoder for H264Encoder {
    fn codec(&self) -> VideoCodec {
        VideoCodec::H264
    }

    fn encode(&mut self, frame: &VideoFrame) -> Result<Option<EncodedVideo>, MediaError> {
        if (frame.width, frame.height) != (self.config.width, self.config.height) {
            // Camera switched resolution: start a fresh encoder (first frame is an IDR).
            self.config.width = frame.width;
            self.config.height = frame.height;
            validate(&self.config)?;
            self.enc = build(&self.config)?;
            self.frames = 0;
        }
        if self.force_key && self.frames > 0 {
            self.enc.force_intra_frame();
        }
        self.force_key = false;
        let ts = Timestamp::from_millis(frame.timestamp.as_millis() as u64);
        let bs = self
            .enc
            .encode_at(&FrameRef(frame), ts)
            .map_err(|e| MediaError::codec(CODEC, e))?;
        self.frames += 1;
        let ftype = bs.frame_type();
        if matches!(ftype, FrameType::Skip | FrameType::Invalid) {
            return Ok(None);
        }
        self.buf.clear();
        bs.write_vec(&mut self.buf);
        if self.buf.is_empty() {
            return Ok(None);
        }
        Ok(Some(EncodedVideo {
            data: Bytes::copy_from_slice(&self.buf),
            keyframe: matches!(ftype, FrameType::IDR | FrameType::I),
            timestamp: frame.timestamp,
            capture_time_us: frame.capture_time_us,
        }))
    }

    fn request_keyframe(&mut self) {
        self.force_key = true;
    }

    fn set_bitrate(&mut self, bps: u32) -> Result<(), MediaError> {
        if bps < 10_000 {
            return Err(MediaError::UnsupportedFormat(format!(
                "{bps} bit/s is too low"
            )));
        }
        self.config.bitrate_bps = bps;
        if self.frames == 0 {
            // Not initialised yet: openh264 takes the setting at its first frame.
            self.enc = build(&self.config)?;
            return Ok(());
        }
        raw::set_bitrate(&mut self.enc, bps).map_err(|e| MediaError::codec(CODEC, e))
    }

    fn config(&self) -> VideoEncoderConfig {
        self.config
    }
}

/// H.264 decoder (any profile openh264 handles: baseline, main, high).
pub struct H264Decoder {
    dec: Decoder,
}

impl std::fmt::Debug for H264Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("H264Decoder")
    }
}

impl H264Decoder {
    pub fn new() -> Result<Self, MediaError> {
        let dec = Decoder::with_api_config(OpenH264API::from_source(), DecoderConfig::new())
            .map_err(|e| MediaError::codec(CODEC, e))?;
        Ok(H264Decoder { dec })
    }
}

impl VideoDecoder for H264Decoder {
    fn codec(&self) -> VideoCodec {
        VideoCodec::H264
    }

    fn decode(&mut self, data: &[u8]) -> Result<Option<VideoFrame>, MediaError> {
        let Some(pic) = self
            .dec
            .decode(data)
            .map_err(|e| MediaError::codec(CODEC, e))?
        else {
            return Ok(None);
        };
        let (w, h) = pic.dimensions();
        let (sy, su, sv) = pic.strides();
        let (cw, ch) = crate::frame::chroma_size(w as u32, h as u32);
        let copy = |plane: &[u8], stride: usize, pw: usize, ph: usize| {
            let mut v = Vec::with_capacity(pw * ph);
            for row in 0..ph {
                v.extend_from_slice(&plane[row * stride..row * stride + pw]);
            }
            v
        };
        let y = copy(pic.y(), sy, w, h);
        let u = copy(pic.u(), su, cw, ch);
        let v = copy(pic.v(), sv, cw, ch);
        VideoFrame::from_planes(w as u32, h as u32, y, w, u, v, cw).map(Some)
    }
}
