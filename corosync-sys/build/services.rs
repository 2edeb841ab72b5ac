//! The corosync client libraries corosync-sys binds: one header, one
//! pkg-config package and one cargo feature each, and the names each one's
//! bindings cover. Shared by the build script, its tests and the bindings
//! generator.

/// A client library, or the common part every one of them needs.
pub struct Service {
    /// The cargo feature that enables it; empty for the common part.
    pub feature: &'static str,
    /// Its pkg-config package.
    pub pkg: &'static str,
    /// The Debian/Ubuntu package with its header and `.pc` file.
    pub debian: &'static str,
    /// Its header, in the `corosync/` include folder.
    pub header: &'static str,
    /// The file of `src/pregenerated/` (and of `OUT_DIR`) with its bindings.
    pub bindings: &'static str,
    /// bindgen allowlist patterns (anchored regular expressions) for its
    /// functions, types and constants.
    pub functions: &'static str,
    /// See `functions`.
    pub types: &'static str,
    /// See `functions`.
    pub vars: &'static str,
}

/// `corotypes.h`, which every service header includes; always bound.
pub const COMMON: Service = Service {
    feature: "",
    pkg: "libcorosync_common",
    debian: "libcorosync-common-dev",
    header: "corotypes.h",
    bindings: "common.rs",
    functions: "cs_.*|qb_to_cs_.*|hdb_error_to_cs",
    types: "cs_.*",
    vars: "CS_.*",
};

/// The six client libraries, in the order their bindings are included.
pub const SERVICES: &[Service] = &[
    Service {
        feature: "cpg",
        pkg: "libcpg",
        debian: "libcpg-dev",
        header: "cpg.h",
        bindings: "cpg.rs",
        functions: "cpg_.*",
        types: "cpg_.*",
        vars: "CPG_.*",
    },
    Service {
        feature: "quorum",
        pkg: "libquorum",
        debian: "libquorum-dev",
        header: "quorum.h",
        bindings: "quorum.rs",
        functions: "quorum_.*",
        types: "quorum_.*",
        vars: "QUORUM_.*",
    },
    Service {
        feature: "votequorum",
        pkg: "libvotequorum",
        debian: "libvotequorum-dev",
        header: "votequorum.h",
        bindings: "votequorum.rs",
        functions: "votequorum_.*",
        types: "votequorum_.*",
        vars: "VOTEQUORUM_.*",
    },
    Service {
        feature: "cmap",
        pkg: "libcmap",
        debian: "libcmap-dev",
        header: "cmap.h",
        bindings: "cmap.rs",
        functions: "cmap_.*",
        types: "cmap_.*",
        vars: "CMAP_.*",
    },
    Service {
        feature: "cfg",
        pkg: "libcfg",
        debian: "libcfg-dev",
        header: "cfg.h",
        bindings: "cfg.rs",
        functions: "corosync_cfg_.*",
        types: "corosync_cfg_.*|corosync_knet_.*",
        vars: "COROSYNC_CFG_.*|CFG_.*",
    },
    Service {
        feature: "sam",
        pkg: "libsam",
        debian: "libsam-dev",
        header: "sam.h",
        bindings: "sam.rs",
        functions: "sam_.*",
        types: "sam_.*",
        vars: "SAM_.*",
    },
];

/// The release whose headers the committed bindings are generated from (the
/// newer releases' additions aside); the drift test needs it installed.
pub const PREGENERATED_RELEASE: &str = "3.1.7";

/// The oldest corosync release the bindings support, as (major, minor).
pub const MIN_VERSION: (u32, u32) = (3, 0);

/// A function that only some supported corosync releases declare.
pub struct Optional {
    /// The function's name; the build sets the cfg flag
    /// `corosync_has_<name>` when the installed headers declare it.
    pub name: &'static str,
    /// The header that declares it.
    pub header: &'static str,
    /// The first release that has it.
    pub since: &'static str,
}

/// The functions that only some supported releases declare. The bindings
/// declare each one only under its cfg flag.
pub const OPTIONAL_FUNCTIONS: &[Optional] = &[
    Optional {
        name: "quorum_model_initialize",
        header: "quorum.h",
        since: "3.1.0",
    },
    Optional {
        name: "corosync_cfg_node_status_get",
        header: "cfg.h",
        since: "3.1.1",
    },
    Optional {
        name: "corosync_cfg_trackstart",
        header: "cfg.h",
        since: "3.1.1",
    },
    Optional {
        name: "corosync_cfg_trackstop",
        header: "cfg.h",
        since: "3.1.1",
    },
    Optional {
        name: "votequorum_model_initialize",
        header: "votequorum.h",
        since: "after 3.1.10",
    },
    Optional {
        name: "votequorum_get_qdevice_extra_info",
        header: "votequorum.h",
        since: "after 3.1.10",
    },
    Optional {
        name: "votequorum_set_qdevice_extra_info",
        header: "votequorum.h",
        since: "after 3.1.10",
    },
];

/// The names of [`OPTIONAL_FUNCTIONS`].
pub fn optional_names() -> Vec<&'static str> {
    OPTIONAL_FUNCTIONS.iter().map(|f| f.name).collect()
}

/// Whether a pkg-config version (`3.1.7`, `2.4.6`) is at least
/// [`MIN_VERSION`]; a missing minor number counts as 0, a version that does
/// not start with a number is too old.
pub fn supported_version(version: &str) -> bool {
    let mut parts = version.trim().split('.').map(|p| {
        let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u32>().ok()
    });
    match parts.next().flatten() {
        Some(major) => (major, parts.next().flatten().unwrap_or(0)) >= MIN_VERSION,
        None => false,
    }
}
