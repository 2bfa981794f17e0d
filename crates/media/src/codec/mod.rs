//! Codecs behind small traits: H.264 (openh264), VP8 (libvpx) and Opus.

use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::MediaError;
use crate::frame::{AudioFrame, VideoFrame};

pub mod h264;
pub mod opus;
pub mod vp8;

/// The fmtp line Red5 requires for H.264: packetization mode 1, constrained baseline 3.1.
pub const H264_FMTP: &str =
    "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f";
/// The fmtp line for Opus as browsers offer it.
pub const OPUS_FMTP: &str = "minptime=10;useinbandfec=1";

/// Video codecs this crate can encode and decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoCodec {
    H264,
    Vp8,
}

impl VideoCodec {
    pub fn mime_type(self) -> &'static str {
        match self {
            VideoCodec::H264 => "video/H264",
            VideoCodec::Vp8 => "video/VP8",
        }
    }

    /// The SDP fmtp line to advertise (empty for VP8).
    pub fn sdp_fmtp(self) -> &'static str {
        match self {
            VideoCodec::H264 => H264_FMTP,
            VideoCodec::Vp8 => "",
        }
    }

    /// Match an SDP/mime codec name (`H264`, `video/VP8`, ...).
    pub fn from_name(name: &str) -> Option<VideoCodec> {
        let n = name.rsplit('/').next().unwrap_or(name);
        if n.eq_ignore_ascii_case("h264") {
            Some(VideoCodec::H264)
        } else if n.eq_ignore_ascii_case("vp8") {
            Some(VideoCodec::Vp8)
        } else {
            None
        }
    }
}

/// Encoder settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VideoEncoderConfig {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// Target bitrate in bits per second.
    pub bitrate_bps: u32,
    /// Key frame every N frames (Red5's keyFramerate); 0 = only on demand.
    pub keyframe_interval: u32,
    /// Let rate control drop frames to hold the bitrate (what a live client wants).
    pub allow_frame_drop: bool,
}

impl VideoEncoderConfig {
    pub fn new(width: u32, height: u32, fps: u32, bitrate_bps: u32) -> Self {
        VideoEncoderConfig {
            width,
            height,
            fps,
            bitrate_bps,
            keyframe_interval: fps.saturating_mul(2),
            allow_frame_drop: true,
        }
    }
}

/// One encoded video frame (Annex-B for H.264, a VP8 frame for VP8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedVideo {
    pub data: Bytes,
    pub keyframe: bool,
    /// Media time of the source frame (drives the RTP timestamp).
    pub timestamp: Duration,
    /// Capture time of the source frame (µs since the UNIX epoch).
    pub capture_time_us: u64,
}

pub trait VideoEncoder: Send {
    fn codec(&self) -> VideoCodec;
    /// Encode one frame. `Ok(None)` when rate control skipped it.
    fn encode(&mut self, frame: &VideoFrame) -> Result<Option<EncodedVideo>, MediaError>;
    /// Make the next frame a key frame (on PLI/FIR).
    fn request_keyframe(&mut self);
    /// Change the target bitrate (congestion control, user setting).
    fn set_bitrate(&mut self, bps: u32) -> Result<(), MediaError>;
    fn config(&self) -> VideoEncoderConfig;
}

pub trait VideoDecoder: Send {
    fn codec(&self) -> VideoCodec;
    /// Decode one complete frame; `Ok(None)` when no picture came out (e.g. no key frame yet).
    fn decode(&mut self, data: &[u8]) -> Result<Option<VideoFrame>, MediaError>;
}

pub trait AudioEncoder: Send {
    /// Encode one 20 ms 48 kHz frame into one Opus packet.
    fn encode(&mut self, frame: &AudioFrame) -> Result<Bytes, MediaError>;
    fn set_bitrate(&mut self, bps: u32) -> Result<(), MediaError>;
}

pub trait AudioDecoder: Send {
    /// Decode one packet; `None` = the packet was lost (concealment fills the gap).
    fn decode(&mut self, packet: Option<&[u8]>) -> Result<AudioFrame, MediaError>;
}

/// Build an encoder for `codec`.
pub fn new_video_encoder(
    codec: VideoCodec,
    config: VideoEncoderConfig,
) -> Result<Box<dyn VideoEncoder>, MediaError> {
    Ok(match codec {
        VideoCodec::H264 => Box::new(h264::H264Encoder::new(config)?),
        VideoCodec::Vp8 => Box::new(vp8::Vp8Encoder::new(config)?),
    })
}

/// Build a decoder for `codec`.
pub fn new_video_decoder(codec: VideoCodec) -> Result<Box<dyn VideoDecoder>, MediaError> {
    Ok(match codec {
        VideoCodec::H264 => Box::new(h264::H264Decoder::new()?),
        VideoCodec::Vp8 => Box::new(vp8::Vp8Decoder::new()?),
    })
}

pub(crate) fn validate(config: &VideoEncoderConfig) -> Result<(), MediaError> {
    if config.width < 16
        || config.height < 16
        || !config.width.is_multiple_of(2)
        || !config.height.is_multiple_of(2)
    {
        return Err(MediaError::UnsupportedFormat(format!(
            "video must be at least 16x16 with even sides, not {}x{}",
            config.width, config.height
        )));
    }
    if config.fps == 0 || config.bitrate_bps < 10_000 {
        return Err(MediaError::UnsupportedFormat(format!(
            "{} fps at {} bit/s is not a usable encoder setting",
            config.fps, config.bitrate_bps
        )));
    }
    Ok(())
}
