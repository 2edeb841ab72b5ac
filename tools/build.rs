//! Sets the `corosync_has_<function>` cfg flags the safe crate sets, from
//! corosync-sys's `DEP_COROSYNC_*` metadata, so that a tool calls a
//! version-dependent method (`Cfg::node_status`, from corosync 3.1.1) only
//! when the corosync crate has it. `COROSYNC_RS_ONLY_3_0_API` turns them
//! all off, as it does for the corosync crate.

fn main() {
    println!("cargo::rerun-if-env-changed=DEP_COROSYNC_OPTIONAL_FUNCTIONS");
    println!("cargo::rerun-if-env-changed=COROSYNC_RS_ONLY_3_0_API");
    let only_3_0 = std::env::var_os("COROSYNC_RS_ONLY_3_0_API").is_some();
    let list = std::env::var("DEP_COROSYNC_OPTIONAL_FUNCTIONS")
        .expect("corosync-sys passes on its list of optional functions");
    for function in list.split(',').filter(|f| !f.is_empty()) {
        println!("cargo::rustc-check-cfg=cfg(corosync_has_{function})");
        let found = format!("DEP_COROSYNC_HAS_{}", function.to_ascii_uppercase());
        println!("cargo::rerun-if-env-changed={found}");
        if !only_3_0 && std::env::var_os(&found).is_some() {
            println!("cargo::rustc-cfg=corosync_has_{function}");
        }
    }
}
