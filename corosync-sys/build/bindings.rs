//! Runs bindgen over one corosync header, and lays out the bindings files.
//!
//! The same configuration makes the committed bindings
//! (`scripts/regen-bindings.sh`), the bindings of a build with the `bindgen`
//! feature, and the bindings the drift test compares the committed ones
//! with.

use std::path::PathBuf;

/// What bindgen emits from a header: the functions, types and constants
/// whose names match these anchored regular expressions. Nothing else is
/// emitted, not even the types they refer to, which come from the other
/// bindings files (`corotypes.h`'s from `common.rs`).
pub struct Patterns<'a> {
    /// Function names.
    pub functions: &'a str,
    /// Type names (typedefs, struct and enum tags).
    pub types: &'a str,
    /// `#define` constants.
    pub vars: &'a str,
}

/// The line that separates, in a committed bindings file, the bindings
/// generated from the base release's header from those of the declarations
/// only newer headers have.
pub const NEWER_MARKER: &str = "// Declared only by newer headers than the ones above.";

/// Generates the bindings of `corosync/<header>`, found in `include_dirs`
/// before the compiler's default folders, with the header's comments as
/// docs and every optional function gated (see [`gate`]).
pub fn generate(
    include_dirs: &[PathBuf],
    header: &str,
    patterns: &Patterns,
    optional: &[&str],
) -> Result<String, String> {
    let mut builder = bindgen::Builder::default()
        .header_contents("corosync-sys.h", &format!("#include <corosync/{header}>\n"))
        .allowlist_function(patterns.functions)
        .allowlist_type(patterns.types)
        .allowlist_var(patterns.vars)
        .allowlist_recursively(false)
        // C enums stay integers: a value from a newer library must never be
        // an invalid Rust enum.
        .default_enum_style(bindgen::EnumVariation::Consts)
        .prepend_enum_name(false)
        .generate_comments(true)
        .clang_arg("-fretain-comments-from-system-headers")
        .derive_default(true)
        .derive_debug(true)
        .derive_copy(true)
        .layout_tests(true)
        .use_core()
        .rust_target(bindgen::RustTarget::stable(80, 0).expect("a known Rust version"))
        .formatter(bindgen::Formatter::Prettyplease);
    for dir in include_dirs {
        builder = builder.clang_arg(format!("-I{}", dir.display()));
    }
    let bindings = builder
        .generate()
        .map_err(|e| format!("bindgen failed on corosync/{header}: {e}"))?;
    gate(&bindings.to_string(), optional)
}

/// Puts `#[cfg(corosync_has_<name>)]` on the `extern "C"` block of each
/// function named in `optional`, so that a function the installed library
/// may lack is declared only when its header declares it. Fails when a block
/// is not the one-function block bindgen writes.
pub fn gate(bindings: &str, optional: &[&str]) -> Result<String, String> {
    let mut out = String::with_capacity(bindings.len() + 64 * optional.len());
    let mut lines = bindings.lines().peekable();
    while let Some(line) = lines.next() {
        if line != "extern \"C\" {" && line != "unsafe extern \"C\" {" {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let mut block = vec![line];
        for inner in lines.by_ref() {
            block.push(inner);
            if inner == "}" {
                break;
            }
        }
        let names: Vec<&str> = block
            .iter()
            .filter_map(|l| l.trim_start().strip_prefix("pub fn "))
            .map(|rest| rest.split('(').next().unwrap_or_default())
            .collect();
        let [name] = names[..] else {
            return Err(format!(
                "an extern block with {} functions ({names:?}); expected one",
                names.len()
            ));
        };
        if optional.contains(&name) {
            out.push_str(&format!("#[cfg(corosync_has_{name})]\n"));
        }
        for l in block {
            out.push_str(l);
            out.push('\n');
        }
    }
    Ok(out)
}

/// A committed bindings file cut into its parts: the bindings generated from
/// the base release's header, and those of the declarations only newer
/// headers have (empty when there are none). The leading `//` lines
/// (what made the file) belong to neither.
pub fn split_committed(text: &str) -> (String, String) {
    let body: String = text
        .lines()
        .skip_while(|l| l.starts_with("//"))
        .map(|l| format!("{l}\n"))
        .collect();
    match body.split_once(&format!("{NEWER_MARKER}\n")) {
        Some((base, newer)) => (base.to_string(), newer.to_string()),
        None => (body, String::new()),
    }
}

/// Cuts bindgen's output into its top-level items, each with its docs,
/// attributes and the line break after it, and names each by what it
/// declares (a struct's layout checks and `Default` impl by the struct).
/// The items put together again are the whole text.
pub fn items(text: &str) -> Result<Vec<(String, String)>, String> {
    let bytes = text.as_bytes();
    let mut items = Vec::new();
    let mut start = 0;
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let mut nested = 0usize;
                while i < bytes.len() {
                    if bytes[i..].starts_with(b"/*") {
                        nested += 1;
                        i += 2;
                    } else if bytes[i..].starts_with(b"*/") {
                        nested -= 1;
                        i += 2;
                        if nested == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                continue;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' => depth = depth.saturating_sub(1),
            b'}' | b';' => {
                if bytes[i] == b'}' {
                    depth = depth.saturating_sub(1);
                }
                if depth == 0 {
                    if bytes[i] == b'}' && bytes.get(i + 1) == Some(&b';') {
                        i += 1;
                    }
                    while i + 1 < bytes.len() && bytes[i + 1] != b'\n' {
                        i += 1;
                    }
                    let end = (i + 2).min(bytes.len());
                    let item = &text[start..end];
                    items.push((item_name(item)?, item.to_string()));
                    start = end;
                    i = end;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    let rest = &text[start..];
    if !rest.trim().is_empty() {
        return Err(format!("text after the last item: {rest:?}"));
    }
    if let Some((_, last)) = items.last_mut() {
        last.push_str(rest);
    }
    Ok(items)
}

/// The name an item of bindgen's output declares.
fn item_name(item: &str) -> Result<String, String> {
    let code: Vec<&str> = item
        .lines()
        .map(str::trim_start)
        .filter(|l| !l.starts_with("///") && !l.starts_with("//!") && !l.starts_with("#["))
        .collect();
    let code = code.join(" ");
    let after = |prefix: &str| -> Option<String> {
        let rest = &code[code.find(prefix)? + prefix.len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        (!name.is_empty()).then_some(name)
    };
    // A doc comment in `/** */` form sits before the code.
    let code_start = code.rfind("*/").map_or(0, |i| i + 2);
    let head = &code[code_start..];
    let found = if head.trim_start().starts_with("const _: () =") {
        after("size_of::<")
    } else if head.trim_start().starts_with("impl Default for ") {
        after("impl Default for ")
    } else {
        [
            "pub const ",
            "pub type ",
            "pub struct ",
            "pub union ",
            "pub static ",
            "pub fn ",
        ]
        .iter()
        .find_map(|p| after(p))
    };
    found.ok_or_else(|| format!("cannot name this item of bindgen's output: {item:?}"))
}
