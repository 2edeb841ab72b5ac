//! The feature tables users read — the `corosync` crate's root docs and
//! the two published READMEs — say what the `##` comments of the crates'
//! `[features]` say, row for row, so neither can change without the other.

use std::collections::BTreeMap;
use std::path::Path;

/// A cargo feature as its manifest documents it.
#[derive(Debug, PartialEq, Eq)]
struct Feature {
    default: bool,
    /// The `##` lines above it, joined with spaces.
    doc: String,
}

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The features of a manifest's `[features]` table, by name.
fn features(manifest: &str) -> BTreeMap<String, Feature> {
    let text = read(manifest);
    let section = text
        .split("\n[")
        .find(|s| s.starts_with("features]"))
        .unwrap_or_else(|| panic!("{manifest} has no [features]"));
    let mut defaults: Vec<String> = Vec::new();
    let mut out = BTreeMap::new();
    let mut doc: Vec<&str> = Vec::new();
    let mut lines = section.lines().skip(1);
    while let Some(line) = lines.next() {
        let line = line.trim();
        if let Some(text) = line.strip_prefix("##") {
            doc.push(text.trim());
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            assert!(doc.is_empty(), "{manifest}: `##` lines not above a feature");
            continue;
        };
        let (name, mut value) = (name.trim().to_string(), value.trim().to_string());
        while !value.ends_with(']') {
            value.push_str(lines.next().expect("an unterminated feature list"));
        }
        if name == "default" {
            defaults = value
                .trim_matches(|c| c == '[' || c == ']')
                .split(',')
                .map(|f| f.trim().trim_matches('"').to_string())
                .filter(|f| !f.is_empty())
                .collect();
        } else {
            assert!(
                !doc.is_empty(),
                "{manifest}: feature `{name}` has no `##` comment"
            );
            out.insert(
                name,
                Feature {
                    default: false,
                    doc: doc.join(" "),
                },
            );
        }
        doc.clear();
    }
    for name in defaults {
        out.get_mut(&name)
            .unwrap_or_else(|| panic!("{manifest}: default feature `{name}` is not defined"))
            .default = true;
    }
    out
}

/// The rows `| `name` | yes/no | text |` of a document's feature table.
fn table(document: &str, text: &str) -> BTreeMap<String, Feature> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(row) = line.strip_prefix("| `") else {
            continue;
        };
        let cells: Vec<&str> = row.trim_end_matches('|').split(" | ").collect();
        let [name, default, doc] = cells[..] else {
            continue;
        };
        let Some(name) = name.strip_suffix('`') else {
            continue;
        };
        let default = match default {
            "yes" => true,
            "no" => false,
            _ => continue,
        };
        let doc = doc.trim().to_string();
        let again = out.insert(name.to_string(), Feature { default, doc });
        assert!(again.is_none(), "{document}: feature `{name}` has two rows");
    }
    out
}

fn assert_documents(document: &str, text: &str, manifest: &str) {
    let want = features(manifest);
    assert!(!want.is_empty(), "{manifest}: no features found");
    let got = table(document, text);
    for (name, f) in &want {
        let row = format!(
            "| `{name}` | {} | {} |",
            if f.default { "yes" } else { "no" },
            f.doc
        );
        assert_eq!(
            got.get(name),
            Some(f),
            "{document}'s feature table should have the row\n{row}\n(from {manifest})"
        );
    }
    for name in got.keys() {
        assert!(
            want.contains_key(name),
            "{document} lists feature `{name}`, which {manifest} does not define"
        );
    }
}

#[test]
fn the_crate_docs_list_every_feature_as_the_manifest_describes_it() {
    let docs: String = read("corosync/src/lib.rs")
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| format!("{}\n", l.trim_start()))
        .collect();
    assert_documents("corosync/src/lib.rs", &docs, "corosync/Cargo.toml");
}

#[test]
fn the_readmes_list_every_feature_as_the_manifests_describe_them() {
    for krate in ["corosync", "corosync-sys"] {
        let readme = format!("{krate}/README.md");
        assert_documents(&readme, &read(&readme), &format!("{krate}/Cargo.toml"));
    }
}
