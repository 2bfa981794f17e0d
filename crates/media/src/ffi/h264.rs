//! The one openh264 option the safe wrapper does not expose: changing the bitrate live.

use std::ffi::{c_int, c_void};

use openh264::encoder::Encoder;
use openh264_sys2::{SBitrateInfo, ENCODER_OPTION_BITRATE, SPATIAL_LAYER_ALL};

/// Set the target bitrate of an encoder that has already encoded at least one frame.
pub(crate) fn set_bitrate(enc: &mut Encoder, bps: u32) -> Result<(), String> {
    let mut info = SBitrateInfo {
        iLayer: SPATIAL_LAYER_ALL,
        iBitrate: c_int::try_from(bps).map_err(|_| "bitrate too large")?,
    };
    // SAFETY: the encoder is initialised (it has encoded a frame), and ENCODER_OPTION_BITRATE
    // takes a pointer to an SBitrateInfo that lives for the duration of the call.
    let rc = unsafe {
        enc.raw_api()
            .set_option(ENCODER_OPTION_BITRATE, (&raw mut info).cast::<c_void>())
    };
    if rc != 0 {
        return Err(format!("setting the bitrate failed (code {rc})"));
    }
    Ok(())
}
