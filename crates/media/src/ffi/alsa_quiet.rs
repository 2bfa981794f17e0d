//! Keeps alsa-lib from printing "cannot find card '0'"-style chatter to stderr.
//!
//! alsa-lib reports through a per-thread "local" handler when one is set (a plain, non-variadic
//! C callback taking a `va_list`), so it can be installed from stable Rust without ABI tricks.
//! The messages go to `tracing` at debug level instead of the terminal.

use std::cell::Cell;
use std::ffi::{c_char, c_int, CStr};

thread_local! {
    static INSTALLED: Cell<bool> = const { Cell::new(false) };
}

unsafe extern "C" fn to_tracing(
    _file: *const c_char,
    _line: c_int,
    func: *const c_char,
    err: c_int,
    _fmt: *const c_char,
    _args: *mut alsa_sys::__va_list_tag,
) {
    // SAFETY: alsa-lib passes a NUL-terminated function name or NULL; snd_strerror returns a
    // static NUL-terminated string.
    let func = if func.is_null() {
        "?".into()
    } else {
        unsafe { CStr::from_ptr(func) }.to_string_lossy()
    };
    let msg = unsafe { CStr::from_ptr(alsa_sys::snd_strerror(err)) }.to_string_lossy();
    tracing::debug!(target: "red5_media::alsa", "alsa-lib {func}: {msg}");
}

/// Route alsa-lib's messages on the calling thread to `tracing`. Cheap after the first call.
pub(crate) fn quiet_current_thread() {
    INSTALLED.with(|done| {
        if !done.get() {
            // SAFETY: sets a thread-local function pointer inside alsa-lib; the callback above
            // only reads its pointer arguments.
            unsafe {
                alsa_sys::snd_lib_error_set_local(Some(to_tracing));
            }
            done.set(true);
        }
    });
}
