//! Builds the plain C programs the tests compare the bindings with, using the
//! system C compiler (`$CC`, else `cc`) against the installed libcpg.

use std::env;
use std::path::PathBuf;
use std::process::Command;

/// (source, binary, pkg-config libraries)
const PROGRAMS: &[(&str, &str, &[&str])] = &[
    ("c/cpg_peer.c", "cpg_peer", &["libcpg"]),
    ("c/cpg_bench.c", "cpg_bench", &["libcpg"]),
    ("c/chaos_member.c", "chaos_member", &["libcpg"]),
];

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let cc = env::var("CC").unwrap_or_else(|_| "cc".to_string());
    println!("cargo::rerun-if-env-changed=CC");
    for (source, name, libs) in PROGRAMS {
        println!("cargo::rerun-if-changed={source}");
        let mut cmd = Command::new(&cc);
        cmd.args(["-O2", "-Wall", "-Wextra", "-Werror", "-o"])
            .arg(out.join(name))
            .arg(source);
        for lib in *libs {
            let probed = pkg_config::Config::new()
                .cargo_metadata(false)
                .probe(lib)
                .unwrap_or_else(|e| panic!("pkg-config {lib}: {e} (run scripts/setup.sh)"));
            for dir in &probed.include_paths {
                cmd.arg(format!("-I{}", dir.display()));
            }
            for dir in &probed.link_paths {
                cmd.arg(format!("-L{}", dir.display()));
            }
            for l in &probed.libs {
                cmd.arg(format!("-l{l}"));
            }
        }
        let status = cmd
            .status()
            .unwrap_or_else(|e| panic!("cannot run the C compiler {cc}: {e}"));
        assert!(status.success(), "compiling {source} failed");
        println!(
            "cargo::rustc-env=C_{}={}",
            name.to_ascii_uppercase(),
            out.join(name).display()
        );
    }
}
