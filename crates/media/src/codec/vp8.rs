//! VP8 through libvpx: realtime deadline, one thread, CBR, key frames on demand.

use bytes::Bytes;

use super::{validate, EncodedVideo, VideoCodec, VideoDecoder, VideoEncoder, VideoEncoderConfig};
use crate::error::MediaError;
use crate::ffi::vpx::{Vp8Dec, Vp8Enc, Vp8Params};
use crate::frame::VideoFrame;

const CODEC: &str = "VP8";
/// libvpx speed for realtime: 8 keeps 720p30 well under a core (measured in the benches).
pub const DEFAULT_CPU_USED: i32 = 8;

pub struct Vp8Encoder {
    enc: Vp8Enc,
    config: VideoEncoderConfig,
    force_key: bool,
}

impl std::fmt::Debug for Vp8Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vp8Encoder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn build(config: &VideoEncoderConfig) -> Result<Vp8Enc, MediaError> {
    Vp8Enc::new(Vp8Params {
        width: config.width,
        height: config.height,
        bitrate_kbps: config.bitrate_bps / 1000,
        keyframe_interval: config.keyframe_interval,
        cpu_used: DEFAULT_CPU_USED,
        allow_frame_drop: config.allow_frame_drop,
    })
    .map_err(|e| MediaError::codec(CODEC, e))
}

impl Vp8Encoder {
    pub fn new(config: VideoEncoderConfig) -> Result<Self, MediaError> {
        validate(&config)?;
        Ok(Vp8Encoder {
            enc: build(&config)?,
            config,
            force_key: false,
        })
    }
}

impl VideoEncoder for Vp8Encoder {
    fn codec(&self) -> VideoCodec {
        VideoCodec::Vp8
    }

    fn encode(&mut self, frame: &VideoFrame) -> Result<Option<EncodedVideo>, MediaError> {
        if (frame.width, frame.height) != (self.config.width, self.config.height) {
            self.config.width = frame.width;
            self.config.height = frame.height;
            validate(&self.config)?;
            self.enc = build(&self.config)?;
        }
        let pts = (frame.timestamp.as_micros() * 9 / 100) as i64;
        let duration = 90_000 / self.config.fps.max(1);
        let force = std::mem::take(&mut self.force_key);
        let packets = self
            .enc
            .encode(frame, pts, duration, force)
            .map_err(|e| MediaError::codec(CODEC, e))?;
        // Without lag or alt-ref there is at most one frame packet per input frame.
        Ok(packets
            .into_iter()
            .next()
            .map(|(data, keyframe)| EncodedVideo {
                data: Bytes::from(data),
                keyframe,
                timestamp: frame.timestamp,
                capture_time_us: frame.capture_time_us,
            }))
    }

    fn request_keyframe(&mut self) {
        self.force_key = true;
    }

    fn set_bitrate(&mut self, bps: u32) -> Result<(), MediaError> {
        self.config.bitrate_bps = bps;
        self.enc
            .set_bitrate_kbps(bps / 1000)
            .map_err(|e| MediaError::codec(CODEC, e))
    }

    fn config(&self) -> VideoEncoderConfig {
        self.config
    }
}

pub struct Vp8Decoder {
    dec: Vp8Dec,
}

impl std::fmt::Debug for Vp8Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vp8Decoder")
    }
}

impl Vp8Decoder {
    pub fn new() -> Result<Self, MediaError> {
        Ok(Vp8Decoder {
            dec: Vp8Dec::new().map_err(|e| MediaError::codec(CODEC, e))?,
        })
    }
}

impl VideoDecoder for Vp8Decoder {
    fn codec(&self) -> VideoCodec {
        VideoCodec::Vp8
    }

    fn decode(&mut self, data: &[u8]) -> Result<Option<VideoFrame>, MediaError> {
        self.dec
            .decode(data)
            .map_err(|e| MediaError::codec(CODEC, e))
    }
}
