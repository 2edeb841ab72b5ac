//! The safe crate's public functions, read from its source.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{ImplItem, Item, TraitItem, Visibility};

use super::idents_of;
use super::macros::{expand, rules, Rule};

/// Who a public function belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Owner {
    /// A method or associated function of a type.
    Type(String),
    /// A method of a trait.
    Trait(String),
    /// A free function, with the modules that make it public (their last
    /// path segment; `corosync` for the crate root).
    Module(Vec<String>),
}

/// One public function.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PubFn {
    pub owner: Owner,
    pub name: String,
    /// Whether it takes `self` (can be called as `.name(`).
    pub method: bool,
    /// The file it is written in, relative to the workspace.
    pub file: String,
    /// The identifiers in its parameters' and return types (`Self` as
    /// the owner's name).
    pub signature: Vec<String>,
    /// The `corosync_has_*` flags it needs: named by a `#[cfg]` on it, on
    /// its impl or on a module above it (not under `not` or `any`).
    pub gates: Vec<String>,
}

impl PubFn {
    /// `Type::name`, `Trait::name` or `module::name`.
    pub fn key(&self) -> String {
        match &self.owner {
            Owner::Type(t) | Owner::Trait(t) => format!("{t}::{}", self.name),
            Owner::Module(m) => format!("{}::{}", m[0], self.name),
        }
    }
}

/// Types that come with a type: what an alias stands for, the types of
/// its fields (with the field's or variant's name, which the code must
/// mention), its trait impls' associated types.
#[derive(Debug)]
pub struct Brings {
    pub from: String,
    pub via: Option<String>,
    pub types: Vec<String>,
}

/// The safe crate's public functions, its files and its unit tests.
pub struct Api {
    pub fns: Vec<PubFn>,
    /// The crate's other functions, for what their signatures say.
    pub private_fns: Vec<PubFn>,
    pub brings: Vec<Brings>,
    /// The files of the crate, relative to the workspace.
    pub files: BTreeSet<String>,
    /// The `#[cfg(test)]` items, each with its file.
    pub unit_tests: Vec<(TokenStream, String)>,
}

/// A module: its path, whether it and every module above it are `pub`,
/// its file and where its children's files are.
#[derive(Clone)]
struct ModCtx {
    path: Vec<String>,
    public: bool,
    file: String,
    dir: PathBuf,
    /// The `corosync_has_*` flags its `#[cfg]`s and those above need.
    gates: Vec<String>,
}

/// A function before deciding whether it is public.
struct FnDecl {
    owner: String,
    name: String,
    method: bool,
    signature: Vec<String>,
    /// The module's gates and those of the impl and the function.
    gates: Vec<String>,
    ctx: ModCtx,
}

/// What the crate's items declare.
#[derive(Default)]
struct Decls {
    /// `pub` types and traits, and whether their module is public.
    types: Vec<(String, bool)>,
    /// Trait methods (owner: the trait).
    trait_fns: Vec<FnDecl>,
    /// `pub fn`s of inherent impls (owner: the type).
    methods: Vec<FnDecl>,
    /// Other functions of inherent impls.
    private_methods: Vec<FnDecl>,
    /// `pub fn`s at module level (owner: empty).
    free_fns: Vec<FnDecl>,
    /// Names that public modules `pub use`, and those modules' names.
    reexports: Vec<(String, String)>,
    brings: Vec<Brings>,
    unit_tests: Vec<(TokenStream, String)>,
}

impl Api {
    /// Reads the crate under `root/corosync/src`.
    pub fn read(root: &Path) -> Api {
        let src = root.join("corosync/src");
        let lib = src.join("lib.rs");
        let ctx = ModCtx {
            path: vec!["corosync".into()],
            public: true,
            file: relative(root, &lib),
            dir: src,
            gates: Vec::new(),
        };
        Api::from_items(root, ctx, parse_file(&lib).items)
    }

    /// Reads a crate given as the text of its `lib.rs` (inline modules
    /// only).
    pub fn from_source(text: &str) -> Api {
        let ctx = ModCtx {
            path: vec!["corosync".into()],
            public: true,
            file: "lib.rs".into(),
            dir: PathBuf::new(),
            gates: Vec::new(),
        };
        let file = syn::parse_file(text).expect("the crate's source");
        Api::from_items(Path::new(""), ctx, file.items)
    }

    fn from_items(root: &Path, ctx: ModCtx, items: Vec<Item>) -> Api {
        let mut all = Vec::new();
        load_module(root, ctx, items, &mut all);
        let macros: HashMap<String, Vec<Rule>> = all
            .iter()
            .filter_map(|(_, item)| match item {
                Item::Macro(m) if m.mac.path.is_ident("macro_rules") => {
                    Some((m.ident.as_ref()?.to_string(), rules(m.mac.tokens.clone())))
                }
                _ => None,
            })
            .collect();
        let mut d = Decls::default();
        let mut files = BTreeSet::new();
        for (ctx, item) in all {
            files.insert(ctx.file.clone());
            declare(&ctx, item, &macros, &mut d);
        }

        let reexported: HashSet<&str> = d.reexports.iter().map(|(n, _)| n.as_str()).collect();
        let public: HashSet<&str> = d
            .types
            .iter()
            .filter(|(n, module_public)| *module_public || reexported.contains(n.as_str()))
            .map(|(n, _)| n.as_str())
            .collect();
        let mut fns = BTreeSet::new();
        for (decls, trait_fns) in [(&d.methods, false), (&d.trait_fns, true)] {
            for f in decls.iter().filter(|f| public.contains(f.owner.as_str())) {
                fns.insert(PubFn {
                    owner: if trait_fns {
                        Owner::Trait(f.owner.clone())
                    } else {
                        Owner::Type(f.owner.clone())
                    },
                    name: f.name.clone(),
                    method: f.method,
                    file: f.ctx.file.clone(),
                    signature: f.signature.clone(),
                    gates: f.gates.clone(),
                });
            }
        }
        for f in &d.free_fns {
            let mut modules: Vec<String> = d
                .reexports
                .iter()
                .filter(|(n, _)| *n == f.name)
                .map(|(_, module)| module.clone())
                .collect();
            if f.ctx.public {
                modules.insert(0, f.ctx.path.last().unwrap().clone());
            }
            if !modules.is_empty() {
                fns.insert(PubFn {
                    owner: Owner::Module(modules),
                    name: f.name.clone(),
                    method: false,
                    file: f.ctx.file.clone(),
                    signature: f.signature.clone(),
                    gates: f.gates.clone(),
                });
            }
        }
        let private_fns = d
            .private_methods
            .iter()
            .chain(
                d.methods
                    .iter()
                    .filter(|f| !public.contains(f.owner.as_str())),
            )
            .map(|f| PubFn {
                owner: Owner::Type(f.owner.clone()),
                name: f.name.clone(),
                method: f.method,
                file: f.ctx.file.clone(),
                signature: f.signature.clone(),
                gates: f.gates.clone(),
            })
            .collect();
        Api {
            fns: fns.into_iter().collect(),
            private_fns,
            brings: d.brings,
            files,
            unit_tests: d.unit_tests,
        }
    }
}

fn parse_file(path: &Path) -> syn::File {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    syn::parse_file(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// `path` relative to `root`, for messages.
pub fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Whether `attrs` make an item test-only (`#[cfg(test)]`, or a `cfg`
/// that needs `test`).
fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && match &a.meta {
                syn::Meta::List(list) => {
                    let idents = idents_of(list.tokens.clone());
                    idents.contains("test") && !idents.contains("not") && !idents.contains("any")
                }
                _ => false,
            }
    })
}

/// The `corosync_has_*` flags `attrs` need: those a `#[cfg]` names,
/// unless it has a `not` or an `any` (which need no flag on).
fn gates_of(attrs: &[syn::Attribute]) -> Vec<String> {
    let mut gates: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("cfg"))
        .filter_map(|a| match &a.meta {
            syn::Meta::List(list) => Some(idents_of(list.tokens.clone())),
            _ => None,
        })
        .filter(|idents| !idents.contains("not") && !idents.contains("any"))
        .flatten()
        .filter(|i| i.starts_with("corosync_has_"))
        .collect();
    gates.sort();
    gates
}

fn is_pub(vis: &Visibility) -> bool {
    matches!(vis, Visibility::Public(_))
}

/// Collects the items of a module and of the modules under it, each with
/// its module; `#[cfg(test)]` modules stay whole, for [`declare`].
fn load_module(root: &Path, ctx: ModCtx, items: Vec<Item>, out: &mut Vec<(ModCtx, Item)>) {
    for item in items {
        let Item::Mod(m) = item else {
            out.push((ctx.clone(), item));
            continue;
        };
        if is_cfg_test(&m.attrs) {
            out.push((ctx.clone(), Item::Mod(m)));
            continue;
        }
        // Compiled only for the fuzz targets (`--cfg fuzzing`): not API.
        if m.attrs.iter().any(|a| {
            a.path().is_ident("cfg")
                && matches!(&a.meta, syn::Meta::List(l) if idents_of(l.tokens.clone()).contains("fuzzing"))
        }) {
            continue;
        }
        let name = m.ident.to_string();
        let mut child = ModCtx {
            path: ctx.path.iter().cloned().chain([name.clone()]).collect(),
            public: ctx.public && is_pub(&m.vis),
            file: ctx.file.clone(),
            dir: ctx.dir.join(&name),
            gates: [ctx.gates.clone(), gates_of(&m.attrs)].concat(),
        };
        let items = match m.content {
            Some((_, items)) => items,
            None => {
                let flat = ctx.dir.join(format!("{name}.rs"));
                let path = if flat.is_file() {
                    flat
                } else {
                    ctx.dir.join(&name).join("mod.rs")
                };
                child.file = relative(root, &path);
                parse_file(&path).items
            }
        };
        load_module(root, child, items, out);
    }
}

/// The attributes of `item`.
fn attrs_of(item: &Item) -> &[syn::Attribute] {
    match item {
        Item::Const(i) => &i.attrs,
        Item::Enum(i) => &i.attrs,
        Item::Fn(i) => &i.attrs,
        Item::Impl(i) => &i.attrs,
        Item::Macro(i) => &i.attrs,
        Item::Mod(i) => &i.attrs,
        Item::Static(i) => &i.attrs,
        Item::Struct(i) => &i.attrs,
        Item::Trait(i) => &i.attrs,
        Item::Type(i) => &i.attrs,
        Item::Union(i) => &i.attrs,
        Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

/// Records what `item` declares, expanding macro invocations.
fn declare(ctx: &ModCtx, item: Item, macros: &HashMap<String, Vec<Rule>>, d: &mut Decls) {
    if is_cfg_test(attrs_of(&item)) {
        d.unit_tests
            .push((item.to_token_stream(), ctx.file.clone()));
        return;
    }
    let fn_decl = |owner: &str, sig: &syn::Signature, gates: Vec<String>| FnDecl {
        owner: owner.to_string(),
        name: sig.ident.to_string(),
        method: sig.receiver().is_some(),
        signature: signature(sig, owner),
        gates: [ctx.gates.clone(), gates].concat(),
        ctx: ctx.clone(),
    };
    match item {
        Item::Struct(s) if is_pub(&s.vis) => {
            let name = s.ident.to_string();
            d.types.push((name.clone(), ctx.public));
            fields(&name, None, &s.fields, d);
        }
        Item::Enum(e) if is_pub(&e.vis) => {
            let name = e.ident.to_string();
            d.types.push((name.clone(), ctx.public));
            for v in &e.variants {
                fields(&name, Some(v.ident.to_string()), &v.fields, d);
            }
        }
        Item::Union(u) if is_pub(&u.vis) => d.types.push((u.ident.to_string(), ctx.public)),
        Item::Type(t) if is_pub(&t.vis) => {
            let name = t.ident.to_string();
            d.types.push((name.clone(), ctx.public));
            d.brings.push(Brings {
                from: name,
                via: None,
                types: idents_of(t.ty.to_token_stream()).into_iter().collect(),
            });
        }
        Item::Trait(t) if is_pub(&t.vis) => {
            let name = t.ident.to_string();
            d.types.push((name.clone(), ctx.public));
            for it in &t.items {
                if let TraitItem::Fn(f) = it {
                    let gates = [gates_of(&t.attrs), gates_of(&f.attrs)].concat();
                    d.trait_fns.push(fn_decl(&name, &f.sig, gates));
                }
            }
        }
        Item::Fn(f) if is_pub(&f.vis) => d.free_fns.push(fn_decl("", &f.sig, gates_of(&f.attrs))),
        Item::Impl(i) => {
            let Some(ty) = type_name(&i.self_ty) else {
                return;
            };
            for it in &i.items {
                match it {
                    ImplItem::Fn(f) if is_cfg_test(&f.attrs) => {
                        d.unit_tests.push((f.to_token_stream(), ctx.file.clone()));
                    }
                    ImplItem::Fn(f) if i.trait_.is_none() && is_pub(&f.vis) => {
                        let gates = [gates_of(&i.attrs), gates_of(&f.attrs)].concat();
                        d.methods.push(fn_decl(&ty, &f.sig, gates));
                    }
                    ImplItem::Fn(f) if i.trait_.is_none() => {
                        let gates = [gates_of(&i.attrs), gates_of(&f.attrs)].concat();
                        d.private_methods.push(fn_decl(&ty, &f.sig, gates));
                    }
                    ImplItem::Type(t) => d.brings.push(Brings {
                        from: ty.clone(),
                        via: None,
                        types: idents_of(t.ty.to_token_stream()).into_iter().collect(),
                    }),
                    _ => {}
                }
            }
        }
        Item::Use(u) if is_pub(&u.vis) && ctx.public => {
            let tokens: Vec<_> = u.tree.to_token_stream().into_iter().collect();
            let mut paths = Vec::new();
            super::test_code::use_paths(&tokens, &[], &mut paths);
            for p in paths {
                let module = ctx.path.last().unwrap().clone();
                d.reexports.push((p.last().unwrap().clone(), module));
            }
        }
        Item::Macro(m) if !m.mac.path.is_ident("macro_rules") => {
            let name = m.mac.path.segments.last().unwrap().ident.to_string();
            let Some(rules) = macros.get(&name) else {
                return;
            };
            let expanded = expand(rules, m.mac.tokens.clone())
                .unwrap_or_else(|| panic!("{}: no rule of {name}! matches", ctx.file));
            let file: syn::File = syn::parse2(expanded)
                .unwrap_or_else(|e| panic!("{}: the expansion of {name}!: {e}", ctx.file));
            for item in file.items {
                declare(ctx, item, macros, d);
            }
        }
        _ => {}
    }
}

/// Records the `pub` fields of type `owner` (of its `variant`, for an
/// enum) as what they bring.
fn fields(owner: &str, variant: Option<String>, fields: &syn::Fields, d: &mut Decls) {
    for (n, f) in fields.iter().enumerate() {
        if variant.is_none() && !is_pub(&f.vis) {
            continue;
        }
        let via = match (&f.ident, &variant) {
            (Some(field), _) => Some(field.to_string()),
            (None, Some(variant)) => Some(variant.clone()),
            (None, None) => Some(n.to_string()),
        };
        d.brings.push(Brings {
            from: owner.to_string(),
            via,
            types: idents_of(f.ty.to_token_stream()).into_iter().collect(),
        });
    }
}

/// The identifiers of `sig`'s parameter and return types, `Self` as
/// `owner`.
fn signature(sig: &syn::Signature, owner: &str) -> Vec<String> {
    let mut idents = HashSet::new();
    for input in &sig.inputs {
        if let syn::FnArg::Typed(t) = input {
            idents.extend(idents_of(t.ty.to_token_stream()));
        }
    }
    if let syn::ReturnType::Type(_, ty) = &sig.output {
        idents.extend(idents_of(ty.to_token_stream()));
    }
    idents
        .into_iter()
        .map(|i| if i == "Self" { owner.to_string() } else { i })
        .collect()
}

/// The name of a type (`Foo` for `Foo<'a, T>`, `&Foo`, `path::Foo`).
fn type_name(ty: &syn::Type) -> Option<String> {
    match ty {
        syn::Type::Path(p) => Some(p.path.segments.last()?.ident.to_string()),
        syn::Type::Reference(r) => type_name(&r.elem),
        _ => None,
    }
}
