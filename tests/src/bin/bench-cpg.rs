//! Runs the CPG benchmark: the Rust example `cpg_bench` and the plain C
//! program `tests/c/cpg_bench.c` doing the same loops on libcpg, alternately,
//! against the same one-node corosync cluster, and prints the medians and
//! the Rust/C ratios as Markdown tables (see BENCHMARKS.md).
//!
//! A second table counts the client's instructions per message with
//! valgrind's callgrind (the difference between a long and a short run,
//! divided by the difference in messages, so start-up cancels out): unlike
//! wall-clock figures on a shared 2-core machine, it is the same from run to
//! run. The same runs give the inclusive cost of what libcpg's
//! `cpg_dispatch` calls back for each message: the C program's `deliver`
//! against the bindings' delivery trampoline and the closure it runs (the
//! callees of `cpg_dispatch` in the program whose name contains
//! `--callback-symbol`, default `deliver`).
//!
//! Every figure also goes into a tab-separated file, one row per (table,
//! nodes, program, size, metric) after `#` lines naming the date, machine
//! and versions; `scripts/plot-bench.py` draws BENCHMARKS.md's plot and
//! headline table from such files. The path is printed at the end
//! (default `target/bench/cpg-<UTC time>.tsv`; the callgrind files go in a
//! folder next to it).
//!
//! Usage: `bench-cpg [--rounds N] [--scale F] [--no-callgrind]
//! [--callback-symbol S] [--out FILE] [--no-async | --async-only [--pin]
//! [--nodes N]]` (run through `scripts/bench-cpg.sh`, which builds
//! everything with optimizations). With `--nodes N` the async table runs on
//! a cluster of N nodes (the programs on the first one) instead of one.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use corosync_tests::bounded::{self, COMMAND_WAIT};
use corosync_tests::{example_binary, out_queue_episodes, Cluster, Node};

/// How long one run of a benchmark program (plain or under callgrind) or
/// of `callgrind_annotate` may take: far longer than the largest run at
/// any sensible `--scale`. It only tells a hang from a slow run: a program
/// still running then is killed and the benchmark fails naming it.
const PROGRAM_LIMIT: Duration = Duration::from_secs(30 * 60);

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
    let out = bounded::output(command.args(args), PROGRAM_LIMIT)
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
    // A throughput line counts what came back: every message sent.
    if args[0].starts_with("throughput") && fields.get("delivered") != Some(&args[2]) {
        return Err(format!(
            "{program} did not get back the {} messages it sent: {line}",
            args[2]
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

/// What the command line asks for.
struct Options {
    rounds: usize,
    scale: f64,
    callgrind: bool,
    callback_symbol: String,
    with_async: bool,
    only_async: bool,
    nodes: usize,
    out: Option<PathBuf>,
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        rounds: 9,
        scale: 1.0,
        callgrind: true,
        callback_symbol: "deliver".to_string(),
        with_async: true,
        only_async: false,
        nodes: 1,
        out: None,
    };
    let mut i = 0;
    while i < args.len() {
        let value = |what: &str| {
            args.get(i + 1)
                .cloned()
                .ok_or_else(|| format!("{} needs {what}", args[i]))
        };
        let bad = |what: &str| format!("{} needs {what}", args[i]);
        match args[i].as_str() {
            "--rounds" => o.rounds = value("N")?.parse().map_err(|_| bad("N"))?,
            "--scale" => o.scale = value("F")?.parse().map_err(|_| bad("F"))?,
            "--nodes" => o.nodes = value("N")?.parse().map_err(|_| bad("N"))?,
            "--callback-symbol" => o.callback_symbol = value("a name")?,
            "--out" => o.out = Some(value("a file")?.into()),
            flag => {
                match flag {
                    "--no-callgrind" => o.callgrind = false,
                    "--no-async" => o.with_async = false,
                    "--async-only" => o.only_async = true,
                    "--pin" => PIN.store(true, Ordering::Relaxed),
                    other => return Err(format!("unknown argument {other}")),
                }
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    if o.nodes != 1 && !o.only_async {
        return Err("--nodes goes with --async-only".into());
    }
    if o.rounds == 0 {
        return Err("--rounds must be at least 1".into());
    }
    Ok(o)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse_options(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench-cpg: {e}");
            return ExitCode::from(2);
        }
    };
    let mut record = match Record::create(options.out.clone(), &args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bench-cpg: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = if options.only_async {
        async_only(&options, &mut record)
    } else {
        bench(&options, &mut record)
    };
    println!();
    match result {
        Ok(()) => {
            println!("results: {}", record.path.display());
            println!(
                "headline table and plot: scripts/plot-bench.py --svg docs/bench-cpg.svg {} [the other runs' files]",
                record.path.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench-cpg: {e}");
            eprintln!(
                "bench-cpg: the results so far are in {}",
                record.path.display()
            );
            ExitCode::FAILURE
        }
    }
}

/// The machine-readable results of a run: `#` lines that say when, where
/// and with what it ran, a header, then one tab-separated row per (table,
/// nodes, program, size, metric), written as the figures come.
struct Record {
    path: PathBuf,
    file: File,
}

impl Record {
    /// Creates `out`, or `target/bench/cpg-<UTC time>.tsv`, and writes the
    /// run's description (`args` is the command line).
    fn create(out: Option<PathBuf>, args: &[String]) -> Result<Record, String> {
        let date = first_line("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]);
        let path = match out {
            Some(path) => path,
            None => target_dir()?
                .join("bench")
                .join(format!("cpg-{}.tsv", date.replace(':', ""))),
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let mut file = File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut commit = first_line(
            "git",
            &[
                "-C",
                workspace.to_str().unwrap_or("."),
                "rev-parse",
                "--short",
                "HEAD",
            ],
        );
        let status = bounded::output(
            Command::new("git").arg("-C").arg(&workspace).args([
                "status",
                "--porcelain",
                "--untracked-files=no",
            ]),
            COMMAND_WAIT,
        );
        if status.is_ok_and(|o| !o.stdout.is_empty()) {
            commit.push_str(" (with uncommitted changes)");
        }
        let meta = [
            (
                "what",
                "corosync-rs CPG benchmark (scripts/bench-cpg.sh)".into(),
            ),
            ("date", date),
            ("command", format!("bench-cpg {}", args.join(" "))),
            ("commit", commit),
            ("machine", machine()),
            ("os", os_name()),
            ("kernel", first_line("uname", &["-r"])),
            ("corosync", first_line("corosync", &["-v"])),
            (
                "libqb",
                first_line("pkg-config", &["--modversion", "libqb"]),
            ),
            ("rustc", first_line("rustc", &["--version"])),
            ("cc", first_line("cc", &["--version"])),
            ("valgrind", first_line("valgrind", &["--version"])),
        ];
        let mut text = String::new();
        for (key, value) in meta {
            text.push_str(&format!("# {key}: {value}\n"));
        }
        text.push_str("table\tnodes\tprogram\tsize\tmetric\tvalue\n");
        file.write_all(text.as_bytes())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Record { path, file })
    }

    /// Writes one figure. `table` is `throughput` (C against Rust),
    /// `latency`, `async` or `callgrind`; `size` is in bytes.
    fn row(
        &mut self,
        table: &str,
        nodes: usize,
        program: &str,
        size: usize,
        metric: &str,
        value: f64,
    ) -> Result<(), String> {
        writeln!(
            self.file,
            "{table}\t{nodes}\t{program}\t{size}\t{metric}\t{value}"
        )
        .map_err(|e| format!("{}: {e}", self.path.display()))
    }
}

/// The cargo target folder this runner was built in.
fn target_dir() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    // target/<profile>/bench-cpg
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .ok_or_else(|| "cannot find the target folder".to_string())
}

/// The first line `program args` prints, or `unknown`.
fn first_line(program: &str, args: &[&str]) -> String {
    bounded::output(Command::new(program).args(args), COMMAND_WAIT)
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(|l| l.trim().to_string())
        })
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

/// The CPU model, how many CPUs and how much memory this machine has.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kib: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    format!("{model}, {cpus} CPUs, {:.0} GiB", kib / (1024.0 * 1024.0))
}

/// The distribution's name, from /etc/os-release.
fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map_or_else(
            || "unknown".to_string(),
            |n| n.trim_matches('"').to_string(),
        )
}

fn bench(options: &Options, record: &mut Record) -> Result<(), String> {
    let rounds = options.rounds;
    let scale = options.scale;
    let rust = example_binary("cpg_bench").map_err(|e| e.to_string())?;
    let rust = rust.to_str().ok_or("path")?.to_string();
    let c = env!("C_CPG_BENCH").to_string();
    let cluster = Cluster::builder(1)
        .no_time_limit()
        .start()
        .map_err(|e| e.to_string())?;
    let node = cluster.node(0);

    println!("CPG multicast, one-node cluster on loopback, {rounds} alternating rounds per row, medians.");
    println!("{}", first_line("corosync", &["-v"]));
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
        for name in ["c", "rust"] {
            for key in ["msgs_per_s", "mb_per_s", "cpu_us_per_msg"] {
                record.row("throughput", 1, name, size, key, med(name, key))?;
            }
        }
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
        record.row("latency", 1, "c", 64, key, cm)?;
        record.row("latency", 1, "rust", 64, key, rm)?;
        println!("| {key} | {cm:.1} µs | {rm:.1} µs | {:.3} |", rm / cm);
    }
    if options.with_async {
        async_table(cluster.nodes(), &rust, rounds, scale, record)?;
    }
    if options.callgrind {
        callgrind_table(node, &c, &rust, &options.callback_symbol, record)?;
    }
    Ok(())
}

/// The callgrind table: the client's instructions per message, and those
/// of what `cpg_dispatch` calls back for each message, C against Rust.
fn callgrind_table(
    node: &Node,
    c: &str,
    rust: &str,
    symbol: &str,
    record: &mut Record,
) -> Result<(), String> {
    let profiles = record.path.with_extension("callgrind");
    std::fs::create_dir_all(&profiles).map_err(|e| format!("{}: {e}", profiles.display()))?;
    println!();
    println!(
        "Client instructions per message (callgrind; profiles in {}).",
        profiles.display()
    );
    println!();
    println!("| size | C instructions/msg | Rust instructions/msg | Rust/C | C callback instructions/msg | Rust callback instructions/msg |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for size in SIZES {
        let (short, long) = if size >= 16 * 1024 {
            (500u64, 2_500u64)
        } else {
            (2_000, 12_000)
        };
        let per_message = |name: &str, program: &str| -> Result<(f64, f64), String> {
            let counted = |count: u64| {
                let profile = profiles.join(format!("{name}-{size}-{count}.out"));
                let args = throughput_args("throughput", size, count);
                callgrind(node, program, &args, &profile, symbol)
            };
            let (a, b) = (counted(short)?, counted(long)?);
            let messages = long - short;
            let calls = b.callback_calls.saturating_sub(a.callback_calls);
            if calls != messages {
                return Err(format!(
                    "{program}: the long run called back {calls} more times than the short one, for {messages} more messages"
                ));
            }
            let n = messages as f64;
            Ok(((b.total - a.total) / n, (b.callback - a.callback) / n))
        };
        let (ci, c_cb) = per_message("c", c)?;
        let (ri, r_cb) = per_message("rust", rust)?;
        for (name, total, callback) in [("c", ci, c_cb), ("rust", ri, r_cb)] {
            record.row("callgrind", 1, name, size, "instructions_per_msg", total)?;
            record.row(
                "callgrind",
                1,
                name,
                size,
                "callback_instructions_per_msg",
                callback,
            )?;
        }
        println!(
            "| {size} B | {ci:.0} | {ri:.0} | {:.3} | {c_cb:.1} | {r_cb:.1} |",
            ri / ci
        );
    }
    Ok(())
}

/// What callgrind counted in one run of a benchmark program.
struct Counted {
    /// Every instruction the client executed.
    total: f64,
    /// The inclusive instructions of the callback functions (see
    /// [`callback_cost`]).
    callback: f64,
    /// How many times `cpg_dispatch` called them.
    callback_calls: u64,
}

/// Runs `program args` under callgrind on `node`, keeping its profile in
/// `profile`, and counts the client's instructions and those of the
/// functions of `program` that `cpg_dispatch` called whose name contains
/// `symbol`.
fn callgrind(
    node: &Node,
    program: &str,
    args: &[String],
    profile: &Path,
    symbol: &str,
) -> Result<Counted, String> {
    let mut valgrind = node.command("valgrind").map_err(|e| e.to_string())?;
    valgrind
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", profile.display()))
        .arg(program)
        .args(args);
    let out = bounded::output(&mut valgrind, PROGRAM_LIMIT)
        .map_err(|e| format!("run valgrind (apt-get install valgrind): {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("valgrind {program} {args:?} failed: {stderr}"));
    }
    let total = stderr
        .lines()
        .find_map(|l| l.split("Collected :").nth(1))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| format!("no instruction count from callgrind: {stderr}"))?;
    let annotated = bounded::output(
        Command::new("callgrind_annotate")
            .args(["--inclusive=yes", "--threshold=100", "--tree=calling"])
            .arg(profile),
        PROGRAM_LIMIT,
    )
    .map_err(|e| format!("run callgrind_annotate: {e}"))?;
    if !annotated.status.success() {
        return Err(format!(
            "callgrind_annotate {}: {}",
            profile.display(),
            String::from_utf8_lossy(&annotated.stderr)
        ));
    }
    let (callback, callback_calls) =
        callback_cost(&String::from_utf8_lossy(&annotated.stdout), program, symbol)?;
    Ok(Counted {
        total,
        callback,
        callback_calls,
    })
}

/// One line of `callgrind_annotate --tree=calling` output:
/// `<cost> (<share>)  <marker> <file>:<function> [(<calls>x)] [<object>]`,
/// where the marker is `*` for a function and `>` for what it calls.
struct TreeLine<'a> {
    cost: f64,
    marker: char,
    function: &'a str,
    calls: Option<u64>,
    object: &'a str,
}

fn parse_tree_line(line: &str) -> Option<TreeLine<'_>> {
    let (cost, rest) = line.trim_start().split_once(' ')?;
    let cost = cost.replace(',', "").parse().ok()?;
    let (_share, rest) = rest.trim_start().strip_prefix('(')?.split_once(')')?;
    let rest = rest.trim_start();
    let marker = rest.chars().next().filter(|c| "*<>".contains(*c))?;
    let rest = rest[1..].trim_start();
    let (rest, object) = rest.strip_suffix(']')?.rsplit_once(" [")?;
    let (rest, calls) = match rest.strip_suffix("x)").and_then(|r| r.rsplit_once(" (")) {
        Some((r, n)) => (r, n.replace(',', "").parse().ok()),
        None => (rest, None),
    };
    // File names carry no colon; Rust function names do.
    let (_file, function) = rest.split_once(':')?;
    Some(TreeLine {
        cost,
        marker,
        function,
        calls,
        object,
    })
}

/// The inclusive instructions and the number of calls of the functions of
/// `program` (by file name) that libcpg's `cpg_dispatch` called and whose
/// name contains `symbol`, read from `callgrind_annotate --inclusive=yes
/// --tree=calling` output: what the dispatch calls back, whatever the
/// bindings name their trampoline.
fn callback_cost(annotated: &str, program: &str, symbol: &str) -> Result<(f64, u64), String> {
    let own = |object: &str| Path::new(object).file_name() == Path::new(program).file_name();
    let mut lines = annotated
        .lines()
        .skip_while(|l| {
            !matches!(parse_tree_line(l), Some(t) if t.marker == '*' && t.function == "cpg_dispatch")
        })
        .skip(1)
        .map_while(parse_tree_line)
        .filter(|t| t.marker == '>' && own(t.object))
        .peekable();
    if lines.peek().is_none() {
        return Err(format!(
            "callgrind_annotate shows no call from cpg_dispatch into {program}"
        ));
    }
    let (mut cost, mut calls, mut seen) = (0.0, 0, Vec::new());
    for line in lines {
        if line.function.contains(symbol) {
            cost += line.cost;
            calls += line.calls.unwrap_or(0);
        }
        seen.push(line.function.to_string());
    }
    if calls == 0 {
        return Err(format!(
            "cpg_dispatch called none of {program}'s functions named like {symbol:?}, only {seen:?}: pass --callback-symbol"
        ));
    }
    Ok((cost, calls))
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
        let out = bounded::output(
            Command::new("taskset").args(["-p", "-c", "0"]).arg(&tid),
            COMMAND_WAIT,
        )
        .map_err(|e| format!("taskset: {e}"))?;
        if !out.status.success() {
            return Err(format!("taskset could not pin thread {tid:?}"));
        }
    }
    Ok(())
}

/// Only the async table, on a cluster of its own of `nodes` nodes.
fn async_only(options: &Options, record: &mut Record) -> Result<(), String> {
    let (rounds, scale, nodes) = (options.rounds, options.scale, options.nodes);
    let rust = example_binary("cpg_bench").map_err(|e| e.to_string())?;
    let rust = rust.to_str().ok_or("path")?.to_string();
    let cluster = Cluster::builder(nodes)
        .no_time_limit()
        .start()
        .map_err(|e| e.to_string())?;
    if PIN.load(Ordering::Relaxed) {
        for node in cluster.nodes() {
            pin_daemon(node)?;
        }
        println!("corosync's threads pinned to CPU 0, the benchmark programs to CPU 1.");
    }
    println!(
        "CPG multicast, async against blocking, {nodes}-node cluster, the programs on node 1, {rounds} rounds per row, medians."
    );
    async_table(cluster.nodes(), &rust, rounds, scale, record)
}

/// The send window of the second async program (`--window`).
const BIG_WINDOW: usize = 16 << 20;

/// The names of the async table's programs in the results file, in the
/// order of `async_table`'s `programs`.
const ASYNC_PROGRAMS: [&str; 5] = [
    "rust",
    "rust-paced",
    "rust-drain",
    "rust-async",
    "rust-async-16MiB",
];

/// The async adapter against the blocking API, all Rust, in rotating
/// order: the blocking loop that reads only when corosync says TRY_AGAIN
/// (as the C program does), the blocking loop paced as the async adapter
/// paces its sends (`throughput-window`), the blocking loop reading
/// whenever its descriptor is readable, the async one, and the async one
/// with a send window of [`BIG_WINDOW`]. The programs run on the first of
/// `nodes`; corosync's CPU time is that of every node's daemon.
fn async_table(
    nodes: &[Node],
    rust: &str,
    rounds: usize,
    scale: f64,
    record: &mut Record,
) -> Result<(), String> {
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
        for (which, name) in ASYNC_PROGRAMS.iter().enumerate() {
            for key in [
                "msgs_per_s",
                "cpu_us_per_msg",
                "daemon_us_per_msg",
                "outq_per_msg",
                "tokens_per_msg",
            ] {
                record.row("async", nodes.len(), name, size, key, med(which, key))?;
            }
        }
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

#[cfg(test)]
mod tests {
    use super::callback_cost;

    /// `callgrind_annotate --inclusive=yes --threshold=100 --tree=calling`
    /// on a profile of `cpg_bench throughput 64 12000` (lines cut short).
    const ANNOTATED: &str = "\
 7,082,482 (37.76%)  *  ???:corosync::callback::CallbackCell<F>::dispatch_mode [/t/release/examples/cpg_bench]
 7,082,242 (37.76%)  >   ???:cpg_dispatch (3x) [/usr/lib/x86_64-linux-gnu/libcpg.so.4.1.0]

 7,082,242 (37.76%)  *  ???:cpg_dispatch [/usr/lib/x86_64-linux-gnu/libcpg.so.4.1.0]
 5,172,891 (27.58%)  >   ???:qb_ipcc_event_recv (12,004x) [/usr/lib/x86_64-linux-gnu/libqb.so.100.3.0]
   912,000 ( 4.86%)  >   ???:corosync::cpg::deliver_trampoline (12,000x) [/t/release/examples/cpg_bench]
    60,041 ( 0.32%)  >   ???:qb_to_cs_error (12,004x) [/usr/lib/x86_64-linux-gnu/libcorosync_common.so.4.0.0]
       111 ( 0.00%)  >   ???:corosync::cpg::confchg_trampoline (1x) [/t/release/examples/cpg_bench]

   912,000 ( 4.86%)  *  ???:corosync::cpg::deliver_trampoline [/t/release/examples/cpg_bench]
   144,005 ( 0.77%)  >   ???:cpg_bench::main::{{closure}} (12,000x) [/t/release/examples/cpg_bench]
";

    #[test]
    fn the_callback_cost_is_that_of_the_programs_callees_of_cpg_dispatch_named_like_the_symbol() {
        let program = "/elsewhere/cpg_bench";
        assert_eq!(
            callback_cost(ANNOTATED, program, "deliver"),
            Ok((912_000.0, 12_000))
        );
        assert_eq!(
            callback_cost(ANNOTATED, program, "trampoline"),
            Ok((912_111.0, 12_001))
        );
    }

    #[test]
    fn a_symbol_that_matches_no_callee_fails_and_names_the_callees() {
        let err = callback_cost(ANNOTATED, "cpg_bench", "on_message").unwrap_err();
        assert!(
            err.contains("corosync::cpg::deliver_trampoline")
                && err.contains("corosync::cpg::confchg_trampoline")
                && !err.contains("qb_ipcc_event_recv"),
            "{err}"
        );
        let err = callback_cost(ANNOTATED, "cpg_bench_async", "deliver").unwrap_err();
        assert!(err.contains("no call from cpg_dispatch"), "{err}");
    }
}
