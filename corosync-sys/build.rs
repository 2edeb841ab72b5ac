//! Build script of corosync-sys.
//!
//! By default the bindings are the committed ones in `src/pregenerated/`,
//! generated ahead of time by bindgen (see `scripts/regen-bindings.sh`), and
//! this script only:
//! - probes every enabled service with pkg-config for the link flags and
//!   refuses a release older than 3.0, naming the version found;
//! - reads the installed headers of the enabled services as text and
//!   compares each declaration with the one the committed bindings were
//!   generated from (`src/pregenerated/declarations.txt`); a declaration
//!   both have must be equal token for token (comments and spacing aside),
//!   else the build stops and names the `bindgen` feature;
//! - sets a `corosync_has_<function>` cfg flag for each version-dependent
//!   function the installed headers declare.
//!
//! With the `bindgen` feature the bindings are generated here from the
//! installed headers instead (libclang needed), and no comparison is made.
//! With `DOCS_RS` set nothing is probed or linked: the committed bindings
//! are used with every version-dependent function present.
//!
//! The flags reach crates that depend on this one as `DEP_COROSYNC_HAS_*`
//! metadata; `DEP_COROSYNC_OPTIONAL_FUNCTIONS` lists every function looked
//! for.

// Shared with the tests and the bindings generator, which use all of them.
#[cfg(feature = "bindgen")]
#[path = "build/bindings.rs"]
#[allow(dead_code)]
mod bindings;
#[path = "build/declarations.rs"]
#[allow(dead_code)]
mod declarations;
#[path = "build/services.rs"]
#[allow(dead_code)]
mod services;

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

use services::{Service, COMMON, MIN_VERSION, OPTIONAL_FUNCTIONS, SERVICES};

/// The committed bindings, relative to the package.
const PREGENERATED: &str = "src/pregenerated";

fn feature_enabled(feature: &str) -> bool {
    let var = format!("CARGO_FEATURE_{}", feature.to_ascii_uppercase());
    env::var_os(var).is_some()
}

fn main() {
    println!("cargo::rerun-if-changed={PREGENERATED}");
    println!("cargo::rerun-if-env-changed=DOCS_RS");
    for f in OPTIONAL_FUNCTIONS {
        println!("cargo::rustc-check-cfg=cfg(corosync_has_{})", f.name);
    }
    // The whole list, so dependents declare the same cfg names.
    println!(
        "cargo::metadata=optional_functions={}",
        services::optional_names().join(",")
    );

    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let pregenerated = manifest_dir.join(PREGENERATED);
    let enabled: Vec<&Service> = std::iter::once(&COMMON)
        .chain(SERVICES.iter().filter(|s| feature_enabled(s.feature)))
        .collect();

    let (bindings_dir, present) = if env::var_os("DOCS_RS").is_some() {
        println!(
            "cargo::rustc-env=COROSYNC_SYS_LIBRARY_VERSION={}",
            services::PREGENERATED_RELEASE
        );
        let present: Vec<&str> = OPTIONAL_FUNCTIONS
            .iter()
            .filter(|f| enabled.iter().any(|s| s.header == f.header))
            .map(|f| f.name)
            .collect();
        (pregenerated, present)
    } else {
        let include_paths = probe(&enabled);
        let header_dir = header_dir(&include_paths);
        println!(
            "cargo::rustc-env=COROSYNC_SYS_HEADER_DIR={}",
            header_dir.display()
        );
        let headers: Vec<(&Service, String)> = enabled
            .iter()
            .map(|service| {
                let path = header_dir.join(service.header);
                println!("cargo::rerun-if-changed={}", path.display());
                let text = fs::read_to_string(&path).unwrap_or_else(|e| {
                    panic!(
                        "\n\ncorosync-sys: cannot read {} ({e}); pkg-config found {}, whose \
                         headers should be there (package `{}`)\n",
                        path.display(),
                        service.pkg,
                        service.debian
                    )
                });
                (*service, text)
            })
            .collect();
        let present: Vec<&str> = OPTIONAL_FUNCTIONS
            .iter()
            .filter(|f| {
                headers.iter().any(|(s, text)| {
                    s.header == f.header
                        && declarations::functions(text).iter().any(|n| n == f.name)
                })
            })
            .map(|f| f.name)
            .collect();
        #[cfg(feature = "bindgen")]
        let dir = generate(&enabled, &header_dir, &include_paths);
        #[cfg(not(feature = "bindgen"))]
        let dir = {
            check_headers(&headers, &header_dir, &pregenerated);
            pregenerated
        };
        (dir, present)
    };

    println!(
        "cargo::rustc-env=COROSYNC_SYS_BINDINGS_DIR={}",
        bindings_dir.display()
    );
    for name in present {
        println!("cargo::rustc-cfg=corosync_has_{name}");
        println!("cargo::metadata=has_{name}=1");
    }
}

/// Probes every enabled service with pkg-config (which prints the link
/// flags) and returns their include paths. Stops the build, naming what to
/// install, when a library is missing or older than [`MIN_VERSION`].
fn probe(enabled: &[&Service]) -> Vec<PathBuf> {
    let mut include_paths: Vec<PathBuf> = Vec::new();
    let mut too_old: Vec<String> = Vec::new();
    let mut missing: Vec<String> = Vec::new();
    let (major, minor) = MIN_VERSION;
    // The services first, so that the first complaint names the library the
    // program asked for.
    let order = enabled
        .iter()
        .filter(|s| !s.feature.is_empty())
        .chain(enabled.iter().filter(|s| s.feature.is_empty()));
    for service in order {
        match pkg_config::Config::new().probe(service.pkg) {
            Ok(lib) if services::supported_version(&lib.version) => {
                include_paths.extend(lib.include_paths.iter().cloned());
                if service.pkg == COMMON.pkg {
                    println!(
                        "cargo::rustc-env=COROSYNC_SYS_LIBRARY_VERSION={}",
                        lib.version
                    );
                }
            }
            Ok(lib) => too_old.push(format!(
                "corosync-sys: found {} {}, needs {major}.{minor} or newer",
                service.pkg, lib.version
            )),
            Err(err) => missing.push(format!(
                "  - {pkg}: install the Debian/Ubuntu package `{deb}` \
                 or the Fedora/RHEL package `corosynclib-devel`\n    ({err})",
                pkg = service.pkg,
                deb = service.debian,
                err = err.to_string().lines().next().unwrap_or_default(),
            )),
        }
    }
    if !too_old.is_empty() {
        panic!(
            "\n\n{}\nThese bindings support the client libraries of corosync {major}.{minor} \
             and later; install those (and their -dev packages).\n",
            too_old.join("\n")
        );
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
    include_paths.sort();
    include_paths.dedup();
    include_paths
}

/// The folder holding `corotypes.h`: under an include path pkg-config
/// reported, else under the `includedir` of libcorosync_common's `.pc` file.
/// (The headers usually live in the compiler's default include path, for
/// which pkg-config reports no `-I`.)
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

/// Stops the build when an installed header declares something differently
/// from the header the committed bindings were generated from.
#[cfg(not(feature = "bindgen"))]
fn check_headers(headers: &[(&Service, String)], header_dir: &Path, pregenerated: &Path) {
    let record_path = pregenerated.join("declarations.txt");
    let record_text = fs::read_to_string(&record_path)
        .unwrap_or_else(|e| panic!("{} is part of the package: {e}", record_path.display()));
    let record = declarations::Record::parse(&record_text)
        .unwrap_or_else(|e| panic!("{}: {e}", record_path.display()));
    let mut report = String::new();
    for (service, text) in headers {
        let (mismatches, unknown) = declarations::compare(service.header, text, &record);
        for m in mismatches {
            report.push_str(&format!(
                "  {}: {}\n    installed: {}\n    bindings:  {}\n",
                m.header,
                m.name,
                m.found.join("\n               "),
                m.expected.join("\n               "),
            ));
        }
        for name in unknown {
            println!(
                "cargo::warning=corosync-sys: {} declares {name}, which the committed bindings \
                 lack; the `bindgen` feature makes bindings that have it",
                service.header
            );
        }
    }
    if !report.is_empty() {
        let version = env::var("CARGO_PKG_VERSION").unwrap_or_default();
        let short: Vec<&str> = version.split('.').take(2).collect();
        panic!(
            "\n\ncorosync-sys: the corosync headers in {dir} declare these differently from \
             the headers its committed bindings were generated from, so those bindings would \
             be wrong here:\n{report}\
             Turn on the `bindgen` feature of corosync-sys to generate bindings from the \
             installed headers at build time (needs libclang; Debian/Ubuntu: libclang-dev), \
             e.g. in Cargo.toml:\n  corosync-sys = {{ version = \"{short}\", features = \
             [\"bindgen\"] }}\n",
            dir = header_dir.display(),
            short = short.join("."),
        );
    }
}

/// Runs bindgen over the installed headers of the enabled services, writing
/// the bindings files to `OUT_DIR`, and returns that folder.
#[cfg(feature = "bindgen")]
fn generate(enabled: &[&Service], header_dir: &Path, include_paths: &[PathBuf]) -> PathBuf {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    // The folder the checked headers are in comes first.
    let mut include_dirs = vec![header_dir
        .parent()
        .map_or_else(|| header_dir.to_path_buf(), Path::to_path_buf)];
    include_dirs.extend(include_paths.iter().cloned());
    let optional = services::optional_names();
    for service in enabled {
        let patterns = bindings::Patterns {
            functions: service.functions,
            types: service.types,
            vars: service.vars,
        };
        let text = bindings::generate(&include_dirs, service.header, &patterns, &optional)
            .unwrap_or_else(|e| {
                panic!("\n\ncorosync-sys: {e}\n(is libclang installed? Debian: libclang-dev)\n")
            });
        let path = out_dir.join(service.bindings);
        fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
    out_dir
}
