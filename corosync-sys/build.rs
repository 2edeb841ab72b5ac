//! Build script of corosync-sys.
//!
//! Normal builds probe every enabled service with pkg-config (which also
//! supplies libqb's include path and the link flags) and run bindgen over
//! `wrapper.h` against the installed headers, so the bindings always match
//! the corosync on the machine.
//!
//! With `DOCS_RS` set nothing is probed, linked or generated: the committed
//! bindings in `src/pregenerated/` (made from the corosync 3.1.7 headers by
//! `scripts/regen-bindings.sh`) are used instead.
//!
//! Either way the script reports which version-dependent functions the
//! bindings contain, as `corosync_has_<function>` cfg flags for this crate and
//! as `DEP_COROSYNC_HAS_<FUNCTION>` metadata for crates that depend on it;
//! `DEP_COROSYNC_OPTIONAL_FUNCTIONS` lists every function it looks for.

use std::env;
use std::fs;
use std::path::PathBuf;

/// The oldest corosync whose client libraries these bindings support.
const MIN_VERSION: &str = "3.0.0";

/// A client library: the cargo feature that enables it, its pkg-config
/// name, and the Debian package that ships its header and `.pc` file.
struct Service {
    feature: &'static str,
    pkg: &'static str,
    debian: &'static str,
}

const COMMON: Service = Service {
    feature: "",
    pkg: "libcorosync_common",
    debian: "libcorosync-common-dev",
};

const SERVICES: &[Service] = &[
    Service {
        feature: "cpg",
        pkg: "libcpg",
        debian: "libcpg-dev",
    },
    Service {
        feature: "quorum",
        pkg: "libquorum",
        debian: "libquorum-dev",
    },
    Service {
        feature: "votequorum",
        pkg: "libvotequorum",
        debian: "libvotequorum-dev",
    },
    Service {
        feature: "cmap",
        pkg: "libcmap",
        debian: "libcmap-dev",
    },
    Service {
        feature: "cfg",
        pkg: "libcfg",
        debian: "libcfg-dev",
    },
    Service {
        feature: "sam",
        pkg: "libsam",
        debian: "libsam-dev",
    },
];

/// Functions that only some corosync versions declare. Each one found in the
/// bindings becomes the cfg flag `corosync_has_<name>`.
const OPTIONAL_FUNCTIONS: &[&str] = &[
    // 3.1.0
    "quorum_model_initialize",
    // 3.1.1
    "corosync_cfg_node_status_get",
    "corosync_cfg_trackstart",
    "corosync_cfg_trackstop",
    // after 3.1.10
    "votequorum_model_initialize",
    "votequorum_get_qdevice_extra_info",
    "votequorum_set_qdevice_extra_info",
];

fn feature_enabled(feature: &str) -> bool {
    let var = format!("CARGO_FEATURE_{}", feature.to_ascii_uppercase());
    env::var_os(var).is_some()
}

fn main() {
    println!("cargo::rerun-if-changed=wrapper.h");
    println!("cargo::rerun-if-changed=src/pregenerated/bindings.rs");
    println!("cargo::rerun-if-env-changed=DOCS_RS");
    for name in OPTIONAL_FUNCTIONS {
        println!("cargo::rustc-check-cfg=cfg(corosync_has_{name})");
    }
    // The whole list, so dependents declare the same cfg names.
    println!(
        "cargo::metadata=optional_functions={}",
        OPTIONAL_FUNCTIONS.join(",")
    );

    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let bindings = if env::var_os("DOCS_RS").is_some() {
        fs::read_to_string("src/pregenerated/bindings.rs")
            .expect("src/pregenerated/bindings.rs is part of the package")
    } else {
        generate()
    };
    if env::var_os("DOCS_RS").is_some() {
        println!("cargo::rustc-env=COROSYNC_SYS_LIBRARY_VERSION=3.1.7");
    }
    let out_file = out_dir.join("bindings.rs");
    fs::write(&out_file, &bindings).expect("write bindings.rs to OUT_DIR");

    for name in OPTIONAL_FUNCTIONS {
        if declares_function(&bindings, name) {
            println!("cargo::rustc-cfg=corosync_has_{name}");
            println!("cargo::metadata=has_{name}=1");
        }
    }
}

/// Whether generated bindings declare `pub fn name(`.
fn declares_function(bindings: &str, name: &str) -> bool {
    bindings.contains(&format!("pub fn {name}("))
}

/// Probe, link and run bindgen. Returns the generated source.
fn generate() -> String {
    let mut include_paths: Vec<PathBuf> = Vec::new();
    let mut missing: Vec<String> = Vec::new();
    let mut clang_args: Vec<String> = Vec::new();
    let mut version = String::new();

    let enabled: Vec<&Service> = std::iter::once(&COMMON)
        .chain(SERVICES.iter().filter(|s| feature_enabled(s.feature)))
        .collect();
    for service in &enabled {
        match pkg_config::Config::new()
            .atleast_version(MIN_VERSION)
            .probe(service.pkg)
        {
            Ok(lib) => {
                include_paths.extend(lib.include_paths.iter().cloned());
                if service.pkg == COMMON.pkg {
                    version = lib.version.clone();
                }
            }
            Err(err) => missing.push(format!(
                "  - {pkg} (>= {MIN_VERSION}): install the Debian/Ubuntu package `{deb}` \
                 or the Fedora/RHEL package `corosynclib-devel`\n    ({err})",
                pkg = service.pkg,
                deb = service.debian,
                err = err.to_string().lines().next().unwrap_or_default(),
            )),
        }
        if !service.feature.is_empty() {
            clang_args.push(format!(
                "-DCOROSYNC_SYS_{}",
                service.feature.to_ascii_uppercase()
            ));
        }
    }
    if !missing.is_empty() {
        panic!(
            "\n\ncorosync-sys: these corosync client libraries were not found by pkg-config:\n{}\n\
             On Debian 12 all of them come with:\n  apt-get install libcorosync-common-dev \
             libcpg-dev libquorum-dev libvotequorum-dev libcmap-dev libcfg-dev libsam-dev\n\
             To build only some services, disable default features and enable those \
             (cpg, quorum, votequorum, cmap, cfg, sam).\n",
            missing.join("\n")
        );
    }
    println!("cargo::rustc-env=COROSYNC_SYS_LIBRARY_VERSION={version}");

    include_paths.sort();
    include_paths.dedup();
    // The headers themselves live in the default include path on most
    // systems, so pkg-config reports no -I for them; the tests need to know
    // where they are.
    let header_dir = header_dir(&include_paths);
    println!(
        "cargo::rustc-env=COROSYNC_SYS_HEADER_DIR={}",
        header_dir.display()
    );
    for path in &include_paths {
        clang_args.push(format!("-I{}", path.display()));
    }
    for header in [
        "corotypes.h",
        "cpg.h",
        "quorum.h",
        "votequorum.h",
        "cmap.h",
        "cfg.h",
        "sam.h",
    ] {
        println!(
            "cargo::rerun-if-changed={}",
            header_dir.join(header).display()
        );
    }

    let prefixes = "cs|cpg|quorum|votequorum|cmap|corosync_cfg|corosync_knet|sam";
    let builder = bindgen::Builder::default()
        .header("wrapper.h")
        .clang_args(&clang_args)
        .allowlist_function(format!("({prefixes}|qb_to_cs)_.*"))
        .allowlist_function("hdb_error_to_cs")
        .allowlist_type(format!("({prefixes})_.*"))
        .allowlist_var("(CS|CPG|QUORUM|VOTEQUORUM|CMAP|COROSYNC_CFG|CFG|SAM)_.*")
        // C enums stay integers: a value from a newer library must never be
        // an invalid Rust enum.
        .default_enum_style(bindgen::EnumVariation::Consts)
        .prepend_enum_name(false)
        .blocklist_type("iovec")
        .generate_comments(true)
        .clang_arg("-fretain-comments-from-system-headers")
        .derive_default(true)
        .derive_debug(true)
        .derive_copy(true)
        .layout_tests(true)
        .use_core()
        .rust_target(bindgen::RustTarget::stable(80, 0).expect("a known Rust version"))
        .formatter(bindgen::Formatter::Prettyplease);
    let bindings = builder.generate().expect(
        "bindgen failed on the corosync headers (is libclang installed? Debian: libclang-dev)",
    );
    let mut text = bindings.to_string();
    text.insert_str(
        0,
        "// Generated by bindgen from the corosync headers by corosync-sys/build.rs.\n",
    );
    text
}

/// The folder holding `corotypes.h`: under an include path pkg-config
/// reported, else under the `includedir` of libcorosync_common's `.pc` file.
fn header_dir(include_paths: &[PathBuf]) -> PathBuf {
    let includedir = pkg_config::get_variable(COMMON.pkg, "includedir")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("/usr/include"));
    include_paths
        .iter()
        .chain(std::iter::once(&includedir))
        .map(|p| p.join("corosync"))
        .find(|p| p.join("corotypes.h").is_file())
        .unwrap_or_else(|| includedir.join("corosync"))
}
