//! The test code, and what it references.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};

use super::public_api::{relative, Api, Owner, PubFn};

/// What one piece of test code (an outermost function, or what a file
/// has outside its functions) mentions.
#[derive(Default, Debug)]
pub struct Scope {
    /// Where it is, for messages.
    pub origin: String,
    /// The file it is in, relative to the workspace.
    file: String,
    /// The function's name.
    fn_name: Option<String>,
    /// The identifiers of the function's return type.
    returns: HashSet<String>,
    /// Every identifier in it.
    idents: HashSet<String>,
    /// Every string literal in it, unquoted.
    strings: Vec<String>,
    /// `name` of each `.name(` and `.name::<`.
    method_calls: HashSet<String>,
    /// `A::b` pairs, also from `use` paths.
    paths: HashSet<(String, String)>,
    /// `name` of each `name(` that is neither a method nor after `::`.
    calls: HashSet<String>,
    /// The types it names or gets (see [`types_of`]).
    types: HashSet<String>,
}

/// The test code that counts, in scopes.
pub struct TestCode {
    pub scopes: Vec<Scope>,
}

impl TestCode {
    /// Reads the test code of the workspace at `root` (see the test's
    /// docs for what counts), but the test in folder `myself`.
    pub fn read(root: &Path, api: &Api, myself: &str) -> TestCode {
        let mut counted = Vec::new();
        let tests = root.join("tests/tests");
        let mut files = rs_files(&tests);
        for dir in std::fs::read_dir(&tests).unwrap() {
            let dir = dir.unwrap().path();
            if dir.is_dir() && !dir.ends_with(myself) {
                files.extend(rs_files(&dir));
            }
        }
        for path in files {
            counted.extend(scopes_of_file(root, &path));
        }
        for file in &api.files {
            let text = std::fs::read_to_string(root.join(file)).unwrap();
            for (n, code) in runnable_doc_examples(&text).into_iter().enumerate() {
                let tokens = TokenStream::from_str(&code)
                    .unwrap_or_else(|e| panic!("doc example {n} of {file}: {e}"));
                let mut scope = Scope {
                    origin: format!("{file} doc example {n}"),
                    file: file.clone(),
                    ..Scope::default()
                };
                visit(&tokens.into_iter().collect::<Vec<_>>(), &mut scope);
                counted.push(scope);
            }
        }
        for (tokens, file) in &api.unit_tests {
            let toks: Vec<TokenTree> = tokens.clone().into_iter().collect();
            split(&toks, file, &mut counted);
        }

        // The harness's and the kit's functions as counted code calls
        // them, and the harness's programs as counted code names them.
        let mut helpers = Vec::new();
        for dir in ["tests/src", "testkit/src"] {
            for path in rs_files(&root.join(dir)) {
                helpers.extend(scopes_of_file(root, &path));
            }
        }
        let mut programs: Vec<PathBuf> = rs_files(&root.join("tests/src/bin"));
        loop {
            let before = counted.len();
            let mut i = 0;
            while i < helpers.len() {
                let reached = helpers[i]
                    .fn_name
                    .as_ref()
                    .map_or(true, |name| counted.iter().any(|s| s.idents.contains(name)));
                if reached {
                    counted.push(helpers.swap_remove(i));
                } else {
                    i += 1;
                }
            }
            let mut i = 0;
            while i < programs.len() {
                let name = programs[i]
                    .file_stem()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                let named = counted
                    .iter()
                    .any(|s| s.strings.iter().any(|l| program_named(l, &name)));
                if named {
                    let path = programs.swap_remove(i);
                    counted.extend(scopes_of_file(root, &path));
                } else {
                    i += 1;
                }
            }
            if counted.len() == before {
                break;
            }
        }
        TestCode { scopes: counted }.with_types(api)
    }

    /// These scopes with the types each has (see [`types_of`]), also
    /// from what the test code's own functions it calls return (by name).
    pub fn with_types(mut self, api: &Api) -> TestCode {
        let helper_returns: Vec<(String, HashSet<String>)> = self
            .scopes
            .iter()
            .filter_map(|s| Some((s.fn_name.clone()?, s.returns.clone())))
            .filter(|(_, r)| !r.is_empty())
            .collect();
        for s in &mut self.scopes {
            let mut types = s.idents.clone();
            for (name, returns) in &helper_returns {
                if s.idents.contains(name) {
                    types.extend(returns.iter().cloned());
                }
            }
            s.types = types_of(s, types, api);
        }
        self
    }

    /// Where the test code references `f`.
    pub fn referencing<'a>(&'a self, f: &'a PubFn) -> impl Iterator<Item = &'a str> {
        self.scopes
            .iter()
            .filter(move |s| calls(s, f, &s.types))
            .map(|s| s.origin.as_str())
    }
}

/// Whether scope `s`, which names or gets the types `types`, references
/// `f`.
fn calls(s: &Scope, f: &PubFn, types: &HashSet<String>) -> bool {
    match &f.owner {
        Owner::Type(owner) | Owner::Trait(owner) => {
            s.paths.contains(&(owner.clone(), f.name.clone()))
                || (f.method && s.method_calls.contains(&f.name) && types.contains(owner))
        }
        Owner::Module(modules) => {
            modules
                .iter()
                .any(|m| s.paths.contains(&(m.clone(), f.name.clone())))
                || (s.file == f.file && s.calls.contains(&f.name))
        }
    }
}

/// `types` and the types that come with them, until nothing more comes:
/// the types in the signatures of the crate's functions that `s` calls
/// (private ones too, for unit tests),
/// and those that types bring (aliases, fields `s` mentions, associated
/// types).
fn types_of(s: &Scope, mut types: HashSet<String>, api: &Api) -> HashSet<String> {
    loop {
        let mut more: Vec<&String> = api
            .fns
            .iter()
            .chain(&api.private_fns)
            .filter(|f| calls(s, f, &types))
            .flat_map(|f| &f.signature)
            .collect();
        more.extend(
            api.brings
                .iter()
                .filter(|b| {
                    types.contains(&b.from) && b.via.as_ref().map_or(true, |v| s.idents.contains(v))
                })
                .flat_map(|b| &b.types),
        );
        let before = types.len();
        types.extend(more.into_iter().cloned());
        if types.len() == before {
            return types;
        }
    }
}

/// Whether string literal `s` names program `name`: the whole string, a
/// cargo `CARGO_BIN_EXE_` variable, or a path ending in it.
fn program_named(s: &str, name: &str) -> bool {
    s == name || s == format!("CARGO_BIN_EXE_{name}") || s.ends_with(&format!("/{name}"))
}

/// The `.rs` files in `dir` (not below it), sorted.
fn rs_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    files.sort();
    files
}

fn scopes_of_file(root: &Path, path: &Path) -> Vec<Scope> {
    let text = std::fs::read_to_string(path).unwrap();
    scopes_of_text(&text, &relative(root, path))
}

/// The scopes of the code `text`, from file `file`.
pub fn scopes_of_text(text: &str, file: &str) -> Vec<Scope> {
    let tokens = TokenStream::from_str(text).unwrap_or_else(|e| panic!("lex {file}: {e}"));
    let mut out = Vec::new();
    split(&tokens.into_iter().collect::<Vec<_>>(), file, &mut out);
    out
}

/// Splits `toks` into a scope per outermost `fn` and one for the rest.
fn split(toks: &[TokenTree], file: &str, out: &mut Vec<Scope>) {
    let mut rest = Vec::new();
    split_into(toks, &[], file, out, &mut rest);
    let mut scope = Scope {
        origin: format!("{file} (outside functions)"),
        file: file.to_string(),
        ..Scope::default()
    };
    visit(&rest, &mut scope);
    out.push(scope);
}

/// [`split`] of the items in `toks`, inside the `impl` whose header is
/// `header` (empty outside one): a method's scope has its impl's header,
/// which names `Self`.
fn split_into(
    toks: &[TokenTree],
    header: &[TokenTree],
    file: &str,
    out: &mut Vec<Scope>,
    rest: &mut Vec<TokenTree>,
) {
    let mut item_start = 0;
    let mut i = 0;
    while i < toks.len() {
        if let (TokenTree::Ident(kw), Some(TokenTree::Ident(name))) = (&toks[i], toks.get(i + 1)) {
            let end = (i + 2..toks.len()).find(|&j| {
                matches!(&toks[j], TokenTree::Group(g) if g.delimiter() == Delimiter::Brace)
                    || is_punct(toks.get(j), ';')
            });
            if let (true, Some(end)) = (kw == "fn", end) {
                let mut scope = Scope {
                    origin: format!("{file} fn {name}"),
                    file: file.to_string(),
                    fn_name: Some(name.to_string()),
                    ..Scope::default()
                };
                visit(header, &mut scope);
                visit(&toks[i..=end], &mut scope);
                if let Some(arrow) = (i..end).find(|&j| is_punct(toks.get(j), '-')) {
                    let where_at = (arrow..end)
                        .find(|&j| matches!(&toks[j], TokenTree::Ident(w) if w == "where"))
                        .unwrap_or(end);
                    let ret: TokenStream = toks[arrow + 2..where_at].iter().cloned().collect();
                    scope.returns = super::idents_of(ret);
                }
                out.push(scope);
                i = end + 1;
                item_start = i;
                continue;
            }
        }
        match &toks[i] {
            // The body of a module, impl or trait: its functions are
            // scopes of their own. (Other braces, such as a `use` tree's,
            // stay as they are.)
            TokenTree::Group(g)
                if g.delimiter() == Delimiter::Brace
                    && toks[item_start..i].iter().any(
                        |t| matches!(t, TokenTree::Ident(k) if k == "mod" || k == "impl" || k == "trait"),
                    ) =>
            {
                let item = &toks[item_start..i];
                let header = match item
                    .iter()
                    .position(|t| matches!(t, TokenTree::Ident(k) if k == "impl"))
                {
                    Some(at) => &item[at..],
                    None => &[],
                };
                let inner: Vec<TokenTree> = g.stream().into_iter().collect();
                split_into(&inner, header, file, out, rest);
                item_start = i + 1;
            }
            t @ TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => {
                rest.push(t.clone());
                item_start = i + 1;
            }
            t => {
                if is_punct(Some(t), ';') {
                    item_start = i + 1;
                }
                rest.push(t.clone());
            }
        }
        i += 1;
    }
}

fn is_punct(t: Option<&TokenTree>, c: char) -> bool {
    matches!(t, Some(TokenTree::Punct(p)) if p.as_char() == c)
}

/// Whether `toks[i..]` starts with `::`.
fn is_path_sep(toks: &[TokenTree], i: usize) -> bool {
    matches!(toks.get(i), Some(TokenTree::Punct(p)) if p.as_char() == ':' && p.spacing() == Spacing::Joint)
        && is_punct(toks.get(i + 1), ':')
}

/// Records what `toks` (and the groups in them) mention into `s`.
fn visit(toks: &[TokenTree], s: &mut Scope) {
    for (i, t) in toks.iter().enumerate() {
        match t {
            TokenTree::Ident(id) => {
                let id = id.to_string();
                if is_path_sep(toks, i + 1) {
                    if let Some(TokenTree::Ident(b)) = toks.get(i + 3) {
                        s.paths.insert((id.clone(), b.to_string()));
                    }
                }
                let after_dot = i > 0 && is_punct(toks.get(i - 1), '.');
                let after_sep = i > 0 && is_punct(toks.get(i - 1), ':');
                let after_fn = i > 0 && matches!(&toks[i - 1], TokenTree::Ident(k) if k == "fn");
                let call = matches!(toks.get(i + 1), Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis);
                let turbofish = is_path_sep(toks, i + 1) && is_punct(toks.get(i + 3), '<');
                if after_dot && (call || turbofish) {
                    s.method_calls.insert(id.clone());
                }
                if call && !after_dot && !after_sep && !after_fn {
                    s.calls.insert(id.clone());
                }
                if id == "use" {
                    let end = (i..toks.len())
                        .find(|&j| is_punct(toks.get(j), ';'))
                        .unwrap_or(toks.len());
                    let mut paths = Vec::new();
                    use_paths(&toks[i + 1..end], &[], &mut paths);
                    for p in paths {
                        for w in p.windows(2) {
                            s.paths.insert((w[0].clone(), w[1].clone()));
                        }
                    }
                }
                s.idents.insert(id);
            }
            TokenTree::Literal(l) => {
                let l = l.to_string();
                if let Some(inner) = l.strip_prefix('"').and_then(|l| l.strip_suffix('"')) {
                    s.strings.push(inner.to_string());
                }
            }
            TokenTree::Group(g) => visit(&g.stream().into_iter().collect::<Vec<_>>(), s),
            TokenTree::Punct(_) => {}
        }
    }
}

/// The paths a `use` tree names (`a::{b, c::d}` gives `a::b` and
/// `a::c::d`); a renamed import is its original path, a glob its module.
pub fn use_paths(toks: &[TokenTree], prefix: &[String], out: &mut Vec<Vec<String>>) {
    let mut path = prefix.to_vec();
    for t in toks {
        match t {
            TokenTree::Ident(id) if id == "as" => break,
            TokenTree::Ident(id) => path.push(id.to_string()),
            TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => {
                let inner: Vec<TokenTree> = g.stream().into_iter().collect();
                for part in inner.split(|t| is_punct(Some(t), ',')) {
                    use_paths(part, &path, out);
                }
                return;
            }
            _ => {}
        }
    }
    if path.len() > prefix.len() {
        out.push(path);
    }
}

/// The code of the doc examples in `text`'s doc comments that rustdoc
/// runs, hidden lines included.
pub fn runnable_doc_examples(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    // In a fenced block: whether it runs, and its code so far.
    let mut block: Option<(bool, String)> = None;
    for line in text.lines() {
        let t = line.trim_start();
        let Some(doc) = t.strip_prefix("///").or_else(|| t.strip_prefix("//!")) else {
            block = None;
            continue;
        };
        let doc = doc.strip_prefix(' ').unwrap_or(doc);
        if let Some(info) = doc.trim_start().strip_prefix("```") {
            match block.take() {
                Some((true, code)) => out.push(code),
                Some((false, _)) => {}
                None => {
                    let runs = info.split(',').map(str::trim).all(|w| {
                        matches!(
                            w,
                            "" | "rust"
                                | "should_panic"
                                | "edition2018"
                                | "edition2021"
                                | "edition2024"
                        )
                    });
                    block = Some((runs, String::new()));
                }
            }
            continue;
        }
        if let Some((_, code)) = &mut block {
            let shown = match doc.trim_start() {
                "#" => "",
                l if l.starts_with("# ") => &l[2..],
                _ => doc,
            };
            code.push_str(shown);
            code.push('\n');
        }
    }
    out
}
