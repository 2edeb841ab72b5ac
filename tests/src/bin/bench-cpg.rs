//! Runs the CPG benchmark: the Rust example `cpg_bench` and the plain C
//! program `tests/c/cpg_bench.c` doing the same loops on libcpg, alternately,
//! against the same one-node corosync cluster, and prints the medians and
//! the Rust/C ratios as a Markdown table (the one in BENCHMARKS.md).
//!
//! A second table counts the client's instructions per message with
//! valgrind's callgrind (the difference between a long and a short run,
//! divided by the difference in messages, so start-up cancels out): unlike
//! wall-clock figures on a shared 2-core machine, it is the same from run to
//! run.
//!
//! Usage: `bench-cpg [--rounds N] [--scale F] [--no-callgrind] [--no-async | --async-only [--pin] [--nodes N]]`
//! (run through `scripts/bench-cpg.sh`, which builds everything with
//! optimizations). With `--nodes N` the async table runs on a cluster of
//! N nodes (the programs on the first one) instead of one.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use corosync_tests::{example_binary, out_queue_episodes, Cluster, Node};

type Fields = HashMap<String, String>;

/// With `--pin`: the daemon runs on CPU 0 and the benchmark programs on
/// CPU 1.
static PIN: AtomicBool = AtomicBool::new(false);

fn run(node: &Node, program: &str, args: &[String]) -> Result<Fields, String> {
    let mut command = if PIN.load(Ordering::Relaxed) {
        let mut c = node.command("taskset").map_err(|e| e.to_string())?;
        c.args(["-c", "1", program]);
        c
    } else {
        node.command(program).map_err(|e| e.to_string())?
    };
    let out = command
        .args(args)
        .output()
        .map_err(|e| format!("run {program}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{program} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    let fields: Fields = line
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if fields.get("out_of_order").map(String::as_str) != Some("0") {
        return Err(format!(
            "{program} delivered out of order or failed: {line}"
        ));
    }
    Ok(fields)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn get(f: &Fields, key: &str) -> f64 {
    f.get(key).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
}

/// The message sizes of every table.
const SIZES: [usize; 4] = [64, 1024, 16 * 1024, 64 * 1024];

/// How many messages a throughput run of `size` sends: about 100 MB, at
/// least 1,600 and at most 100,000 messages, times `scale` (at least 100).
fn message_count(size: usize, scale: f64) -> u64 {
    (((100_000_000 / size).clamp(1_600, 100_000)) as f64 * scale).max(100.0) as u64
}

/// The arguments of a run of the benchmark programs in `mode`
/// (`throughput`, `throughput-drain`, `throughput-window`).
fn throughput_args(mode: &str, size: usize, count: u64) -> Vec<String> {
    vec![mode.to_string(), size.to_string(), count.to_string()]
}

fn main() -> ExitCode {
    let mut rounds = 9;
    let mut scale = 1.0;
    let mut callgrind = true;
    let mut with_async = true;
    let mut only_async = false;
    let mut nodes = 1;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--rounds" => rounds = args[i + 1].parse().expect("--rounds N"),
            "--scale" => scale = args[i + 1].parse().expect("--scale F"),
            "--nodes" => nodes = args[i + 1].parse().expect("--nodes N"),
            "--no-callgrind" => {
                callgrind = false;
                i += 1;
                continue;
            }
            "--no-async" => {
                with_async = false;
                i += 1;
                continue;
            }
            "--async-only" => {
                only_async = true;
                i += 1;
                continue;
            }
            "--pin" => {
                PIN.store(true, Ordering::Relaxed);
                i += 1;
                continue;
            }
            other => {
                eprintln!("unknown argument {other}");
                return ExitCode::from(2);
            }
        }
        i += 2;
    }
    if nodes != 1 && !only_async {
        eprintln!("--nodes goes with --async-only");
        return ExitCode::from(2);
    }
    let result = if only_async {
        async_only(rounds, scale, nodes)
    } else {
        bench(rounds, scale, callgrind, with_async)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-cpg: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Instructions the client executed, counted by callgrind.
fn instructions(node: &Node, program: &str, args: &[String]) -> Result<f64, String> {
    let out = node
        .command("valgrind")
        .map_err(|e| e.to_string())?
        .args([
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            program,
        ])
        .args(args)
        .output()
        .map_err(|e| format!("run valgrind (apt-get install valgrind): {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("valgrind {program} {args:?} failed: {stderr}"));
    }
    stderr
        .lines()
        .find_map(|l| l.split("Collected :").nth(1))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| format!("no instruction count from callgrind: {stderr}"))
}

fn bench(rounds: usize, scale: f64, callgrind: bool, with_async: bool) -> Result<(), String> {
    let rust = example_binary("cpg_bench").map_err(|e| e.to_string())?;
    let rust = rust.to_str().ok_or("path")?.to_string();
    let c = env!("C_CPG_BENCH").to_string();
    let cluster = Cluster::single().map_err(|e| e.to_string())?;
    let node = cluster.node(0);
    let version = std::process::Command::new("corosync")
        .arg("-v")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or_default()
                .to_string()
        });

    println!("CPG multicast, one-node cluster on loopback, {rounds} alternating rounds per row, medians.");
    println!("{}", version.unwrap_or_default());
    println!();
    println!("| size | messages | C msgs/s | Rust msgs/s | throughput Rust/C | C MB/s | Rust MB/s | C CPU µs/msg | Rust CPU µs/msg | CPU Rust/C |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for size in SIZES {
        let count = message_count(size, scale);
        let args = throughput_args("throughput", size, count);
        let mut results: HashMap<&str, Vec<Fields>> = HashMap::new();
        for round in 0..rounds {
            // Alternate which one goes first.
            let order = if round % 2 == 0 {
                [("c", &c), ("rust", &rust)]
            } else {
                [("rust", &rust), ("c", &c)]
            };
            for (name, program) in order {
                results
                    .entry(name)
                    .or_default()
                    .push(run(node, program, &args)?);
            }
        }
        let med =
            |name: &str, key: &str| median(results[name].iter().map(|f| get(f, key)).collect());
        let (c_rate, r_rate) = (med("c", "msgs_per_s"), med("rust", "msgs_per_s"));
        let (c_mb, r_mb) = (med("c", "mb_per_s"), med("rust", "mb_per_s"));
        let (c_cpu, r_cpu) = (med("c", "cpu_us_per_msg"), med("rust", "cpu_us_per_msg"));
        println!(
            "| {size} B | {count} | {c_rate:.0} | {r_rate:.0} | {:.3} | {c_mb:.1} | {r_mb:.1} | {c_cpu:.2} | {r_cpu:.2} | {:.3} |",
            r_rate / c_rate,
            r_cpu / c_cpu
        );
    }
    println!();
    println!("| round trip (64 B, one message in flight) | C | Rust | Rust/C |");
    println!("|---|---:|---:|---:|");
    let count = ((5_000.0 * scale) as u64).max(100);
    let args = vec!["latency".to_string(), "64".to_string(), count.to_string()];
    let mut c_runs = Vec::new();
    let mut r_runs = Vec::new();
    for round in 0..rounds {
        if round % 2 == 0 {
            c_runs.push(run(node, &c, &args)?);
            r_runs.push(run(node, &rust, &args)?);
        } else {
            r_runs.push(run(node, &rust, &args)?);
            c_runs.push(run(node, &c, &args)?);
        }
    }
    for key in ["mean_us", "p50_us", "p99_us"] {
        let cm = median(c_runs.iter().map(|f| get(f, key)).collect());
        let rm = median(r_runs.iter().map(|f| get(f, key)).collect());
        println!("| {key} | {cm:.1} µs | {rm:.1} µs | {:.3} |", rm / cm);
    }
    if with_async {
        async_table(cluster.nodes(), &rust, rounds, scale)?;
    }
    if callgrind {
        println!();
        println!("| size | C instructions/msg | Rust instructions/msg | Rust/C |");
        println!("|---:|---:|---:|---:|");
        for size in SIZES {
            let (short, long) = if size >= 16 * 1024 {
                (500u64, 2_500u64)
            } else {
                (2_000, 12_000)
            };
            let per_message = |program: &str| -> Result<f64, String> {
                let a = instructions(node, program, &throughput_args("throughput", size, short))?;
                let b = instructions(node, program, &throughput_args("throughput", size, long))?;
                Ok((b - a) / (long - short) as f64)
            };
            let (ci, ri) = (per_message(&c)?, per_message(&rust)?);
            println!("| {size} B | {ci:.0} | {ri:.0} | {:.3} |", ri / ci);
        }
    }
    Ok(())
}

/// CPU seconds the process `pid` has used (user plus system).
fn process_cpu(pid: u32) -> Result<f64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| e.to_string())?;
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .ok_or("bad /proc stat")?
        .1
        .split_whitespace()
        .collect();
    let ticks = |i: usize| -> Result<f64, String> {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or_else(|| "bad /proc stat".to_string())
    };
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    Ok((ticks(11)? + ticks(12)?) / hz)
}

/// Events corosync has sent its clients through its out-queue so far.
fn out_queue_events(log: &str) -> u64 {
    out_queue_episodes(log).iter().sum()
}

/// How many times totem's token has come round to `node` so far
/// (`stats.srp.orf_token_rx` in corosync's statistics map).
fn tokens(node: &Node) -> Result<u64, String> {
    node.run(|| {
        corosync::cmap::Cmap::with_map(corosync::cmap::Map::Stats)
            .and_then(|stats| stats.get_u64("stats.srp.orf_token_rx"))
            .map_err(|e| format!("token count: {e}"))
    })
    .map_err(|e| e.to_string())?
}

/// `run` on the first of `nodes`, plus what the daemons spent on the run:
/// `daemon_us_per_msg` (all of them), and on the first node `outq_per_msg`
/// (events that went through corosync's out-queue) and `tokens_per_msg`
/// (token rotations: totem sends what is queued when the token comes
/// round, so fewer rotations per message mean bigger batches).
fn run_with_daemon(nodes: &[Node], program: &str, args: &[String]) -> Result<Fields, String> {
    let node = &nodes[0];
    let pids = nodes
        .iter()
        .map(|n| n.pid().ok_or("a daemon is not running"))
        .collect::<Result<Vec<u32>, _>>()?;
    let count: f64 = args[2].parse().map_err(|_| "count")?;
    let sample = || -> Result<(f64, u64, u64), String> {
        let mut cpu = 0.0;
        for &pid in &pids {
            cpu += process_cpu(pid)?;
        }
        Ok((cpu, out_queue_events(&node.log()), tokens(node)?))
    };
    let (cpu0, q0, t0) = sample()?;
    let mut fields = run(node, program, args)?;
    let (cpu1, q1, t1) = sample()?;
    fields.insert(
        "tokens_per_msg".into(),
        (t1.saturating_sub(t0) as f64 / count).to_string(),
    );
    fields.insert(
        "daemon_us_per_msg".into(),
        ((cpu1 - cpu0) / count * 1e6).to_string(),
    );
    fields.insert(
        "outq_per_msg".into(),
        (q1.saturating_sub(q0) as f64 / count).to_string(),
    );
    Ok(fields)
}

/// Moves every thread of `node`'s daemon to CPU 0.
fn pin_daemon(node: &Node) -> Result<(), String> {
    let pid = node.pid().ok_or("the daemon is not running")?;
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).map_err(|e| e.to_string())?;
    for task in tasks {
        let tid = task.map_err(|e| e.to_string())?.file_name();
        let status = std::process::Command::new("taskset")
            .args(["-p", "-c", "0"])
            .arg(&tid)
            .stdout(std::process::Stdio::null())
            .status()
            .map_err(|e| format!("taskset: {e}"))?;
        if !status.success() {
            return Err(format!("taskset could not pin thread {tid:?}"));
        }
    }
    Ok(())
}

/// Only the async table, on a cluster of its own of `nodes` nodes.
fn async_only(rounds: usize, scale: f64, nodes: usize) -> Result<(), String> {
    let rust = example_binary("cpg_bench").map_err(|e| e.to_string())?;
    let rust = rust.to_str().ok_or("path")?.to_string();
    let cluster = Cluster::new(nodes).map_err(|e| e.to_string())?;
    if PIN.load(Ordering::Relaxed) {
        for node in cluster.nodes() {
            pin_daemon(node)?;
        }
        println!("corosync's threads pinned to CPU 0, the benchmark programs to CPU 1.");
    }
    println!(
        "CPG multicast, async against blocking, {nodes}-node cluster, the programs on node 1, {rounds} rounds per row, medians."
    );
    async_table(cluster.nodes(), &rust, rounds, scale)
}

/// The send window of the second async program (`--window`).
const BIG_WINDOW: usize = 16 << 20;

/// The async adapter against the blocking API, all Rust, in rotating
/// order: the blocking loop that reads only when corosync says TRY_AGAIN
/// (as the C program does), the blocking loop paced as the async adapter
/// paces its sends (`throughput-window`), the blocking loop reading
/// whenever its descriptor is readable, the async one, and the async one
/// with a send window of [`BIG_WINDOW`]. The programs run on the first of
/// `nodes`; corosync's CPU time is that of every node's daemon.
fn async_table(nodes: &[Node], rust: &str, rounds: usize, scale: f64) -> Result<(), String> {
    let rust_async = example_binary("cpg_bench_async").map_err(|e| e.to_string())?;
    let rust_async = rust_async.to_str().ok_or("path")?.to_string();
    println!();
    let big = format!("{} MiB", BIG_WINDOW >> 20);
    println!("| size | blocking msgs/s | async msgs/s | async/blocking | async, {big} window, msgs/s | async {big}/blocking | paced blocking msgs/s | async/paced | paced/blocking | draining blocking msgs/s | async/draining | client CPU µs/msg: blocking, paced, draining, async, async {big} | corosync CPU µs/msg: blocking, paced, draining, async, async {big} | share of events through corosync's out-queue: blocking, paced, draining, async, async {big} | token rotations per 1,000 messages: blocking, paced, draining, async, async {big} |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for size in SIZES {
        let count = message_count(size, scale);
        let args = throughput_args("throughput", size, count);
        let window_args = throughput_args("throughput-window", size, count);
        let drain_args = throughput_args("throughput-drain", size, count);
        let mut big_args = args.clone();
        big_args.extend(["--window".to_string(), BIG_WINDOW.to_string()]);
        let programs = [
            (rust, &args),
            (rust, &window_args),
            (rust, &drain_args),
            (rust_async.as_str(), &args),
            (rust_async.as_str(), &big_args),
        ];
        let n = programs.len();
        let mut results: [Vec<Fields>; 5] = Default::default();
        for round in 0..rounds {
            for k in 0..n {
                let which = (round + k) % n;
                let (program, args) = programs[which];
                results[which].push(run_with_daemon(nodes, program, args)?);
            }
        }
        let med =
            |which: usize, key: &str| median(results[which].iter().map(|f| get(f, key)).collect());
        let all = |key: &str, digits: usize| {
            (0..n)
                .map(|w| format!("{:.*}", digits, med(w, key)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let [b, w, d, a, big] = [0, 1, 2, 3, 4].map(|k| med(k, "msgs_per_s"));
        println!(
            "| {size} B | {b:.0} | {a:.0} | {:.3} | {big:.0} | {:.3} | {w:.0} | {:.3} | {:.3} | {d:.0} | {:.3} | {} | {} | {} | {} |",
            a / b,
            big / b,
            a / w,
            w / b,
            a / d,
            all("cpu_us_per_msg", 2),
            all("daemon_us_per_msg", 1),
            all("outq_per_msg", 2),
            (0..n)
                .map(|w| format!("{:.0}", med(w, "tokens_per_msg") * 1000.0))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    Ok(())
}
