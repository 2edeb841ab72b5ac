//! The Rust `cmapctl` example and corosync's `corosync-cmapctl`, run against
//! the same live daemon, print the same thing and exit the same way, and
//! leave the map the same when they write.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use corosync_tests::{example_binary, Cluster, Node};

const C_TOOL: &str = "corosync-cmapctl";

fn command(node: &Node, program: &str) -> Command {
    let mut cmd = node.command(program).unwrap();
    cmd.arg0(C_TOOL);
    cmd
}

fn run(node: &Node, program: &str, args: &[&str]) -> Output {
    command(node, program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn assert_same(what: &str, want: &Output, got: &Output) {
    assert_eq!(
        got.status.code(),
        want.status.code(),
        "exit status of {what}: C stderr {:?}, ours {:?}",
        String::from_utf8_lossy(&want.stderr),
        String::from_utf8_lossy(&got.stderr)
    );
    assert!(
        got.stdout == want.stdout,
        "output of {what}:\n--- C\n{}\n--- ours\n{}",
        String::from_utf8_lossy(&want.stdout),
        String::from_utf8_lossy(&got.stdout)
    );
}

fn compare(node: &Node, ours: &str, cases: &[&[&str]]) {
    for args in cases {
        let (want, got) = (run(node, C_TOOL, args), run(node, ours, args));
        assert_same(&format!("{args:?}"), &want, &got);
    }
}

/// Runs a write with each tool on its own key prefix (`test.c.` for C,
/// `test.r.` for ours), then requires the same outcome and the same keys.
fn compare_writes(node: &Node, ours: &str, cases: &[Vec<String>]) {
    for case in cases {
        let with = |prefix: &str| -> Vec<String> {
            case.iter().map(|a| a.replace("test.X.", prefix)).collect()
        };
        let (c_args, r_args) = (with("test.c."), with("test.r."));
        let c_refs: Vec<&str> = c_args.iter().map(String::as_str).collect();
        let r_refs: Vec<&str> = r_args.iter().map(String::as_str).collect();
        let (mut want, got) = (run(node, C_TOOL, &c_refs), run(node, ours, &r_refs));
        want.stdout = String::from_utf8_lossy(&want.stdout)
            .replace("test.c.", "test.r.")
            .into_bytes();
        assert_same(&format!("{case:?}"), &want, &got);
        let c_keys = run(node, C_TOOL, &["-b", "test.c."]);
        let r_keys = run(node, C_TOOL, &["-b", "test.r."]);
        let normalize =
            |o: &Output| String::from_utf8_lossy(&o.stdout).replace("test.c.", "test.r.");
        assert_eq!(
            normalize(&c_keys),
            normalize(&r_keys),
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
    let ours = example_binary("cmapctl").unwrap();
    let ours = ours.to_str().unwrap();

    // Values with unprintable bytes, for -b.
    let bin_file = cluster.dir().join("binary-value");
    std::fs::write(&bin_file, b"a\0b\x01\x7f\x80\xff\\end").unwrap();
    let bin = bin_file.to_str().unwrap();
    assert!(run(node, C_TOOL, &["-s", "fixture.bin", "bin", bin])
        .status
        .success());
    assert!(run(
        node,
        C_TOOL,
        &["-s", "fixture.str", "str", "a string with spaces"]
    )
    .status
    .success());
    assert!(run(node, C_TOOL, &["-s", "fixture.flt", "flt", "3.25"])
        .status
        .success());
    assert!(
        run(node, C_TOOL, &["-s", "--", "fixture.dbl", "dbl", "-1e10"])
            .status
            .success()
    );
    assert!(run(node, C_TOOL, &["-s", "fixture.inf", "dbl", "inf"])
        .status
        .success());
    assert!(run(
        node,
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
        &["-x"],
        &["-m", "nosuchmap"],
        &["-C", "nosuch"],
        &["-m", "stats", "no.such.prefix"],
        &["-p", "/nonexistent/file"],
    ];
    compare(node, ours, read_cases);
    // Listing everything: the same keys (values of runtime counters may
    // move between the two runs, so compare the key names and types).
    let keys = |program: &str| -> Vec<String> {
        String::from_utf8_lossy(&run(node, program, &[]).stdout)
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
    compare_writes(node, ours, &writes);

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
    compare_writes(node, ours, &[args(&["-p", &file("test.X.")])]);
    let broken = cluster.dir().join("broken-settings");
    std::fs::write(&broken, "test.c.file.x u8\n").unwrap();
    compare(node, ours, &[&["-p", broken.to_str().unwrap()]]);

    // -C clears the statistics: both succeed.
    compare(node, ours, &[&["-C", "all"], &["-C", "ipc"]]);
}

#[test]
fn tracking_prints_the_same_events() {
    let cluster = Cluster::single().expect("cluster");
    let node = cluster.node(0);
    let ours = example_binary("cmapctl").unwrap();
    let start = |program: &str, args: &[&str]| {
        command(node, program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    };
    for flags in [&["-T", "track."][..], &["-b", "-t", "track.one"][..]] {
        let mut c = start(C_TOOL, flags);
        let mut r = start(ours.to_str().unwrap(), flags);
        std::thread::sleep(Duration::from_millis(500));
        for change in [
            &["-s", "track.one", "u32", "1"][..],
            &["-s", "track.one", "u32", "2"],
            &["-s", "track.two", "str", "text"],
            &["-s", "track.one", "bin", "/etc/hostname"],
            &["-d", "track.one"],
            &["-d", "track.two"],
        ] {
            assert!(run(node, C_TOOL, change).status.success());
        }
        std::thread::sleep(Duration::from_millis(500));
        let mut outputs = Vec::new();
        for child in [&mut c, &mut r] {
            child.stdin.as_mut().unwrap().write_all(b"q\n").unwrap();
        }
        for child in [c, r] {
            outputs.push(child.wait_with_output().unwrap());
        }
        assert_same(&format!("tracking {flags:?}"), &outputs[0], &outputs[1]);
        let text = String::from_utf8_lossy(&outputs[0].stdout);
        assert!(
            text.contains("create> track.one (u32) = 1") && text.contains("delete> track.one"),
            "{text}"
        );
    }
}
