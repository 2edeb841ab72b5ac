//! Runs the build of corosync-sys (cargo, in a target folder of its own)
//! against corosync installs made up in temporary folders: `.pc` files on
//! `PKG_CONFIG_PATH` and copies of the installed headers, some changed. The
//! build refuses corosync 2.x naming the version found, refuses headers the
//! committed bindings do not fit naming the `bindgen` feature, and takes its
//! cfg flags from the headers it finds.

#[path = "../build/declarations.rs"]
#[allow(dead_code)]
mod declarations;

use std::path::{Path, PathBuf};
use std::process::Command;

use declarations::{Origin, Record};

/// A made-up corosync install: `pc/` for pkg-config, `include/corosync/`.
struct FakeInstall {
    root: PathBuf,
}

impl FakeInstall {
    /// An empty install in a fresh folder named after the test.
    fn new(name: &str) -> FakeInstall {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("corosync-sys-build-script")
            .join(name);
        if root.exists() {
            std::fs::remove_dir_all(&root).expect("remove the last run's folder");
        }
        std::fs::create_dir_all(root.join("pc")).expect("create pc/");
        std::fs::create_dir_all(root.join("include/corosync")).expect("create include/");
        FakeInstall { root }
    }

    /// A `.pc` file for `pkg` at `version`, whose headers are in this
    /// install's `include/`.
    fn package(&self, pkg: &str, version: &str) -> &Self {
        let lib = pkg.strip_prefix("lib").expect("a lib* package");
        let text = format!(
            "includedir={include}\n\
             Name: {pkg}\n\
             Version: {version}\n\
             Description: made up by corosync-sys's tests\n\
             Libs: -l{lib}\n\
             Cflags: -I${{includedir}}\n",
            include = self.root.join("include").display(),
        );
        std::fs::write(self.root.join("pc").join(format!("{pkg}.pc")), text).expect("write .pc");
        self
    }

    /// A header: the installed one with `from` replaced by `to` (once), or
    /// as it is when both are empty.
    fn header(&self, name: &str, from: &str, to: &str) -> &Self {
        let installed = Path::new(env!("COROSYNC_SYS_HEADER_DIR")).join(name);
        let text = std::fs::read_to_string(&installed).expect("read the installed header");
        assert!(text.contains(from), "{name} has {from:?}");
        std::fs::write(self.header_dir().join(name), text.replacen(from, to, 1))
            .expect("write the header");
        self
    }

    fn header_dir(&self) -> PathBuf {
        self.root.join("include/corosync")
    }

    /// Builds corosync-sys with these features against this install.
    fn build(&self, features: &str) -> Build {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("workspace");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let output = Command::new(cargo)
            .current_dir(workspace)
            .args([
                "build",
                "--offline",
                "--message-format=json",
                "-p",
                "corosync-sys",
            ])
            .args(["--no-default-features", "--features", features])
            .env(
                "CARGO_TARGET_DIR",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("corosync-sys-build-script-target"),
            )
            .env("PKG_CONFIG_PATH", self.root.join("pc"))
            .env_remove("DOCS_RS")
            .output()
            .expect("run cargo");
        Build {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

struct Build {
    success: bool,
    stdout: String,
    stderr: String,
}

impl Build {
    /// The line cargo printed when corosync-sys's build script had run.
    fn script_output(&self) -> &str {
        self.stdout
            .lines()
            .find(|l| {
                l.contains("\"reason\":\"build-script-executed\"") && l.contains("/corosync-sys#")
            })
            .unwrap_or_else(|| panic!("no build script output in:\n{}", self.stdout))
    }
}

#[test]
fn corosync_2_is_refused_naming_the_version_found_and_the_minimum() {
    let install = FakeInstall::new("corosync-2");
    install
        .package("libcorosync_common", "2.4.6")
        .package("libcpg", "2.4.6")
        .header("corotypes.h", "", "")
        .header("cpg.h", "", "");
    let build = install.build("cpg");
    assert!(!build.success, "the build accepted corosync 2.4.6");
    assert!(
        build
            .stderr
            .contains("corosync-sys: found libcpg 2.4.6, needs 3.0 or newer"),
        "{}",
        build.stderr
    );
    assert!(
        !build.stderr.contains("not found"),
        "a library was reported missing: {}",
        build.stderr
    );
}

#[test]
fn headers_the_committed_bindings_do_not_fit_are_refused_naming_the_bindgen_feature() {
    let install = FakeInstall::new("wider-pid");
    install
        .package("libcorosync_common", "3.1.7")
        .package("libcpg", "3.1.7")
        .header("corotypes.h", "", "")
        .header("cpg.h", "uint32_t pid;", "uint64_t pid;");
    let build = install.build("cpg");
    assert!(!build.success, "the build used bindings that do not fit");
    for needle in [
        "cpg.h: struct cpg_address",
        "uint64_t pid ;",
        "Turn on the `bindgen` feature of corosync-sys",
        "features = [\"bindgen\"]",
    ] {
        assert!(
            build.stderr.contains(needle),
            "no {needle:?} in {}",
            build.stderr
        );
    }
}

#[test]
fn headers_that_fit_are_read_from_where_pkg_config_says() {
    let install = FakeInstall::new("fits");
    install
        .package("libcorosync_common", "3.1.7")
        .package("libcpg", "3.1.7")
        .header("corotypes.h", "", "")
        .header("cpg.h", "", "");
    let build = install.build("cpg");
    assert!(build.success, "{}", build.stderr);
    let output = build.script_output();
    let header_dir = format!(
        "[\"COROSYNC_SYS_HEADER_DIR\",\"{}\"]",
        install.header_dir().display()
    );
    assert!(output.contains(&header_dir), "{output}");
    assert!(!output.contains("corosync_has_"), "{output}");
}

/// Headers with the newer releases' functions (the installed ones plus the
/// record's newer declarations) turn their flags on, and corosync-sys
/// builds with those functions declared.
#[test]
fn newer_headers_turn_on_the_flags_of_their_functions() {
    let record = Record::parse(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/pregenerated/declarations.txt"
        ))
        .expect("read declarations.txt"),
    )
    .expect("declarations.txt reads");
    let section = &record.headers["votequorum.h"];
    let newer: Vec<(&String, &Vec<String>)> = section
        .iter()
        .filter(|(_, (origin, _))| *origin == Origin::Newer)
        .map(|(name, (_, texts))| (name, texts))
        .collect();
    // Enum constants go back into their enum.
    let mut additions = String::new();
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
                additions.push_str(&text.replacen(
                    "{ }",
                    &format!("{{ {} }}", constants.join(" ")),
                    1,
                ));
            } else {
                additions.push_str(text);
            }
            additions.push('\n');
        }
    }
    assert!(
        additions.contains("votequorum_model_initialize"),
        "{additions}"
    );

    let install = FakeInstall::new("newer");
    install
        .package("libcorosync_common", "3.1.11")
        .package("libvotequorum", "3.1.11")
        .header("corotypes.h", "", "")
        .header(
            "votequorum.h",
            "#ifdef __cplusplus\n}",
            &format!("{additions}#ifdef __cplusplus\n}}"),
        );
    let build = install.build("votequorum");
    assert!(build.success, "{}", build.stderr);
    let output = build.script_output();
    for name in [
        "votequorum_model_initialize",
        "votequorum_get_qdevice_extra_info",
        "votequorum_set_qdevice_extra_info",
    ] {
        assert!(
            output.contains(&format!("\"corosync_has_{name}\"")),
            "{name}'s flag is off: {output}"
        );
    }
}
