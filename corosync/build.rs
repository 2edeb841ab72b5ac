//! Turns the version-dependent functions corosync-sys found in the installed
//! headers (its `DEP_COROSYNC_HAS_*` metadata) into `corosync_has_*` cfg
//! flags, so the safe API exposes exactly what the library provides. The
//! list of such functions comes from corosync-sys too
//! (`DEP_COROSYNC_OPTIONAL_FUNCTIONS`).
//!
//! With `COROSYNC_RS_ONLY_3_0_API` set, no flag is turned on, as with
//! corosync 3.0's headers, which lack all of those functions (CI checks
//! that this builds without warnings). Types and constants still come
//! from the installed headers: the safe crate uses none newer than 3.0.0
//! (checked against the 3.0.0 and 3.0.4 headers by hand).

fn main() {
    println!("cargo::rerun-if-env-changed=DEP_COROSYNC_OPTIONAL_FUNCTIONS");
    println!("cargo::rerun-if-env-changed=COROSYNC_RS_ONLY_3_0_API");
    // Set by cargo-fuzz: exposes the decoders to the targets in fuzz/.
    println!("cargo::rustc-check-cfg=cfg(fuzzing)");
    let only_3_0 = std::env::var_os("COROSYNC_RS_ONLY_3_0_API").is_some();
    let names = std::env::var("DEP_COROSYNC_OPTIONAL_FUNCTIONS")
        .expect("corosync-sys lists its optional functions (links = \"corosync\")");
    for name in names.split(',').filter(|n| !n.is_empty()) {
        println!("cargo::rustc-check-cfg=cfg(corosync_has_{name})");
        let var = format!("DEP_COROSYNC_HAS_{}", name.to_ascii_uppercase());
        println!("cargo::rerun-if-env-changed={var}");
        if !only_3_0 && std::env::var_os(&var).is_some() {
            println!("cargo::rustc-cfg=corosync_has_{name}");
        }
    }
}
