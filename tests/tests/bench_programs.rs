//! The benchmark programs of BENCHMARKS.md, checked on a real daemon: every
//! mode of the Rust, C and async programs counts every message back, of its
//! size and in order, for small messages, ring-sized bursts and messages
//! larger than the event ring (which the paced loops must send one at a
//! time), also the paced loop with a window past the ring.

use std::time::Duration;

use corosync_tests::bounded;
use corosync_tests::{example_binary, Cluster};

/// How long one run may take: seconds when it works; the bound only tells
/// that from a hang.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// (size, count): many small messages; several bursts of a whole ring;
/// messages larger than the 1 MiB ring, which libcpg fragments.
const CASES: &[(usize, u64)] = &[(64, 5000), (16 * 1024, 300), (3 << 20, 4)];

#[test]
fn every_benchmark_mode_delivers_every_message_in_order() {
    let cluster = Cluster::single().expect("cluster");
    let node = cluster.node(0);
    let rust = example_binary("cpg_bench").unwrap();
    let rust_async = example_binary("cpg_bench_async").unwrap();
    let c = env!("C_CPG_BENCH");
    // (program, mode, window bytes for the paced loop)
    let programs = [
        (rust.to_str().unwrap(), "throughput", None),
        (rust.to_str().unwrap(), "throughput-drain", None),
        (rust.to_str().unwrap(), "throughput-window", None),
        (rust.to_str().unwrap(), "throughput-window", Some("4194304")),
        (rust_async.to_str().unwrap(), "throughput", None),
        (c, "throughput", None),
    ];
    for &(size, count) in CASES {
        for (program, mode, window) in programs {
            let mut run = node.command(program).unwrap();
            run.args([mode, &size.to_string(), &count.to_string()])
                .args(window);
            let out = bounded::output(&mut run, RUN_LIMIT).unwrap_or_else(|e| panic!("{e}"));
            let line = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{program} {mode} {size} {count}: {}\n{line}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            // The counts the program made of what came back.
            let field = |key: &str| {
                line.split_whitespace()
                    .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
                    .unwrap_or_else(|| panic!("no {key} in {line}"))
            };
            let (size, count) = (size.to_string(), count.to_string());
            assert_eq!(
                [
                    field("size"),
                    field("count"),
                    field("delivered"),
                    field("out_of_order")
                ],
                [size.as_str(), &count, &count, "0"],
                "{program} {mode}: {line}"
            );
        }
    }
}
