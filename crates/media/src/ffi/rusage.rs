//! CPU time of this process via getrusage(2), for the pipeline CPU-share benchmark.

use std::time::Duration;

/// User + system CPU time consumed by the whole process so far.
pub(crate) fn process_cpu_time() -> Option<Duration> {
    // SAFETY: getrusage writes into the zeroed struct we own; RUSAGE_SELF is always valid.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc != 0 {
        return None;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
    Some(tv(ru.ru_utime) + tv(ru.ru_stime))
}
