//! `macro_rules!` expansion, as far as the safe crate's item macros need:
//! matchers of tokens, groups, `$name:kind` fragments and `$( ... ) sep op`
//! repetitions. A fragment of a kind other than `ident`, `literal` and
//! `tt` (`ty`, `meta`, `expr`, ...) takes the tokens up to the next token
//! the matcher expects after it.

use std::collections::HashMap;

use proc_macro2::{Delimiter, Group, Ident, Span, TokenStream, TokenTree};

use super::idents_of;

/// One rule: what it matches, what it becomes.
pub struct Rule {
    matcher: Vec<Pat>,
    body: Vec<TokenTree>,
}

/// One element of a matcher.
#[derive(Debug)]
enum Pat {
    /// A token that must be there as written.
    Tok(String),
    /// `$name:kind`.
    Frag(String, String),
    /// A delimited group.
    Group(Delimiter, Vec<Pat>),
    /// `$( ... ) sep op`.
    Rep(Vec<Pat>, Option<String>, char),
}

/// What a matcher bound: tokens, or one binding per repetition.
#[derive(Clone, Debug)]
enum Binding {
    One(Vec<TokenTree>),
    Many(Vec<HashMap<String, Binding>>),
}

/// The rules of a `macro_rules!` definition (the tokens inside its
/// braces).
pub fn rules(tokens: TokenStream) -> Vec<Rule> {
    let toks: Vec<TokenTree> = tokens.into_iter().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 3 < toks.len() {
        let (TokenTree::Group(m), TokenTree::Group(b)) = (&toks[i], &toks[i + 3]) else {
            panic!("macro_rules! rule not understood: {}", toks[i]);
        };
        out.push(Rule {
            matcher: pattern(&m.stream().into_iter().collect::<Vec<_>>()),
            body: b.stream().into_iter().collect(),
        });
        i += 4;
        if matches!(toks.get(i), Some(TokenTree::Punct(p)) if p.as_char() == ';') {
            i += 1;
        }
    }
    out
}

/// A matcher's elements.
fn pattern(toks: &[TokenTree]) -> Vec<Pat> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        match (&toks[i], toks.get(i + 1)) {
            (TokenTree::Punct(p), Some(TokenTree::Ident(name))) if p.as_char() == '$' => {
                // `$name:kind`
                let kind = toks[i + 3].to_string();
                out.push(Pat::Frag(name.to_string(), kind));
                i += 4;
            }
            (TokenTree::Punct(p), Some(TokenTree::Group(g))) if p.as_char() == '$' => {
                let sub = pattern(&g.stream().into_iter().collect::<Vec<_>>());
                let op_at = |t: Option<&TokenTree>| match t {
                    Some(TokenTree::Punct(p)) if "*+?".contains(p.as_char()) => Some(p.as_char()),
                    _ => None,
                };
                if let Some(op) = op_at(toks.get(i + 2)) {
                    out.push(Pat::Rep(sub, None, op));
                    i += 3;
                } else {
                    let op = op_at(toks.get(i + 3)).expect("a repetition operator");
                    out.push(Pat::Rep(sub, Some(toks[i + 2].to_string()), op));
                    i += 4;
                }
            }
            (TokenTree::Group(g), _) => {
                let sub = pattern(&g.stream().into_iter().collect::<Vec<_>>());
                out.push(Pat::Group(g.delimiter(), sub));
                i += 1;
            }
            (t, _) => {
                out.push(Pat::Tok(t.to_string()));
                i += 1;
            }
        }
    }
    out
}

/// The first rule of `rules` that matches `input`, transcribed.
pub fn expand(rules: &[Rule], input: TokenStream) -> Option<TokenStream> {
    let toks: Vec<TokenTree> = input.into_iter().collect();
    for rule in rules {
        let mut bindings = HashMap::new();
        if match_prefix(&rule.matcher, &toks, None, &mut bindings) == Some(toks.len()) {
            let mut out = Vec::new();
            transcribe(&rule.body, &bindings, &mut out);
            return Some(out.into_iter().collect());
        }
    }
    None
}

/// Matches `pats` against the start of `toks`; how many tokens they took.
/// `follow` is the token expected after them (where a fragment such as
/// `$t:ty` stops when nothing in `pats` follows it).
fn match_prefix(
    pats: &[Pat],
    toks: &[TokenTree],
    follow: Option<&str>,
    b: &mut HashMap<String, Binding>,
) -> Option<usize> {
    let mut at = 0;
    for (k, pat) in pats.iter().enumerate() {
        // The next literal token in this sequence, else `follow`.
        let next_tok = pats[k + 1..]
            .iter()
            .find_map(|p| match p {
                Pat::Tok(t) => Some(t.as_str()),
                _ => None,
            })
            .or(follow);
        match pat {
            Pat::Tok(t) => {
                if toks.get(at)?.to_string() != *t {
                    return None;
                }
                at += 1;
            }
            Pat::Frag(name, kind) => {
                let n = match kind.as_str() {
                    "ident" => matches!(toks.get(at)?, TokenTree::Ident(_)) as usize,
                    "literal" => matches!(toks.get(at)?, TokenTree::Literal(_)) as usize,
                    "tt" => toks.get(at).map_or(0, |_| 1),
                    _ => toks[at..]
                        .iter()
                        .position(|t| Some(t.to_string().as_str()) == next_tok)
                        .unwrap_or(toks.len() - at),
                };
                if n == 0 {
                    return None;
                }
                b.insert(name.clone(), Binding::One(toks[at..at + n].to_vec()));
                at += n;
            }
            Pat::Group(delim, sub) => {
                let TokenTree::Group(g) = toks.get(at)? else {
                    return None;
                };
                let inner: Vec<TokenTree> = g.stream().into_iter().collect();
                if g.delimiter() != *delim || match_prefix(sub, &inner, None, b)? != inner.len() {
                    return None;
                }
                at += 1;
            }
            Pat::Rep(sub, sep, op) => {
                let stop = sep.as_deref().or(next_tok);
                let mut iterations = Vec::new();
                loop {
                    let mut here = at;
                    if !iterations.is_empty() {
                        if let Some(sep) = sep {
                            if toks.get(here).map(|t| t.to_string()).as_deref() != Some(sep) {
                                break;
                            }
                            here += 1;
                        }
                    }
                    let mut ib = HashMap::new();
                    match match_prefix(sub, &toks[here.min(toks.len())..], stop, &mut ib) {
                        Some(n) if n > 0 => {
                            iterations.push(ib);
                            at = here + n;
                        }
                        _ => break,
                    }
                    if *op == '?' {
                        break;
                    }
                }
                if *op == '+' && iterations.is_empty() {
                    return None;
                }
                let mut names = Vec::new();
                frag_names(sub, &mut names);
                for name in names {
                    let each = iterations
                        .iter()
                        .map(|ib| {
                            let mut one = HashMap::new();
                            if let Some(v) = ib.get(&name) {
                                one.insert(name.clone(), v.clone());
                            }
                            one
                        })
                        .collect();
                    b.insert(name, Binding::Many(each));
                }
            }
        }
    }
    Some(at)
}

/// The names of the fragments in `pats`.
fn frag_names(pats: &[Pat], out: &mut Vec<String>) {
    for p in pats {
        match p {
            Pat::Frag(name, _) => out.push(name.clone()),
            Pat::Group(_, sub) | Pat::Rep(sub, _, _) => frag_names(sub, out),
            Pat::Tok(_) => {}
        }
    }
}

/// Writes `body` with the fragments `b` bound into `out`.
fn transcribe(body: &[TokenTree], b: &HashMap<String, Binding>, out: &mut Vec<TokenTree>) {
    let mut i = 0;
    while i < body.len() {
        match (&body[i], body.get(i + 1)) {
            (TokenTree::Punct(p), Some(TokenTree::Ident(name))) if p.as_char() == '$' => {
                let name = name.to_string();
                match b.get(&name) {
                    Some(Binding::One(toks)) => out.extend(toks.iter().cloned()),
                    _ if name == "crate" => {
                        out.push(TokenTree::Ident(Ident::new("crate", Span::call_site())));
                    }
                    other => panic!("${name} is {other:?} here"),
                }
                i += 2;
            }
            (TokenTree::Punct(p), Some(TokenTree::Group(g))) if p.as_char() == '$' => {
                let inner: Vec<TokenTree> = g.stream().into_iter().collect();
                let (sep, skip) = match body.get(i + 2) {
                    Some(TokenTree::Punct(p)) if "*+?".contains(p.as_char()) => (None, 3),
                    other => (other.cloned(), 4),
                };
                // The repeated variables used inside, and their count.
                let used = idents_of(g.stream());
                let count = b
                    .iter()
                    .filter(|(name, _)| used.contains(name.as_str()))
                    .find_map(|(_, v)| match v {
                        Binding::Many(each) => Some(each.len()),
                        Binding::One(_) => None,
                    })
                    .unwrap_or(0);
                for n in 0..count {
                    if n > 0 {
                        out.extend(sep.iter().cloned());
                    }
                    let mut one = b.clone();
                    for (name, v) in b {
                        if let Binding::Many(each) = v {
                            if let Some(v) = each[n].get(name) {
                                one.insert(name.clone(), v.clone());
                            }
                        }
                    }
                    transcribe(&inner, &one, out);
                }
                i += skip;
            }
            (TokenTree::Group(g), _) => {
                let mut inner = Vec::new();
                transcribe(&g.stream().into_iter().collect::<Vec<_>>(), b, &mut inner);
                let mut group = Group::new(g.delimiter(), inner.into_iter().collect());
                group.set_span(g.span());
                out.push(TokenTree::Group(group));
                i += 1;
            }
            (t, _) => {
                out.push(t.clone());
                i += 1;
            }
        }
    }
}
