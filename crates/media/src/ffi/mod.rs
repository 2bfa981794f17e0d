//! All unsafe code of the crate lives below this module.
#![allow(unsafe_code)]

pub(crate) mod alsa_quiet;
pub(crate) mod h264;
pub(crate) mod rusage;
pub(crate) mod vpx;
