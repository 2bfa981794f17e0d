//! VP8 through libvpx (env-libvpx-sys). The only unsafe code for video coding lives here;
//! `crate::codec::vp8` wraps it in the codec traits.

use std::ffi::{c_int, c_long, c_ulong, CStr};
use std::mem::MaybeUninit;
use std::ptr;

use vpx_sys as sys;

use crate::frame::VideoFrame;

fn err_text(ctx: *mut sys::vpx_codec_ctx_t, code: sys::vpx_codec_err_t) -> String {
    // SAFETY: both functions return static or context-owned NUL-terminated strings.
    unsafe {
        let p = if ctx.is_null() {
            sys::vpx_codec_err_to_string(code)
        } else {
            sys::vpx_codec_error(ctx)
        };
        if p.is_null() {
            format!("{code:?}")
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    }
}

/// Settings the encoder is built with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Vp8Params {
    pub width: u32,
    pub height: u32,
    pub bitrate_kbps: u32,
    /// Maximum distance between key frames in frames (0 = only on demand).
    pub keyframe_interval: u32,
    /// libvpx speed: 0..16, higher is faster (realtime deadline).
    pub cpu_used: i32,
    pub allow_frame_drop: bool,
}

pub(crate) struct Vp8Enc {
    ctx: Box<sys::vpx_codec_ctx_t>,
    cfg: Box<sys::vpx_codec_enc_cfg_t>,
    out: Vec<(Vec<u8>, bool)>,
}

// SAFETY: a libvpx context may be used from any thread as long as calls are not concurrent,
// which `&mut self` on every method guarantees.
unsafe impl Send for Vp8Enc {}

impl Vp8Enc {
    pub(crate) fn new(p: Vp8Params) -> Result<Self, String> {
        // SAFETY: vpx_codec_enc_config_default fully initialises the config (checked by its
        // return code) before it is read; the context is only read after a successful init.
        let (cfg, ctx) = unsafe {
            let iface = sys::vpx_codec_vp8_cx();
            let mut cfg: Box<MaybeUninit<sys::vpx_codec_enc_cfg_t>> =
                Box::new(MaybeUninit::uninit());
            let rc = sys::vpx_codec_enc_config_default(iface, cfg.as_mut_ptr(), 0);
            if rc != sys::vpx_codec_err_t::VPX_CODEC_OK {
                return Err(err_text(ptr::null_mut(), rc));
            }
            let mut cfg: Box<sys::vpx_codec_enc_cfg_t> = Box::from_raw(Box::into_raw(cfg).cast());
            cfg.g_w = p.width;
            cfg.g_h = p.height;
            // Timestamps in the 90 kHz RTP clock.
            cfg.g_timebase = sys::vpx_rational {
                num: 1,
                den: 90_000,
            };
            cfg.g_threads = 1;
            cfg.g_lag_in_frames = 0;
            cfg.g_pass = sys::vpx_enc_pass::VPX_RC_ONE_PASS;
            cfg.g_error_resilient = sys::VPX_ERROR_RESILIENT_DEFAULT;
            cfg.rc_end_usage = sys::vpx_rc_mode::VPX_CBR;
            cfg.rc_target_bitrate = p.bitrate_kbps.max(30);
            cfg.rc_min_quantizer = 2;
            cfg.rc_max_quantizer = 56;
            cfg.rc_undershoot_pct = 100;
            cfg.rc_overshoot_pct = 15;
            cfg.rc_buf_sz = 1000;
            cfg.rc_buf_initial_sz = 500;
            cfg.rc_buf_optimal_sz = 600;
            // Let rate control drop frames under pressure, as WebRTC does (30 = its threshold).
            cfg.rc_dropframe_thresh = if p.allow_frame_drop { 30 } else { 0 };
            cfg.kf_mode = sys::vpx_kf_mode::VPX_KF_AUTO;
            cfg.kf_min_dist = 0;
            cfg.kf_max_dist = if p.keyframe_interval == 0 {
                u32::MAX / 2
            } else {
                p.keyframe_interval
            };
            let mut ctx: Box<MaybeUninit<sys::vpx_codec_ctx_t>> = Box::new(MaybeUninit::zeroed());
            let rc = sys::vpx_codec_enc_init_ver(
                ctx.as_mut_ptr(),
                iface,
                &*cfg,
                0,
                sys::VPX_ENCODER_ABI_VERSION as c_int,
            );
            if rc != sys::vpx_codec_err_t::VPX_CODEC_OK {
                return Err(err_text(ptr::null_mut(), rc));
            }
            let ctx: Box<sys::vpx_codec_ctx_t> = Box::from_raw(Box::into_raw(ctx).cast());
            (cfg, ctx)
        };
        let mut enc = Vp8Enc {
            ctx,
            cfg,
            out: Vec::new(),
        };
        enc.control(sys::vp8e_enc_control_id::VP8E_SET_CPUUSED, p.cpu_used)?;
        enc.control(sys::vp8e_enc_control_id::VP8E_SET_NOISE_SENSITIVITY, 0)?;
        enc.control(sys::vp8e_enc_control_id::VP8E_SET_STATIC_THRESHOLD, 1)?;
        enc.control(sys::vp8e_enc_control_id::VP8E_SET_TOKEN_PARTITIONS, 0)?;
        // Cap key frames at 3x an average frame so they don't burst the pacer.
        enc.control(
            sys::vp8e_enc_control_id::VP8E_SET_MAX_INTRA_BITRATE_PCT,
            300,
        )?;
        Ok(enc)
    }

    fn control(&mut self, id: sys::vp8e_enc_control_id, value: c_int) -> Result<(), String> {
        // SAFETY: the listed VP8E controls all take one int argument.
        let rc = unsafe { sys::vpx_codec_control_(&mut *self.ctx, id as c_int, value) };
        if rc != sys::vpx_codec_err_t::VPX_CODEC_OK {
            return Err(format!("control {id:?}: {}", err_text(&mut *self.ctx, rc)));
        }
        Ok(())
    }

    pub(crate) fn set_bitrate_kbps(&mut self, kbps: u32) -> Result<(), String> {
        self.cfg.rc_target_bitrate = kbps.max(30);
        // SAFETY: ctx was initialised in new(); cfg is a valid config owned by self.
        let rc = unsafe { sys::vpx_codec_enc_config_set(&mut *self.ctx, &*self.cfg) };
        if rc != sys::vpx_codec_err_t::VPX_CODEC_OK {
            return Err(err_text(&mut *self.ctx, rc));
        }
        Ok(())
    }

    /// Encode one frame; returns (bitstream, is_keyframe) for every packet produced.
    pub(crate) fn encode(
        &mut self,
        frame: &VideoFrame,
        pts_90k: i64,
        duration_90k: u32,
        force_key: bool,
    ) -> Result<Vec<(Vec<u8>, bool)>, String> {
        if frame.width != self.cfg.g_w || frame.height != self.cfg.g_h {
            return Err(format!(
                "frame is {}x{} but the encoder was set up for {}x{}",
                frame.width, frame.height, self.cfg.g_w, self.cfg.g_h
            ));
        }
        let stride_y = c_int::try_from(frame.stride_y).map_err(|_| "stride too large")?;
        let stride_uv = c_int::try_from(frame.stride_uv).map_err(|_| "stride too large")?;
        self.out.clear();
        // SAFETY: the image only borrows the frame's planes for the duration of the call;
        // libvpx reads them and never writes through these pointers.
        let img = sys::vpx_image_t {
            fmt: sys::vpx_img_fmt::VPX_IMG_FMT_I420,
            cs: sys::vpx_color_space::VPX_CS_BT_601,
            range: sys::vpx_color_range::VPX_CR_STUDIO_RANGE,
            w: frame.width,
            h: frame.height,
            bit_depth: 8,
            d_w: frame.width,
            d_h: frame.height,
            r_w: frame.width,
            r_h: frame.height,
            x_chroma_shift: 1,
            y_chroma_shift: 1,
            planes: [
                frame.y.as_ptr().cast_mut(),
                frame.u.as_ptr().cast_mut(),
                frame.v.as_ptr().cast_mut(),
                ptr::null_mut(),
            ],
            stride: [stride_y, stride_uv, stride_uv, 0],
            bps: 12,
            user_priv: ptr::null_mut(),
            img_data: ptr::null_mut(),
            img_data_owner: 0,
            self_allocd: 0,
            fb_priv: ptr::null_mut(),
        };
        unsafe {
            let flags: c_long = if force_key {
                sys::VPX_EFLAG_FORCE_KF as c_long
            } else {
                0
            };
            let rc = sys::vpx_codec_encode(
                &mut *self.ctx,
                &img,
                pts_90k,
                c_ulong::from(duration_90k),
                flags,
                c_ulong::from(sys::VPX_DL_REALTIME),
            );
            if rc != sys::vpx_codec_err_t::VPX_CODEC_OK {
                return Err(err_text(&mut *self.ctx, rc));
            }
            let mut iter: sys::vpx_codec_iter_t = ptr::null();
            loop {
                let pkt = sys::vpx_codec_get_cx_data(&mut *self.ctx, &mut iter);
                if pkt.is_null() {
                    break;
                }
                if (*pkt).kind == sys::vpx_codec_cx_pkt_kind::VPX_CODEC_CX_FRAME_PKT {
                    let f = (*pkt).data.frame;
                    let data = std::slice::from_raw_parts(f.buf as *const u8, f.sz as usize);
                    let key = f.flags & sys::VPX_FRAME_IS_KEY != 0;
                    self.out.push((data.to_vec(), key));
                }
            }
        }
        Ok(std::mem::take(&mut self.out))
    }
}

impl Drop for Vp8Enc {
    fn drop(&mut self) {
        // SAFETY: ctx was successfully initialised in new() (otherwise no Vp8Enc exists).
        unsafe {
            sys::vpx_codec_destroy(&mut *self.ctx);
        }
    }
}

pub(crate) struct Vp8Dec {
    ctx: Box<sys::vpx_codec_ctx_t>,
}

// SAFETY: as for the encoder, calls are serialised through `&mut self`.
unsafe impl Send for Vp8Dec {}

impl Vp8Dec {
    pub(crate) fn new() -> Result<Self, String> {
        // SAFETY: a zeroed ctx is what vpx_codec_dec_init expects; it is only treated as
        // initialised after the call succeeded.
        unsafe {
            let mut ctx: Box<MaybeUninit<sys::vpx_codec_ctx_t>> = Box::new(MaybeUninit::zeroed());
            let cfg = sys::vpx_codec_dec_cfg_t {
                threads: 1,
                w: 0,
                h: 0,
            };
            let rc = sys::vpx_codec_dec_init_ver(
                ctx.as_mut_ptr(),
                sys::vpx_codec_vp8_dx(),
                &cfg,
                0,
                sys::VPX_DECODER_ABI_VERSION as c_int,
            );
            if rc != sys::vpx_codec_err_t::VPX_CODEC_OK {
                return Err(err_text(ptr::null_mut(), rc));
            }
            let ctx: Box<sys::vpx_codec_ctx_t> = Box::from_raw(Box::into_raw(ctx).cast());
            Ok(Vp8Dec { ctx })
        }
    }

    /// Decode one VP8 frame; `None` when the decoder produced no picture (e.g. waiting for a key
    /// frame).
    pub(crate) fn decode(&mut self, data: &[u8]) -> Result<Option<VideoFrame>, String> {
        let len = u32::try_from(data.len()).map_err(|_| "frame too large")?;
        // SAFETY: data is valid for len bytes during the call; the returned image is owned by
        // the decoder and copied out before the next call.
        unsafe {
            let rc = sys::vpx_codec_decode(&mut *self.ctx, data.as_ptr(), len, ptr::null_mut(), 0);
            if rc != sys::vpx_codec_err_t::VPX_CODEC_OK {
                return Err(err_text(&mut *self.ctx, rc));
            }
            let mut iter: sys::vpx_codec_iter_t = ptr::null();
            let mut last = None;
            loop {
                let img = sys::vpx_codec_get_frame(&mut *self.ctx, &mut iter);
                if img.is_null() {
                    break;
                }
                let img = &*img;
                if img.fmt != sys::vpx_img_fmt::VPX_IMG_FMT_I420 {
                    return Err(format!("unexpected decoded format {:?}", img.fmt));
                }
                let (w, h) = (img.d_w, img.d_h);
                let (cw, ch) = crate::frame::chroma_size(w, h);
                let copy = |plane: usize, pw: usize, ph: usize| {
                    let stride = img.stride[plane] as usize;
                    let base = img.planes[plane] as *const u8;
                    let mut v = Vec::with_capacity(pw * ph);
                    for row in 0..ph {
                        v.extend_from_slice(std::slice::from_raw_parts(base.add(row * stride), pw));
                    }
                    v
                };
                let y = copy(0, w as usize, h as usize);
                let u = copy(1, cw, ch);
                let v = copy(2, cw, ch);
                last = Some(
                    VideoFrame::from_planes(w, h, y, w as usize, u, v, cw)
                        .map_err(|e| e.to_string())?,
                );
            }
            Ok(last)
        }
    }
}

impl Drop for Vp8Dec {
    fn drop(&mut self) {
        // SAFETY: ctx was initialised in new().
        unsafe {
            sys::vpx_codec_destroy(&mut *self.ctx);
        }
    }
}
