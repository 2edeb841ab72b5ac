//! The safe crate with the functions only corosync releases newer than the
//! installed one have (their `corosync_has_*` flags on): built against a
//! made-up install, in a target folder of its own, whose headers are the
//! installed ones with `votequorum.h` extended by the newer declarations
//! the committed bindings were generated from (corosync after 3.1.10:
//! `votequorum_model_initialize`, the qdevice extra info).
//!
//! `cargo clippy -D warnings` on every target with every feature, then the
//! unit tests of the library (with those only the flags compile in).
//! Nothing here calls the newer functions: the installed libvotequorum
//! lacks them, so no program that calls them links here. The build with the flags off is the normal build on corosync 3.1.7
//! (and `COROSYNC_RS_ONLY_3_0_API` in `.ci/run`, on any corosync).

#[path = "../../corosync-sys/build/declarations.rs"]
#[allow(dead_code)]
mod declarations;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use corosync_tests::bounded::{output, COMMAND_WAIT};
use declarations::{Origin, Record};

/// How long one nested cargo run may take on a loaded 2-core machine.
const BUILD_WAIT: std::time::Duration = std::time::Duration::from_secs(20 * 60);

/// The pkg-config packages of the made-up install and their headers.
const PACKAGES: &[(&str, &str)] = &[
    ("libcorosync_common", "corotypes.h"),
    ("libcpg", "cpg.h"),
    ("libquorum", "quorum.h"),
    ("libvotequorum", "votequorum.h"),
    ("libcmap", "cmap.h"),
    ("libcfg", "cfg.h"),
    ("libsam", "sam.h"),
];

/// The flags the newer `votequorum.h` turns on.
const NEWER_FLAGS: &[&str] = &[
    "corosync_has_votequorum_model_initialize",
    "corosync_has_votequorum_get_qdevice_extra_info",
    "corosync_has_votequorum_set_qdevice_extra_info",
];

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
}

/// The folder of the installed corosync headers.
fn installed_headers() -> PathBuf {
    let out = output(
        Command::new("pkg-config").args(["--variable=includedir", "libcorosync_common"]),
        COMMAND_WAIT,
    )
    .expect("run pkg-config");
    assert!(out.status.success(), "pkg-config: {out:?}");
    let dir = String::from_utf8(out.stdout).expect("a UTF-8 path");
    PathBuf::from(dir.trim()).join("corosync")
}

/// The newer releases' `votequorum.h` declarations, as C text: the
/// record's normalized declarations, enum constants back in their enum.
fn newer_votequorum_declarations() -> String {
    let path = workspace().join("corosync-sys/src/pregenerated/declarations.txt");
    let text = std::fs::read_to_string(&path).expect("read declarations.txt");
    let record = Record::parse(&text).expect("declarations.txt reads");
    let newer: Vec<(&String, &Vec<String>)> = record.headers["votequorum.h"]
        .iter()
        .filter(|(_, (origin, _))| *origin == Origin::Newer)
        .map(|(name, (_, texts))| (name, texts))
        .collect();
    let mut out = String::new();
    for (name, texts) in &newer {
        for text in *texts {
            if text.contains(" :: ") {
                continue;
            }
            if text.starts_with("typedef enum { }") {
                let constants: Vec<String> = newer
                    .iter()
                    .flat_map(|(_, t)| t.iter())
                    .filter_map(|t| t.strip_prefix(&format!("{name} :: ")))
                    .map(|c| format!("{c} ,"))
                    .collect();
                out.push_str(&text.replacen("{ }", &format!("{{ {} }}", constants.join(" ")), 1));
            } else {
                out.push_str(text);
            }
            out.push('\n');
        }
    }
    out
}

/// A made-up install of a newer corosync under `root`: `pc/` for
/// pkg-config and `include/corosync/`.
fn newer_install(root: &Path) {
    if root.exists() {
        std::fs::remove_dir_all(root).expect("remove the last run's install");
    }
    let include = root.join("include");
    std::fs::create_dir_all(root.join("pc")).expect("create pc/");
    std::fs::create_dir_all(include.join("corosync")).expect("create include/corosync/");
    let additions = newer_votequorum_declarations();
    assert!(
        additions.contains("votequorum_model_initialize")
            && additions.contains("votequorum_set_qdevice_extra_info"),
        "{additions}"
    );
    for (pkg, header) in PACKAGES {
        let mut text = std::fs::read_to_string(installed_headers().join(header))
            .unwrap_or_else(|e| panic!("read the installed {header}: {e}"));
        if *header == "votequorum.h" {
            let end = "#ifdef __cplusplus\n}";
            assert!(text.contains(end), "votequorum.h has {end:?}");
            text = text.replacen(end, &format!("{additions}{end}"), 1);
        }
        std::fs::write(include.join("corosync").join(header), text).expect("write a header");
        let lib = pkg.strip_prefix("lib").expect("a lib* package");
        let pc = format!(
            "includedir={}\nName: {pkg}\nVersion: 3.1.11\n\
             Description: made up by corosync-tests\nLibs: -l{lib}\nCflags: -I${{includedir}}\n",
            include.display()
        );
        std::fs::write(root.join("pc").join(format!("{pkg}.pc")), pc).expect("write a .pc");
    }
}

/// `cargo ARGS` in the workspace against the install under `root`.
fn cargo(root: &Path, args: &[&str]) -> Output {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace())
        .args(args)
        .env(
            "CARGO_TARGET_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("newer-corosync-target"),
        )
        .env("PKG_CONFIG_PATH", root.join("pc"))
        .env_remove("DOCS_RS")
        .env_remove("COROSYNC_RS_ONLY_3_0_API");
    // A build from scratch of the safe crate and its dependencies.
    output(&mut command, BUILD_WAIT).expect("run cargo")
}

/// The cfg flags the safe crate's build script set, from cargo's JSON
/// messages.
fn corosync_cfgs(stdout: &str) -> &str {
    stdout
        .lines()
        .find(|l| l.contains("\"reason\":\"build-script-executed\"") && l.contains("/corosync#"))
        .unwrap_or_else(|| panic!("no build script output of corosync in:\n{stdout}"))
}

#[test]
fn the_safe_crate_builds_lint_free_and_passes_its_unit_tests_with_newer_corosync_functions() {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("newer-corosync");
    newer_install(&root);
    let clippy = cargo(
        &root,
        &[
            "clippy",
            "--offline",
            // (Diagnostics as text on stderr, the rest as JSON.)
            "--message-format=json-render-diagnostics",
            "-p",
            "corosync",
            "--all-features",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    );
    let stdout = String::from_utf8_lossy(&clippy.stdout);
    assert!(
        clippy.status.success(),
        "clippy with the newer functions failed:\n{}",
        String::from_utf8_lossy(&clippy.stderr)
    );
    let cfgs = corosync_cfgs(&stdout);
    for flag in NEWER_FLAGS {
        assert!(
            cfgs.contains(&format!("\"{flag}\"")),
            "{flag} is off: {cfgs}"
        );
    }

    // The unit tests call none of the newer functions, so they link
    // against the installed libraries; those the flags add run too.
    let unit = cargo(
        &root,
        &[
            "test",
            "--offline",
            "-p",
            "corosync",
            "--all-features",
            "--lib",
        ],
    );
    let report = String::from_utf8_lossy(&unit.stdout);
    assert!(
        unit.status.success(),
        "the unit tests with the newer functions failed:\n{report}\n{}",
        String::from_utf8_lossy(&unit.stderr)
    );
    let gated = "test votequorum::tests::extra_info_constants_match_votequorum_h ... ok";
    assert!(report.contains(gated), "no {gated:?} in:\n{report}");
}
