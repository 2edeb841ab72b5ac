//! Writes the committed bindings of corosync-sys (`src/pregenerated/`): run
//! by `scripts/regen-bindings.sh`, which extracts corosync's headers from a
//! git checkout. Not an example of the API; it lives here to use the
//! dev-dependency on bindgen.
//!
//! ```text
//! regen_bindings --base NAME=DIR --newer NAME=DIR [--release NAME=DIR]... --out DIR
//! ```
//!
//! Each DIR holds a release's `corosync/*.h`. For every header the bindings
//! come from the base release; the declarations only the newer headers have
//! (new functions and their types) are generated from those and appended
//! below a marker. `declarations.txt` records the declarations both were
//! generated from, which the build script compares installed headers with.
//! Every `--release` (the supported releases) must agree with that record,
//! else nothing is written.

// Shared with the build script and the tests.
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
use std::process::ExitCode;

use declarations::{Declaration, Kind, Origin, Record};
use services::{Service, COMMON, SERVICES};

struct Release {
    name: String,
    dir: PathBuf,
}

impl Release {
    fn read(&self, header: &str) -> Result<String, String> {
        let path = self.dir.join("corosync").join(header);
        std::fs::read_to_string(&path).map_err(|e| format!("read {}: {e}", path.display()))
    }
}

struct Args {
    base: Release,
    newer: Release,
    releases: Vec<Release>,
    out: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let usage =
        "usage: regen_bindings --base NAME=DIR --newer NAME=DIR [--release NAME=DIR]... --out DIR";
    let mut base = None;
    let mut newer = None;
    let mut releases = Vec::new();
    let mut out = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value; {usage}"))?;
        let release = || -> Result<Release, String> {
            let (name, dir) = value
                .split_once('=')
                .ok_or_else(|| format!("{flag} {value}: expected NAME=DIR"))?;
            Ok(Release {
                name: name.to_string(),
                dir: PathBuf::from(dir),
            })
        };
        match flag.as_str() {
            "--base" => base = Some(release()?),
            "--newer" => newer = Some(release()?),
            "--release" => releases.push(release()?),
            "--out" => out = Some(PathBuf::from(&value)),
            _ => return Err(format!("unknown argument {flag}; {usage}")),
        }
    }
    Ok(Args {
        base: base.ok_or(usage)?,
        newer: newer.ok_or(usage)?,
        releases,
        out: out.ok_or(usage)?,
    })
}

/// One header's bindings file and its part of the record.
fn header(service: &Service, args: &Args, record: &mut Record) -> Result<String, String> {
    let optional = services::optional_names();
    let base_decls = declarations::declarations(&args.base.read(service.header)?);
    let newer_decls = declarations::declarations(&args.newer.read(service.header)?);
    let base = declarations::by_name(&base_decls);
    let newer = declarations::by_name(&newer_decls);

    let mut changed = Vec::new();
    for (name, texts) in &newer {
        if base.get(name).is_some_and(|b| b != texts) {
            changed.push(format!("{name}:\n  {:?}\n  {texts:?}", base[name]));
        }
    }
    if !changed.is_empty() {
        return Err(format!(
            "{}: {} and {} declare these differently, so one set of bindings cannot \
             serve both:\n{}",
            service.header,
            args.base.name,
            args.newer.name,
            changed.join("\n")
        ));
    }
    let added: Vec<&Declaration> = newer_decls
        .iter()
        .filter(|d| !base.contains_key(&d.name))
        .collect();
    let added_names: BTreeSet<&str> = added.iter().map(|d| d.name.as_str()).collect();
    for d in &added {
        if d.kind == Kind::Enumerator {
            let owner = d.text.split(" :: ").next().unwrap_or_default();
            if !added_names.contains(owner) {
                return Err(format!(
                    "{}: {} adds the constant {} to the existing {owner}; bindgen cannot \
                     emit it alone (choose a newer base release)",
                    service.header, args.newer.name, d.name
                ));
            }
        }
    }

    let section = record
        .headers
        .entry(service.header.to_string())
        .or_default();
    for (name, texts) in &base {
        section.insert(name.clone(), (Origin::Base, texts.clone()));
    }
    for d in &added {
        section
            .entry(d.name.clone())
            .or_insert((Origin::Newer, Vec::new()))
            .1
            .push(d.text.clone());
    }

    let patterns = bindings::Patterns {
        functions: service.functions,
        types: service.types,
        vars: service.vars,
    };
    let base_rs = bindings::generate(
        std::slice::from_ref(&args.base.dir),
        service.header,
        &patterns,
        &optional,
    )?;
    let mut text = if added.is_empty() {
        format!(
            "// Bindings to corosync's {header}, written by scripts/regen-bindings.sh: bindgen's\n\
             // output for the {base} header ({newer} declares nothing more).\n",
            header = service.header,
            base = args.base.name,
            newer = args.newer.name,
        )
    } else {
        format!(
            "// Bindings to corosync's {header}, written by scripts/regen-bindings.sh: bindgen's\n\
             // output for the {base} header, then, below the marker line, for the\n\
             // declarations only {newer} has.\n",
            header = service.header,
            base = args.base.name,
            newer = args.newer.name,
        )
    };
    text.push_str(&base_rs);
    if !added.is_empty() {
        // bindgen's output for the whole newer header, less what the base
        // header declares too: the items, with their derives, exactly as a
        // build from the newer headers would have them.
        let newer_rs = bindings::generate(
            std::slice::from_ref(&args.newer.dir),
            service.header,
            &patterns,
            &optional,
        )?;
        let items = bindings::items(&newer_rs)?;
        if items.iter().map(|(_, t)| t.as_str()).collect::<String>() != newer_rs {
            return Err(format!(
                "{}: the items do not add up to bindgen's output",
                service.header
            ));
        }
        let above: BTreeSet<&str> = base_decls
            .iter()
            .map(|d| d.name.strip_prefix("struct ").unwrap_or(&d.name))
            .collect();
        let newer_items: Vec<&(String, String)> = items
            .iter()
            .filter(|(name, _)| !above.contains(name.as_str()))
            .collect();
        for d in &added {
            let name = d.name.strip_prefix("struct ").unwrap_or(&d.name);
            if d.kind != Kind::Define && !newer_items.iter().any(|(n, _)| n == name) {
                return Err(format!(
                    "{}: bindgen emitted nothing for {name}",
                    service.header
                ));
            }
        }
        text.push_str(bindings::NEWER_MARKER);
        text.push('\n');
        for (_, item) in newer_items {
            // bindgen's own first line is already above.
            text.extend(
                item.lines()
                    .filter(|l| !l.starts_with("/* automatically generated"))
                    .map(|l| format!("{l}\n")),
            );
        }
    }

    // Every function the record lists is declared (but the inline ones,
    // which have no symbol), and none besides.
    let declared: BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("pub fn "))
        .map(|rest| rest.split('(').next().unwrap_or_default())
        .collect();
    let expected: BTreeSet<&str> = base_decls
        .iter()
        .chain(added.iter().copied())
        .filter(|d| d.kind == Kind::Function && !d.text.starts_with("static inline"))
        .map(|d| d.name.as_str())
        .collect();
    if declared != expected {
        return Err(format!(
            "{}: bindgen declared {declared:?} but the header declares {expected:?}",
            service.header
        ));
    }
    Ok(text)
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let mut record = Record::default();
    let mut files = Vec::new();
    for service in std::iter::once(&COMMON).chain(SERVICES) {
        files.push((service.bindings, header(service, &args, &mut record)?));
    }

    let all: String = files.iter().map(|(_, text)| text.as_str()).collect();
    for name in services::optional_names() {
        if !all.contains(&format!("#[cfg(corosync_has_{name})]\nextern \"C\" {{")) {
            return Err(format!(
                "optional function {name} is not in the bindings, gated"
            ));
        }
    }

    let mut disagreements = Vec::new();
    for release in &args.releases {
        for service in std::iter::once(&COMMON).chain(SERVICES) {
            let src = release.read(service.header)?;
            let (mismatches, unknown) = declarations::compare(service.header, &src, &record);
            for m in mismatches {
                disagreements.push(format!(
                    "{}: {} {}: {:?} where the bindings have {:?}",
                    release.name, m.header, m.name, m.found, m.expected
                ));
            }
            for name in unknown {
                disagreements.push(format!(
                    "{}: {} declares {name}, which the bindings lack",
                    release.name, service.header
                ));
            }
        }
    }
    if !disagreements.is_empty() {
        return Err(format!(
            "these releases' headers do not fit the bindings:\n{}",
            disagreements.join("\n")
        ));
    }

    let names: Vec<&str> = args.releases.iter().map(|r| r.name.as_str()).collect();
    let mut declarations_txt = format!(
        "# The declarations the bindings in this folder were generated from, written by\n\
         # scripts/regen-bindings.sh: the {base} headers (=), and what only {newer}\n\
         # adds (+). One line each: the name, a tab, its tokens (comments dropped); enum\n\
         # constants stand alone, with their enum and value. The build compares the\n\
         # installed headers with these. The headers of these releases agree with them:\n",
        base = args.base.name,
        newer = args.newer.name,
    );
    for chunk in names.chunks(8) {
        declarations_txt.push_str(&format!("#   {}\n", chunk.join(" ")));
    }
    declarations_txt.push_str(&record.to_text());
    if Record::parse(&declarations_txt).as_ref() != Ok(&record) {
        return Err("the record does not read back as written".into());
    }

    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    for (file, text) in files {
        let path = args.out.join(file);
        std::fs::write(&path, text).map_err(|e| format!("write {}: {e}", path.display()))?;
    }
    let path = args.out.join("declarations.txt");
    std::fs::write(&path, declarations_txt)
        .map_err(|e| format!("write {}: {e}", path.display()))?;
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("regen_bindings: {e}");
            ExitCode::FAILURE
        }
    }
}
