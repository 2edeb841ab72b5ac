//! Reads C headers as text: the top-level declarations of a corosync header,
//! each under its name and in a normalized form (comments dropped, one space
//! between tokens), and the comparison of installed headers with the
//! declarations the committed bindings were generated from.
//!
//! Used by the build script, by its tests and by the bindings generator, so
//! all three read headers the same way. Pure `std`, no parser crates.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// What a top-level declaration declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `#define NAME ...`
    Define,
    /// A function prototype or definition (`static inline`).
    Function,
    /// A typedef, or a tagged `struct`/`union`/`enum` (named `struct x`).
    Type,
    /// A constant of an enum, named by itself; its text names the enum and
    /// the value (`cpg_guarantee_t :: CPG_TYPE_FIFO = 0 + 1`). The enum's own
    /// declaration keeps an empty body, so a release that adds a constant
    /// changes no other declaration.
    Enumerator,
    /// Anything else at file scope (named by its last identifier).
    Other,
}

/// One top-level declaration of a header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Declaration {
    /// The declared name (`cpg_initialize`, `cpg_handle_t`, `struct cpg_name`,
    /// `CPG_MAX_NAME_LENGTH`).
    pub name: String,
    /// What it is.
    pub kind: Kind,
    /// Its tokens joined by single spaces, comments removed.
    pub text: String,
}

/// Joins continued lines and replaces each comment by one space, keeping
/// string and character literals intact (C translation phases 2 and 3).
fn strip_comments(src: &str) -> String {
    let spliced = src.replace("\\\r\n", "").replace("\\\n", "");
    let mut out = String::with_capacity(spliced.len());
    let mut chars = spliced.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut prev = '\0';
                for d in chars.by_ref() {
                    if prev == '*' && d == '/' {
                        break;
                    }
                    prev = d;
                }
                out.push(' ');
            }
            '/' if chars.peek() == Some(&'/') => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '"' | '\'' => {
                out.push(c);
                while let Some(d) = chars.next() {
                    out.push(d);
                    if d == '\\' {
                        if let Some(e) = chars.next() {
                            out.push(e);
                        }
                    } else if d == c || d == '\n' {
                        break;
                    }
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// Splits C text (without comments) into tokens: identifiers, numbers,
/// string and character literals, and single punctuation characters.
fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if c.is_whitespace() {
            continue;
        }
        let mut end = start + c.len_utf8();
        if c.is_ascii_alphanumeric() || c == '_' {
            while let Some(&(i, d)) = chars.peek() {
                if d.is_ascii_alphanumeric() || d == '_' || (c.is_ascii_digit() && d == '.') {
                    end = i + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
        } else if c == '"' || c == '\'' {
            while let Some((i, d)) = chars.next() {
                end = i + d.len_utf8();
                if d == '\\' {
                    if let Some((j, e)) = chars.next() {
                        end = j + e.len_utf8();
                    }
                } else if d == c {
                    break;
                }
            }
        }
        out.push(text[start..end].to_string());
    }
    out
}

fn is_identifier(token: &str) -> bool {
    token
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
}

/// The top-level declarations of a C header: its `#define`s, then its
/// statements (outside the preprocessor lines), each in header order. The
/// other directives are dropped, and so is what the C++ guard encloses
/// (`#ifdef __cplusplus extern "C" { #endif`); both branches of any other
/// `#if` are read.
pub fn declarations(src: &str) -> Vec<Declaration> {
    let text = strip_comments(src);
    let mut out = Vec::new();
    let mut code = Vec::new();
    let mut in_cplusplus = 0usize;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(directive) = trimmed.strip_prefix('#') {
            let words = tokens(directive);
            let keyword = words.first().map(String::as_str).unwrap_or_default();
            match keyword {
                "if" | "ifdef" | "ifndef"
                    if in_cplusplus > 0 || words.iter().any(|w| w == "__cplusplus") =>
                {
                    in_cplusplus += 1;
                }
                "endif" if in_cplusplus > 0 => in_cplusplus -= 1,
                "define" if in_cplusplus == 0 && words.len() >= 2 => {
                    out.push(Declaration {
                        name: words[1].clone(),
                        kind: Kind::Define,
                        text: format!("# {}", words.join(" ")),
                    });
                }
                _ => {}
            }
            continue;
        }
        if in_cplusplus == 0 {
            code.extend(tokens(line));
        }
    }
    split_statements(&code, &mut out);
    out
}

/// Cuts a token stream into file-scope statements: each ends with `;` at
/// nesting depth 0, or with the `}` closing a function body.
fn split_statements(code: &[String], out: &mut Vec<Declaration>) {
    let mut start = 0;
    let mut depth = 0usize;
    let mut body = false;
    for (i, token) in code.iter().enumerate() {
        match token.as_str() {
            "(" | "[" => depth += 1,
            ")" | "]" => depth = depth.saturating_sub(1),
            "{" => {
                if depth == 0 && i > start && code[i - 1] == ")" {
                    body = true;
                }
                depth += 1;
            }
            "}" => {
                depth = depth.saturating_sub(1);
                if depth == 0 && body {
                    out.push(statement(&code[start..=i]));
                    start = i + 1;
                    body = false;
                }
            }
            ";" if depth == 0 => {
                let (decl, enumerators) = split_enum(&code[start..=i]);
                let enum_name = decl.name.clone();
                out.push(decl);
                out.extend(enumerators.into_iter().map(|(name, value)| Declaration {
                    text: format!("{enum_name} :: {name} = {value}"),
                    name,
                    kind: Kind::Enumerator,
                }));
                start = i + 1;
            }
            _ => {}
        }
    }
}

/// Takes the constants out of an enum's body: returns the statement with
/// `enum [tag] { }` and each constant's name and value. An implicit value is
/// written as the previous explicit one plus its distance (`0 + 1` when
/// there is none).
fn split_enum(tokens: &[String]) -> (Declaration, Vec<(String, String)>) {
    let Some(open) = tokens
        .windows(3)
        .position(|w| w[0] == "enum" && (w[1] == "{" || (is_identifier(&w[1]) && w[2] == "{")))
    else {
        return (statement(tokens), Vec::new());
    };
    let open = if tokens[open + 1] == "{" {
        open + 1
    } else {
        open + 2
    };
    let mut depth = 0usize;
    let mut close = open;
    for (i, token) in tokens.iter().enumerate().skip(open) {
        match token.as_str() {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" | "}" => {
                depth -= 1;
                if depth == 0 {
                    close = i;
                    break;
                }
            }
            _ => {}
        }
    }
    let body = &tokens[open + 1..close];
    let mut parts = Vec::new();
    let mut part_start = 0;
    let mut depth = 0usize;
    for (i, token) in body.iter().enumerate() {
        match token.as_str() {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" | "}" => depth = depth.saturating_sub(1),
            "," if depth == 0 => {
                parts.push(&body[part_start..i]);
                part_start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&body[part_start..]);
    let mut constants = Vec::new();
    let mut base: Option<String> = None;
    let mut distance = 0u32;
    for part in parts.into_iter().filter(|p| !p.is_empty()) {
        let value = if part.get(1).is_some_and(|t| t == "=") {
            let expr = part[2..].join(" ");
            base = Some(expr.clone());
            distance = 0;
            expr
        } else if let Some(base) = &base {
            distance += 1;
            format!("{base} + {distance}")
        } else {
            distance += 1;
            format!("{}", distance - 1)
        };
        constants.push((part[0].clone(), value));
    }
    let mut emptied: Vec<String> = tokens[..=open].to_vec();
    emptied.extend_from_slice(&tokens[close..]);
    (statement(&emptied), constants)
}

/// Names and classifies one statement.
fn statement(tokens: &[String]) -> Declaration {
    let text = tokens.join(" ");
    let is_typedef = tokens.first().is_some_and(|t| t == "typedef");
    // Identifiers and parenthesis groups at depth 0.
    let mut depth = 0usize;
    let mut last_ident: Option<&str> = None;
    let mut function_name: Option<&str> = None;
    let mut pointer_typedef: Option<&str> = None;
    for (i, token) in tokens.iter().enumerate() {
        match token.as_str() {
            "(" => {
                if depth == 0 {
                    if is_typedef {
                        if let [star, name, close, ..] = &tokens[i + 1..] {
                            if star == "*" && is_identifier(name) && close == ")" {
                                pointer_typedef.get_or_insert(name);
                            }
                        }
                    } else if function_name.is_none() {
                        function_name = last_ident;
                    }
                }
                depth += 1;
            }
            "[" | "{" => depth += 1,
            ")" | "]" | "}" => depth = depth.saturating_sub(1),
            t if depth == 0 && is_identifier(t) => last_ident = Some(t),
            _ => {}
        }
    }
    let tagged = match tokens {
        [tag, name, rest @ ..]
            if matches!(tag.as_str(), "struct" | "union" | "enum")
                && is_identifier(name)
                && rest.first().map_or(true, |t| t == "{" || t == ";") =>
        {
            Some(format!("{tag} {name}"))
        }
        _ => None,
    };
    let (name, kind) = if is_typedef {
        (
            pointer_typedef.or(last_ident).map(str::to_string),
            Kind::Type,
        )
    } else if let Some(tagged) = tagged {
        (Some(tagged), Kind::Type)
    } else if let Some(name) = function_name {
        (Some(name.to_string()), Kind::Function)
    } else {
        (last_ident.map(str::to_string), Kind::Other)
    };
    Declaration {
        name: name.unwrap_or_default(),
        kind,
        text,
    }
}

/// The functions a header declares or defines, by name.
pub fn functions(src: &str) -> Vec<String> {
    declarations(src)
        .into_iter()
        .filter(|d| d.kind == Kind::Function)
        .map(|d| d.name)
        .collect()
}

/// Declarations by name; a name declared more than once (a forward
/// declaration and a definition, or two `#if` branches) keeps all of them
/// in order.
pub type ByName = BTreeMap<String, Vec<String>>;

/// Groups declarations by name.
pub fn by_name(declarations: &[Declaration]) -> ByName {
    let mut map = ByName::new();
    for d in declarations {
        map.entry(d.name.clone()).or_default().push(d.text.clone());
    }
    map
}

/// Where a recorded declaration comes from: the headers the main bindings
/// were generated from, or only newer headers (the bindings' additions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Declared by the base release's headers.
    Base,
    /// Declared only by the newer headers.
    Newer,
}

/// The declarations the committed bindings were generated from, per header:
/// the text of `src/pregenerated/declarations.txt`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    /// Header file name (`cpg.h`) → declaration name → (origin, texts).
    pub headers: BTreeMap<String, BTreeMap<String, (Origin, Vec<String>)>>,
}

impl Record {
    /// Parses the record's text format: `[header.h]` section lines, then one
    /// line per declaration: `=` (base) or `+` (newer only), a space, the
    /// name, a tab, the normalized text. `#` starts a comment line.
    pub fn parse(text: &str) -> Result<Record, String> {
        let mut record = Record::default();
        let mut header: Option<String> = None;
        for (n, line) in text.lines().enumerate() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                record.headers.entry(name.to_string()).or_default();
                header = Some(name.to_string());
                continue;
            }
            let bad = || format!("line {}: not a declaration line: {line:?}", n + 1);
            let origin = match line.get(..2) {
                Some("= ") => Origin::Base,
                Some("+ ") => Origin::Newer,
                _ => return Err(bad()),
            };
            let (name, decl) = line[2..].split_once('\t').ok_or_else(bad)?;
            let section = header.as_ref().ok_or_else(bad)?;
            let entry = record
                .headers
                .get_mut(section)
                .expect("section exists")
                .entry(name.to_string())
                .or_insert((origin, Vec::new()));
            entry.1.push(decl.to_string());
        }
        Ok(record)
    }

    /// The record's text format (see [`Record::parse`]), without comments.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (header, decls) in &self.headers {
            let _ = writeln!(out, "[{header}]");
            for (name, (origin, texts)) in decls {
                let mark = match origin {
                    Origin::Base => '=',
                    Origin::Newer => '+',
                };
                for text in texts {
                    let _ = writeln!(out, "{mark} {name}\t{text}");
                }
            }
        }
        out
    }
}

/// A difference between an installed header and the record that makes the
/// committed bindings unusable with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// The header file name.
    pub header: String,
    /// The declaration's name.
    pub name: String,
    /// What the committed bindings were generated from.
    pub expected: Vec<String>,
    /// What the installed header says.
    pub found: Vec<String>,
}

/// Compares an installed header with the recorded declarations of the same
/// header. A declaration the record has under the same name must be equal
/// token for token; the record's declarations the header lacks (functions of
/// other releases) and the header's declarations the record lacks (newer
/// additions the bindings do not cover) are not mismatches. Returns the
/// mismatches and the names the record lacks.
pub fn compare(header: &str, installed_src: &str, record: &Record) -> (Vec<Mismatch>, Vec<String>) {
    let installed = by_name(&declarations(installed_src));
    let empty = BTreeMap::new();
    let recorded = record.headers.get(header).unwrap_or(&empty);
    let mut mismatches = Vec::new();
    let mut unknown = Vec::new();
    for (name, found) in &installed {
        match recorded.get(name) {
            Some((_, expected)) if expected == found => {}
            Some((_, expected)) => mismatches.push(Mismatch {
                header: header.to_string(),
                name: name.clone(),
                expected: expected.clone(),
                found: found.clone(),
            }),
            None => unknown.push(name.clone()),
        }
    }
    (mismatches, unknown)
}
