//! What the two CPG benchmark examples share: the process's CPU time, the
//! stamp each message carries and its check, and the result line that
//! `bench-cpg` (tests/src/bin/bench-cpg.rs) parses.

/// User plus system CPU seconds this process has used.
pub fn cpu_seconds() -> f64 {
    // SAFETY: an all-zero rusage is valid; getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid out-pointer.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

/// Writes message number `seq` into its first (up to) 8 bytes, native
/// byte order, as tests/c/cpg_bench.c does.
pub fn stamp(buf: &mut [u8], seq: u64) {
    let n = buf.len().min(8);
    buf[..n].copy_from_slice(&seq.to_ne_bytes()[..n]);
}

/// Whether `data` is message number `seq` of `size` bytes: its size and
/// stamp (not the rest of its bytes, which would cost a pass over each).
pub fn is_message(data: &[u8], size: usize, seq: u64) -> bool {
    let n = size.min(8);
    data.len() == size && data[..n] == seq.to_ne_bytes()[..n]
}

/// Prints the result of a throughput run that sent `sent` messages of
/// `size` bytes and got `delivered` back (`out_of_order` of them not the
/// message expected next), in `secs` seconds and `cpu` CPU seconds; rates
/// count the messages delivered. Exits with status 1 when `delivered`
/// differs from `sent`.
pub fn report_throughput(
    name: &str,
    size: usize,
    sent: u64,
    delivered: u64,
    secs: f64,
    cpu: f64,
    out_of_order: u64,
) {
    let n = delivered.max(1) as f64;
    println!(
        "impl={name} mode=throughput size={size} count={sent} delivered={delivered} secs={secs:.6} msgs_per_s={:.1} mb_per_s={:.3} cpu_us_per_msg={:.4} out_of_order={out_of_order}",
        delivered as f64 / secs,
        delivered as f64 * size as f64 / secs / 1e6,
        cpu / n * 1e6,
    );
    if delivered != sent {
        eprintln!("{name}: sent {sent} messages, {delivered} came back");
        std::process::exit(1);
    }
}
