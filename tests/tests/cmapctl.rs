//! The Rust `cmapctl` (corosync-tools) and corosync's `corosync-cmapctl`,
//! run against the same live daemon, print the same thing and exit the
//! same way, and leave the map the same when they write.

use std::process::Stdio;

use corosync_tests::parity::{Running, ToolPair, TOOL_LIMIT};
use corosync_tests::{Cluster, Node};

const C_TOOL: &str = "corosync-cmapctl";

/// `text` with every `from` replaced by `to`, byte for byte.
fn replaced(text: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        if rest.starts_with(from) {
            out.extend_from_slice(to);
            rest = &rest[from.len()..];
        } else {
            out.push(rest[0]);
            rest = &rest[1..];
        }
    }
    out
}

/// Runs a write with each tool on its own key prefix (`test.c.` for C,
/// `test.r.` for ours), then requires the same outcome and the same keys.
/// The C tool's output is compared with its prefix renamed to ours, on
/// both streams (the keys it names are the ones it was given).
fn compare_writes(node: &Node, tools: &ToolPair, cases: &[Vec<String>]) {
    let run = |program: &str, args: &[&str]| tools.run(node, program, args);
    for case in cases {
        let with = |prefix: &str| -> Vec<String> {
            case.iter().map(|a| a.replace("test.X.", prefix)).collect()
        };
        let (c_args, r_args) = (with("test.c."), with("test.r."));
        let c_refs: Vec<&str> = c_args.iter().map(String::as_str).collect();
        let r_refs: Vec<&str> = r_args.iter().map(String::as_str).collect();
        let (mut want, got) = (run(C_TOOL, &c_refs), run(tools.ours(), &r_refs));
        want.stdout = replaced(&want.stdout, b"test.c.", b"test.r.");
        want.stderr = replaced(&want.stderr, b"test.c.", b"test.r.");
        tools.assert_same(&format!("{case:?}"), &want, &got);
        let c_keys = run(C_TOOL, &["-b", "test.c."]);
        let r_keys = run(C_TOOL, &["-b", "test.r."]);
        assert!(c_keys.stderr.is_empty() && r_keys.stderr.is_empty());
        assert_eq!(
            String::from_utf8_lossy(&replaced(&c_keys.stdout, b"test.c.", b"test.r.")),
            String::from_utf8_lossy(&r_keys.stdout),
            "the map after {case:?}"
        );
    }
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn cmapctl_matches_corosync_cmapctl() {
    let cluster = Cluster::single().expect("cluster");
    let node = cluster.node(0);
    let tools = ToolPair::new(C_TOOL, "cmapctl").unwrap();
    let ours = tools.ours();
    let run = |program: &str, args: &[&str]| tools.run(node, program, args);

    // Values with unprintable bytes, for -b.
    let bin_file = cluster.dir().join("binary-value");
    std::fs::write(&bin_file, b"a\0b\x01\x7f\x80\xff\\end").unwrap();
    let bin = bin_file.to_str().unwrap();
    assert!(run(C_TOOL, &["-s", "fixture.bin", "bin", bin])
        .status
        .success());
    assert!(run(
        C_TOOL,
        &["-s", "fixture.str", "str", "a string with spaces"]
    )
    .status
    .success());
    assert!(run(C_TOOL, &["-s", "fixture.flt", "flt", "3.25"])
        .status
        .success());
    assert!(run(C_TOOL, &["-s", "--", "fixture.dbl", "dbl", "-1e10"])
        .status
        .success());
    assert!(run(C_TOOL, &["-s", "fixture.inf", "dbl", "inf"])
        .status
        .success());
    assert!(run(
        C_TOOL,
        &["-s", "--", "fixture.i64", "i64", "-9223372036854775808"]
    )
    .status
    .success());

    let read_cases: &[&[&str]] = &[
        &["totem."],
        &["nodelist."],
        &["runtime.votequorum."],
        &["fixture."],
        &["-b", "fixture."],
        &["-b", "-q", "fixture."],
        &["no.such.prefix"],
        &["totem.", "no.such.prefix"],
        &["no.such", "no.such.either"],
        &["-g", "totem.token"],
        &["-g", "totem.cluster_name", "totem.token"],
        &["-q", "-g", "totem.cluster_name"],
        &["-g", "fixture.bin"],
        &["-b", "-g", "fixture.bin"],
        &["-bq", "-g", "fixture.bin"],
        &["-g", "fixture.inf"],
        &["-g", "no.such.key"],
        &["-g"],
        &["-d"],
        &["-t"],
        &["-s", "only.key"],
        &["-h"],
        &["-h", "-x"],
        &["-x"],
        &["-x", "-y"],
        &["-b", "-z", "-h"],
        &["--help"],
        &["-m"],
        &["-p"],
        &["-C"],
        &["-m", "nosuchmap"],
        &["-C", "nosuch"],
        &["-m", "stats", "no.such.prefix"],
        &["-p", "/nonexistent/file"],
    ];
    tools.assert_all_same_on(node, read_cases);
    // Keys longer than corosync takes: refused by the bindings before
    // corosync sees them, reported as corosync refuses them.
    let long = "k".repeat(300);
    let long_cases: &[&[&str]] = &[
        &["-g", &long],
        &["-d", &long],
        &["-D", &long],
        &[&long],
        &["-t", &long],
        &["-s", &long, "u8", "1"],
        &["-g", "no such key"],
        &["-g", ""],
    ];
    tools.assert_all_same_on(node, long_cases);
    // Listing everything: the same keys (values of runtime counters may
    // move between the two runs, so compare the key names and types).
    let keys = |program: &str| -> Vec<String> {
        String::from_utf8_lossy(&run(program, &[]).stdout)
            .lines()
            .map(|l| l.split(" = ").next().unwrap_or_default().to_string())
            .collect()
    };
    let (c_keys, r_keys) = (keys(C_TOOL), keys(ours));
    assert!(c_keys.len() > 50, "{c_keys:?}");
    assert_eq!(c_keys, r_keys);

    let writes = [
        args(&["-s", "test.X.i8", "i8", "-128"]),
        args(&["-s", "test.X.u8", "u8", "255"]),
        args(&["-s", "test.X.i16", "i16", " -300"]),
        args(&["-s", "test.X.u16", "u16", "+65535"]),
        args(&["-s", "test.X.i32", "i32", "-2147483648"]),
        args(&["-s", "test.X.u32", "u32", "4294967295"]),
        args(&["-s", "test.X.i64", "i64", "12abc"]),
        args(&["-s", "--", "test.X.u64", "u64", "-1"]),
        args(&["-s", "test.X.opt", "u8", "-1"]),
        args(&["test.X.", "-b"]),
        args(&["-s", "test.X.flt", "flt", "1.5e3"]),
        args(&["-s", "test.X.dbl", "dbl", "0x1p-3"]),
        args(&["-s", "test.X.nan", "dbl", "nan"]),
        args(&["-s", "test.X.str", "str", "hello world"]),
        args(&["-s", "test.X.empty", "str", ""]),
        args(&["-s", "test.X.bin", "bin", bin]),
        args(&["-s", "test.X.u8", "u8", "256"]),
        args(&["-s", "test.X.i8", "i8", "abc"]),
        args(&["-s", "test.X.i8", "x8", "1"]),
        args(&["-s", "test.X.bad key", "u8", "1"]),
        args(&["-s", "test.X.bin", "bin", "/nonexistent/file"]),
        args(&["-s", "test.X.big", "str", &"x".repeat(20_000)]),
        args(&["-d", "test.X.u8"]),
        args(&["-d", "test.X.u8"]),
        args(&["-D", "test.X.i"]),
    ];
    compare_writes(node, &tools, &writes);

    // -p: a settings file with sets, deletions by key and by prefix.
    for prefix in ["test.c.", "test.r."] {
        let text = "# a comment\n\n   \
                    P.one u32 1\n\
                    \tP.two str some\n\
                    P.gone.a u8 1\n\
                    P.gone.b u8 2\n\
                    P.three flt 2.5\n\
                    ^P.one\n\
                    ^^P.gone.\n"
            .replace("P.", &format!("{prefix}file."));
        std::fs::write(cluster.dir().join(format!("{prefix}settings")), text).unwrap();
    }
    let file = |prefix: &str| {
        cluster
            .dir()
            .join(format!("{prefix}settings"))
            .to_str()
            .unwrap()
            .to_string()
    };
    compare_writes(node, &tools, &[args(&["-p", &file("test.X.")])]);
    let broken = cluster.dir().join("broken-settings");
    std::fs::write(&broken, "test.c.file.x u8\n").unwrap();
    tools.assert_all_same_on(node, &[&["-p", broken.to_str().unwrap()]]);

    // -C clears the statistics: both succeed.
    tools.assert_all_same_on(node, &[&["-C", "all"], &["-C", "ipc"]]);
}

#[test]
fn tracking_prints_the_same_events() {
    let cluster = Cluster::single().expect("cluster");
    let node = cluster.node(0);
    let tools = ToolPair::new(C_TOOL, "cmapctl").unwrap();
    // Each case: the options, and the start of the last line it prints.
    let cases: [(&[&str], &[u8]); 2] = [
        (&["-T", "track."], b"delete> track.two "),
        (&["-b", "-t", "track.one"], b"delete> track.one "),
    ];
    for (flags, last_line) in cases {
        // The C tool writes through stdio, fully buffered into a pipe:
        // stdbuf makes it line-buffered, so that its lines can be awaited.
        let mut c_cmd = node.command("stdbuf").unwrap();
        c_cmd
            .args(["-oL", C_TOOL])
            .args(flags)
            .stdin(Stdio::piped());
        let mut c = Running::spawn(&mut c_cmd, format!("{C_TOOL} {flags:?}"));
        let mut r = tools.start(node, tools.ours(), flags);
        // Both print this line once their tracks are in place.
        for tool in [&mut c, &mut r] {
            tool.wait_for_line("saying how to finish", TOOL_LIMIT, |l| {
                l == b"Type \"q\" to finish\n"
            });
        }
        for change in [
            &["-s", "track.one", "u32", "1"][..],
            &["-s", "track.one", "u32", "2"],
            &["-s", "track.two", "str", "text"],
            &["-s", "track.one", "bin", "/etc/hostname"],
            &["-d", "track.one"],
            &["-d", "track.two"],
        ] {
            let out = tools.run(node, C_TOOL, change);
            assert!(out.status.success(), "{change:?}: {out:?}");
        }
        // Events come in order: the last change's line comes last.
        for tool in [&mut c, &mut r] {
            tool.wait_for_line("for the last change", TOOL_LIMIT, |l| {
                l.starts_with(last_line)
            });
            tool.write_stdin(b"q\n");
        }
        let (c, r) = (c.finish(TOOL_LIMIT), r.finish(TOOL_LIMIT));
        tools.assert_same(&format!("tracking {flags:?}"), &c, &r);
        let text = String::from_utf8_lossy(&c.stdout);
        assert!(
            text.contains("create> track.one (u32) = 1") && text.contains("delete> track.one"),
            "{text}"
        );
    }
}
