//! Checks the generated bindings against the installed corosync headers:
//! every declared function is exposed, the version-dependent functions carry
//! the right cfg flags, and the committed docs.rs bindings have not drifted.

use std::collections::BTreeSet;
use std::path::PathBuf;

const HEADERS: &[&str] = &[
    "corotypes.h",
    "cpg.h",
    "quorum.h",
    "votequorum.h",
    "cmap.h",
    "cfg.h",
    "sam.h",
];

fn header_dir() -> PathBuf {
    PathBuf::from(env!("COROSYNC_SYS_HEADER_DIR"))
}

fn generated() -> String {
    std::fs::read_to_string(concat!(env!("OUT_DIR"), "/bindings.rs")).expect("read bindings.rs")
}

/// Removes comments and preprocessor lines, keeping line structure loosely.
fn strip_comments_and_directives(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let bytes = src.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"/*") {
            let end = src[i + 2..]
                .find("*/")
                .map_or(bytes.len(), |e| i + 2 + e + 2);
            out.push(' ');
            i = end;
        } else if bytes[i..].starts_with(b"//") {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else {
            out.push(bytes[i] as char);
            i += 1;
        }
    }
    // Drop preprocessor directives, including continued lines, and the C++
    // guards (`#ifdef __cplusplus extern "C" { #endif`).
    let mut result = String::new();
    let mut continued = false;
    let mut in_cplusplus = false;
    for line in out.lines() {
        let is_directive = continued || line.trim_start().starts_with('#');
        continued = is_directive && line.trim_end().ends_with('\\');
        if is_directive && line.contains("__cplusplus") {
            in_cplusplus = true;
        } else if is_directive && in_cplusplus && line.contains("endif") {
            in_cplusplus = false;
        }
        if !is_directive && !in_cplusplus {
            result.push_str(line);
            result.push('\n');
        }
    }
    result
}

/// The names of the functions a C header declares or defines at file scope:
/// an identifier followed by `(` at brace depth 0 and parenthesis depth 0, in
/// a declaration that is not a typedef.
fn declared_functions(src: &str) -> BTreeSet<String> {
    let text = strip_comments_and_directives(src);
    let mut names = BTreeSet::new();
    let mut brace = 0usize;
    let mut paren = 0usize;
    let mut in_typedef = false;
    let mut last_ident: Option<String> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if c.is_ascii_alphabetic() || c == '_' {
            let mut end = start + c.len_utf8();
            while let Some(&(i, d)) = chars.peek() {
                if d.is_ascii_alphanumeric() || d == '_' {
                    end = i + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            let ident = &text[start..end];
            if brace == 0 && paren == 0 && ident == "typedef" {
                in_typedef = true;
            }
            last_ident = Some(ident.to_string());
            continue;
        }
        match c {
            '(' => {
                if brace == 0 && paren == 0 && !in_typedef {
                    if let Some(name) = last_ident.take() {
                        if name != "extern" {
                            names.insert(name);
                        }
                    }
                }
                paren += 1;
            }
            ')' => paren = paren.saturating_sub(1),
            '{' => brace += 1,
            '}' => {
                brace = brace.saturating_sub(1);
                // `static inline f(...) { ... }` ends without a semicolon.
                if brace == 0 && paren == 0 {
                    in_typedef = false;
                }
            }
            ';' if brace == 0 && paren == 0 => in_typedef = false,
            c if c.is_whitespace() => continue,
            _ => {}
        }
        last_ident = None;
    }
    names
}

#[test]
fn the_header_parser_finds_declarations_only() {
    let src = r#"
        #define MACRO(x) (x)
        /** doc with f(x) in it */
        typedef void (*callback_fn_t) (int handle, void *data);
        typedef struct { int (*inner)(void); } s_t;
        struct a { int b; };
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
    "#;
    let found: Vec<_> = declared_functions(src).into_iter().collect();
    assert_eq!(found, ["first_fn", "second_fn", "third_fn"]);
}

/// Every function the installed headers declare is exposed by corosync-sys.
#[test]
#[cfg(all(
    feature = "cpg",
    feature = "quorum",
    feature = "votequorum",
    feature = "cmap",
    feature = "cfg",
    feature = "sam"
))]
fn every_declared_function_is_exposed() {
    let bindings = generated();
    // Inline functions have no symbol; corosync-sys implements them in Rust.
    let rust_implemented = ["cs_timestamp_get"];
    let mut checked = 0;
    let mut missing = Vec::new();
    for header in HEADERS {
        let path = header_dir().join(header);
        let src = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let functions = declared_functions(&src);
        assert!(
            functions.len() >= 3,
            "{header}: only {functions:?} found; is the parser broken?"
        );
        for name in functions {
            checked += 1;
            let exposed = bindings.contains(&format!("pub fn {name}("))
                || rust_implemented.contains(&name.as_str());
            if !exposed {
                missing.push(format!("{header}: {name}"));
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

/// The cfg flags for version-dependent functions match the headers.
#[test]
#[cfg(all(feature = "quorum", feature = "votequorum", feature = "cfg"))]
fn optional_function_flags_match_the_headers() {
    let mut declared = BTreeSet::new();
    for header in ["quorum.h", "votequorum.h", "cfg.h"] {
        let src = std::fs::read_to_string(header_dir().join(header)).expect("read header");
        declared.extend(declared_functions(&src));
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
    for (name, flag) in flags {
        assert_eq!(
            flag,
            declared.contains(name),
            "cfg flag corosync_has_{name} disagrees with the headers"
        );
    }
}

/// The committed docs.rs bindings are exactly what the installed 3.1.7
/// headers produce. On another corosync version they are expected to differ:
/// set COROSYNC_SYS_SKIP_DRIFT_CHECK=1 there (the project's CI runs 3.1.7).
#[test]
#[cfg(all(
    feature = "cpg",
    feature = "quorum",
    feature = "votequorum",
    feature = "cmap",
    feature = "cfg",
    feature = "sam"
))]
fn pregenerated_bindings_match_the_installed_headers() {
    let version = env!("COROSYNC_SYS_LIBRARY_VERSION");
    if std::env::var_os("COROSYNC_SYS_SKIP_DRIFT_CHECK").is_some() {
        eprintln!("drift check skipped on request (installed corosync {version})");
        return;
    }
    assert_eq!(
        version, "3.1.7",
        "the pregenerated bindings are from corosync 3.1.7 but {version} is installed; \
         run this test on 3.1.7 or set COROSYNC_SYS_SKIP_DRIFT_CHECK=1"
    );
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/pregenerated/bindings.rs"
    ))
    .expect("read the committed bindings");
    let fresh = generated();
    if committed != fresh {
        let first = committed
            .lines()
            .zip(fresh.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(committed.lines().count().min(fresh.lines().count()));
        panic!(
            "src/pregenerated/bindings.rs has drifted from the installed headers \
             (first difference at line {}); run scripts/regen-bindings.sh",
            first + 1
        );
    }
}
