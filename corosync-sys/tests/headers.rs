//! Checks the committed bindings against the installed corosync headers:
//! they are bindgen's output for those headers plus the newer releases'
//! additions, the headers fit the recorded declarations, every declared
//! function is exposed, and the version-dependent functions carry the right
//! cfg flags. Also checks the header reader the build script compares with.

// Shared with the build script and the bindings generator.
#[path = "../build/bindings.rs"]
#[allow(dead_code)]
mod bindings;
#[path = "../build/declarations.rs"]
#[allow(dead_code)]
mod declarations;
#[path = "../build/services.rs"]
#[allow(dead_code)]
mod services;

use std::collections::BTreeSet;
use std::path::PathBuf;

use declarations::{Kind, Origin, Record};
use services::{Service, COMMON, OPTIONAL_FUNCTIONS, SERVICES};

fn header_dir() -> PathBuf {
    PathBuf::from(env!("COROSYNC_SYS_HEADER_DIR"))
}

fn installed(header: &str) -> String {
    let path = header_dir().join(header);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn pregenerated(file: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/pregenerated")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn record() -> Record {
    Record::parse(&pregenerated("declarations.txt")).expect("declarations.txt reads")
}

fn all_services() -> impl Iterator<Item = &'static Service> {
    std::iter::once(&COMMON).chain(SERVICES)
}

/// The names of the functions a bindings text declares.
fn declared_in(bindings: &str) -> BTreeSet<String> {
    bindings
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("pub fn "))
        .map(|rest| rest.split('(').next().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn the_header_reader_finds_declarations_by_name() {
    let src = r#"
        #ifndef X_H
        #define X_H
        #define MAX_LEN 128
        #define MACRO(x) (x)
        /** doc with f(x) in it */
        typedef void (*callback_fn_t) (int handle, void *data);
        typedef struct { int (*inner)(void); } s_t;
        struct a { int b; /* a comment */ char c[MAX_LEN]; };
        typedef enum { A, B, C = 5, D } letters_t;
        cs_error_t
        first_fn (
            int handle,
            void (*cb)(int));
        #ifdef __cplusplus
        extern "C" {
        #endif
        static inline uint64_t second_fn(void) { return f(1); }
        const char * third_fn(cs_error_t err);
        #ifdef __cplusplus
        }
        #endif
        #endif
    "#;
    let found: Vec<(String, Kind, String)> = declarations::declarations(src)
        .into_iter()
        .map(|d| (d.name, d.kind, d.text))
        .collect();
    let expected = [
        ("X_H", Kind::Define, "# define X_H"),
        ("MAX_LEN", Kind::Define, "# define MAX_LEN 128"),
        ("MACRO", Kind::Define, "# define MACRO ( x ) ( x )"),
        (
            "callback_fn_t",
            Kind::Type,
            "typedef void ( * callback_fn_t ) ( int handle , void * data ) ;",
        ),
        (
            "s_t",
            Kind::Type,
            "typedef struct { int ( * inner ) ( void ) ; } s_t ;",
        ),
        (
            "struct a",
            Kind::Type,
            "struct a { int b ; char c [ MAX_LEN ] ; } ;",
        ),
        ("letters_t", Kind::Type, "typedef enum { } letters_t ;"),
        ("A", Kind::Enumerator, "letters_t :: A = 0"),
        ("B", Kind::Enumerator, "letters_t :: B = 1"),
        ("C", Kind::Enumerator, "letters_t :: C = 5"),
        ("D", Kind::Enumerator, "letters_t :: D = 5 + 1"),
        (
            "first_fn",
            Kind::Function,
            "cs_error_t first_fn ( int handle , void ( * cb ) ( int ) ) ;",
        ),
        (
            "second_fn",
            Kind::Function,
            "static inline uint64_t second_fn ( void ) { return f ( 1 ) ; }",
        ),
        (
            "third_fn",
            Kind::Function,
            "const char * third_fn ( cs_error_t err ) ;",
        ),
    ];
    let expected: Vec<(String, Kind, String)> = expected
        .iter()
        .map(|(n, k, t)| (n.to_string(), *k, t.to_string()))
        .collect();
    assert_eq!(found, expected);
}

/// The comparison the build makes: what makes committed bindings wrong for
/// a header is a mismatch, what only one side declares is not.
#[test]
fn a_declaration_that_differs_from_the_record_is_a_mismatch() {
    let record = record();
    let cpg = installed("cpg.h");
    let fits = |src: &str| declarations::compare("cpg.h", src, &record);
    assert_eq!(fits(&cpg), (vec![], vec![]), "the installed cpg.h fits");

    let changes = [
        // A field's type: the struct's layout.
        ("uint32_t pid;", "uint64_t pid;", "struct cpg_address"),
        // A constant an array's size comes from.
        (
            "#define CPG_MAX_NAME_LENGTH 128",
            "#define CPG_MAX_NAME_LENGTH 256",
            "CPG_MAX_NAME_LENGTH",
        ),
        // An enum constant's value.
        (
            "CPG_REASON_JOIN = 1",
            "CPG_REASON_JOIN = 7",
            "CPG_REASON_JOIN",
        ),
        // A parameter's type.
        (
            "cs_error_t cpg_finalize (\n\tcpg_handle_t handle);",
            "cs_error_t cpg_finalize (\n\tuint32_t handle);",
            "cpg_finalize",
        ),
    ];
    for (from, to, name) in changes {
        assert!(cpg.contains(from), "cpg.h has {from:?}");
        let (mismatches, unknown) = fits(&cpg.replacen(from, to, 1));
        let names: Vec<&str> = mismatches.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, [name], "after {from:?} -> {to:?}");
        assert!(unknown.is_empty());
    }

    // Comments and spacing are not declarations.
    let respaced = cpg
        .replacen("uint32_t pid;", "uint32_t   pid ; /* process */", 1)
        .replacen("cpg_handle_t handle);", "cpg_handle_t handle\n);", 1);
    assert_eq!(fits(&respaced), (vec![], vec![]));
    // A function of another release: missing is fine, new is reported.
    let without = cpg.replacen("cs_error_t cpg_finalize (\n\tcpg_handle_t handle);", "", 1);
    assert_eq!(fits(&without), (vec![], vec![]));
    let with_new = format!("{cpg}\ncs_error_t cpg_future (cpg_handle_t handle);\n");
    assert_eq!(fits(&with_new), (vec![], vec!["cpg_future".to_string()]));
    // So is an enum constant another release adds.
    let more = cpg.replacen(
        "CPG_REASON_PROCDOWN = 5",
        "CPG_REASON_PROCDOWN = 5,\n\tCPG_REASON_X = 6",
        1,
    );
    assert_eq!(fits(&more), (vec![], vec!["CPG_REASON_X".to_string()]));
}

/// The committed bindings are bindgen's output for the installed (3.1.7)
/// headers, followed by bindgen's output for the newer releases'
/// declarations, which the record lists as such.
#[test]
fn committed_bindings_are_bindgen_output_for_the_installed_headers() {
    let record = record();
    let include = header_dir()
        .parent()
        .expect("the header folder has a parent")
        .to_path_buf();
    let optional = services::optional_names();
    for service in all_services() {
        let section = &record.headers[service.header];
        let base: std::collections::BTreeMap<&str, &Vec<String>> = section
            .iter()
            .filter(|(_, (origin, _))| *origin == Origin::Base)
            .map(|(name, (_, texts))| (name.as_str(), texts))
            .collect();
        let found = declarations::by_name(&declarations::declarations(&installed(service.header)));
        let found: std::collections::BTreeMap<&str, &Vec<String>> =
            found.iter().map(|(n, t)| (n.as_str(), t)).collect();
        assert!(
            found == base,
            "the installed {} is not the release the committed bindings are generated \
             from (see src/pregenerated/declarations.txt); run this test on corosync {}",
            service.header,
            services::PREGENERATED_RELEASE,
        );

        let committed = pregenerated(service.bindings);
        let (committed_base, committed_newer) = bindings::split_committed(&committed);
        let patterns = bindings::Patterns {
            functions: service.functions,
            types: service.types,
            vars: service.vars,
        };
        let fresh = bindings::generate(
            std::slice::from_ref(&include),
            service.header,
            &patterns,
            &optional,
        )
        .expect("bindgen runs");
        if committed_base != fresh {
            let line = committed_base
                .lines()
                .zip(fresh.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(committed_base.lines().count().min(fresh.lines().count()));
            panic!(
                "src/pregenerated/{} is not bindgen's output for the installed {} (first \
                 difference at line {} after the comment); run scripts/regen-bindings.sh",
                service.bindings,
                service.header,
                line + 1
            );
        }

        // Below the marker: one item or more for each declaration the record
        // has from newer headers only, and nothing else.
        let newer: BTreeSet<&str> = section
            .iter()
            .filter(|(_, (origin, texts))| {
                *origin == Origin::Newer && !texts[0].starts_with("# define")
            })
            .map(|(name, _)| name.strip_prefix("struct ").unwrap_or(name))
            .collect();
        let items = bindings::items(&committed_newer).expect("the newer part reads");
        let named: BTreeSet<&str> = items.iter().map(|(name, _)| name.as_str()).collect();
        let defines: BTreeSet<&str> = section
            .iter()
            .filter(|(_, (origin, _))| *origin == Origin::Newer)
            .map(|(name, _)| name.as_str())
            .collect();
        assert!(
            newer.is_subset(&named) && named.is_subset(&defines),
            "{}: the items below the marker ({named:?}) are not those the record has from \
             newer headers only ({defines:?})",
            service.bindings
        );
    }
}

/// The additions of newer releases are there: every optional function,
/// declared under its cfg flag.
#[test]
fn the_committed_bindings_have_every_optional_function_behind_its_flag() {
    for f in OPTIONAL_FUNCTIONS {
        let service = all_services()
            .find(|s| s.header == f.header)
            .expect("a known header");
        let text = pregenerated(service.bindings);
        let gated = format!("#[cfg(corosync_has_{})]\nextern \"C\" {{", f.name);
        let at = text
            .find(&gated)
            .unwrap_or_else(|| panic!("{} is not declared under its flag", f.name));
        let block = &text[at..];
        let block = &block[..block.find("\n}\n").expect("the block ends")];
        assert!(
            block.contains(&format!("pub fn {}(", f.name)),
            "the block under corosync_has_{} declares another function",
            f.name
        );
    }
}

/// Every function the installed headers declare is exposed by corosync-sys.
#[test]
fn every_declared_function_is_exposed() {
    let bindings: String = all_services().map(|s| pregenerated(s.bindings)).collect();
    let exposed = declared_in(&bindings);
    // Inline functions have no symbol; corosync-sys implements them in Rust.
    let rust_implemented = ["cs_timestamp_get"];
    let mut checked = 0;
    let mut missing = Vec::new();
    for service in all_services() {
        let functions = declarations::functions(&installed(service.header));
        assert!(
            functions.len() >= 3,
            "{}: only {functions:?} found; is the reader broken?",
            service.header
        );
        for name in functions {
            checked += 1;
            if !exposed.contains(&name) && !rust_implemented.contains(&name.as_str()) {
                missing.push(format!("{}: {name}", service.header));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "not exposed by corosync-sys: {missing:#?}"
    );
    // corosync 3.0 declares 102 functions in these headers, 3.1.7 declares 106.
    assert!(
        checked >= 100,
        "only {checked} functions found in the headers"
    );
    // The Rust counterpart of the inline function behaves like it.
    let a = corosync_sys::cs_timestamp_get();
    let b = corosync_sys::cs_timestamp_get();
    assert!(a > 0 && b >= a);
}

/// The cfg flags for version-dependent functions match the installed
/// headers.
#[test]
#[cfg(all(feature = "quorum", feature = "votequorum", feature = "cfg"))]
fn optional_function_flags_match_the_headers() {
    let mut declared = BTreeSet::new();
    for header in ["quorum.h", "votequorum.h", "cfg.h"] {
        declared.extend(declarations::functions(&installed(header)));
    }
    let flags = [
        (
            "quorum_model_initialize",
            cfg!(corosync_has_quorum_model_initialize),
        ),
        (
            "corosync_cfg_node_status_get",
            cfg!(corosync_has_corosync_cfg_node_status_get),
        ),
        (
            "corosync_cfg_trackstart",
            cfg!(corosync_has_corosync_cfg_trackstart),
        ),
        (
            "corosync_cfg_trackstop",
            cfg!(corosync_has_corosync_cfg_trackstop),
        ),
        (
            "votequorum_model_initialize",
            cfg!(corosync_has_votequorum_model_initialize),
        ),
        (
            "votequorum_get_qdevice_extra_info",
            cfg!(corosync_has_votequorum_get_qdevice_extra_info),
        ),
        (
            "votequorum_set_qdevice_extra_info",
            cfg!(corosync_has_votequorum_set_qdevice_extra_info),
        ),
    ];
    assert_eq!(flags.len(), OPTIONAL_FUNCTIONS.len());
    for (name, flag) in flags {
        assert_eq!(
            flag,
            declared.contains(name),
            "cfg flag corosync_has_{name} disagrees with the headers"
        );
    }
}

#[test]
fn the_items_of_bindgen_output_are_found_and_named() {
    for service in all_services() {
        let text = pregenerated(service.bindings);
        let (base, _) = bindings::split_committed(&text);
        let items = bindings::items(&base).expect("bindgen's output reads");
        let joined: String = items.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(
            joined, base,
            "{}: the items add up to the text",
            service.bindings
        );
        let named: BTreeSet<&str> = items.iter().map(|(n, _)| n.as_str()).collect();
        for function in declared_in(&base) {
            assert!(named.contains(function.as_str()), "{function} is an item");
        }
    }
}
