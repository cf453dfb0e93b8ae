//! The process's own CPU time, so that a benchmark prints records per
//! CPU-second (throughput per core, what a comparison with Flink on a busy
//! machine needs) beside records per second.

use std::time::Duration;

/// User plus system CPU time of all threads of this process so far.
pub fn process_cpu_time() -> Duration {
    // SAFETY: `getrusage` only writes the `rusage` it is given, which is
    // plain old data and valid when zeroed.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return Duration::ZERO;
        }
        usage
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::process_cpu_time;

    #[test]
    fn cpu_time_grows_with_work() {
        let before = process_cpu_time();
        let mut x = 0u64;
        for i in 0..50_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        assert!(
            process_cpu_time() > before,
            "50M multiplications took no CPU time"
        );
    }
}
