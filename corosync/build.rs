//! Turns the version-dependent functions corosync-sys found in the installed
//! headers (its `DEP_COROSYNC_HAS_*` metadata) into `corosync_has_*` cfg
//! flags, so the safe API exposes exactly what the library provides.

/// Keep in step with OPTIONAL_FUNCTIONS in corosync-sys/build.rs.
const OPTIONAL_FUNCTIONS: &[&str] = &[
    "quorum_model_initialize",
    "corosync_cfg_node_status_get",
    "corosync_cfg_trackstart",
    "corosync_cfg_trackstop",
    "votequorum_model_initialize",
    "votequorum_get_qdevice_extra_info",
    "votequorum_set_qdevice_extra_info",
];

fn main() {
    for name in OPTIONAL_FUNCTIONS {
        println!("cargo::rustc-check-cfg=cfg(corosync_has_{name})");
        let var = format!("DEP_COROSYNC_HAS_{}", name.to_ascii_uppercase());
        println!("cargo::rerun-if-env-changed={var}");
        if std::env::var_os(&var).is_some() {
            println!("cargo::rustc-cfg=corosync_has_{name}");
        }
    }
}
