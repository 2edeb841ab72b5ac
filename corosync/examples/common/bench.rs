//! What the two CPG benchmark examples share: the process's CPU time and
//! the result line that `bench-cpg` (tests/src/bin/bench-cpg.rs) parses.

/// User plus system CPU seconds this process has used.
pub fn cpu_seconds() -> f64 {
    // SAFETY: an all-zero rusage is valid; getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid out-pointer.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

/// Prints the result of a throughput run of `count` messages of `size`
/// bytes that took `secs` seconds and `cpu` CPU seconds.
pub fn print_throughput(
    name: &str,
    size: usize,
    count: u64,
    secs: f64,
    cpu: f64,
    out_of_order: u64,
) {
    println!(
        "impl={name} mode=throughput size={size} count={count} secs={secs:.6} msgs_per_s={:.1} mb_per_s={:.3} cpu_us_per_msg={:.4} out_of_order={out_of_order}",
        count as f64 / secs,
        count as f64 * size as f64 / secs / 1e6,
        cpu / count as f64 * 1e6,
    );
}
