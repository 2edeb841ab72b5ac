//! Every public function and method of the safe crate is referenced by a
//! test.
//!
//! **What is listed.** The crate's source (`corosync/src`, every file its
//! module tree reaches, whatever cargo feature or corosync version gates
//! it) is parsed and its item-level `macro_rules!` invocations expanded
//! (`impl_handle!` gives each handle `dispatch`, `finalize`, …;
//! `typed_accessors!` gives `Cmap` `get_u8`, …). Listed: free `pub fn`s,
//! the `pub fn`s of inherent impls of public types, and the methods of
//! public traits the crate defines. A type, trait or function is public
//! when it is `pub` (not `pub(crate)`, `pub(super)`) and either every
//! module above it is `pub` or a public module `pub use`s its name. Left
//! out: `#[cfg(test)]` code, and impls of other crates' traits (`Display`,
//! `From`, `Iterator::next`, `Stream::poll_next`, `Drop`, …).
//!
//! **Gated out.** A function behind a `corosync_has_*` flag (a `#[cfg]` on
//! it, its impl or a module above it) that is off in this build — the
//! installed corosync lacks the C function, so no test here can call it —
//! need not be referenced; `API_COVERAGE_LIST` shows it as gated out. Built
//! against a corosync that has the function, the flag is on and a test must
//! reference it like any other.
//!
//! **What counts as test code.** `tests/tests/*.rs` and the other
//! tests' folders there (not this one);
//! `#[cfg(test)]` items in `corosync/src`; the doc examples there that
//! run (fences without `no_run`, `ignore`, `compile_fail` or another
//! language); functions of the harness (`tests/src`) and of the test kit
//! (`testkit/src`) that counted code names, as far as that reaches; and harness programs
//! (`tests/src/bin/NAME.rs`) whose name counted code spells in a string
//! (`CARGO_BIN_EXE_NAME`, `harness_binary("NAME")`). Not the examples or
//! the tools, though some tests run them. Comments and doc comments are
//! no code.
//!
//! **What counts as a reference**, in that code's tokens, macro arguments
//! (`assert!(...)`) included, per scope (an outermost `fn` with, for a
//! method, its `impl` header; or what a file has outside its functions):
//! - `Owner::name`: a type's or trait's function, or a free function with
//!   a module that makes it public as its owner (`tokio::retry_async`,
//!   `corosync::retry` for the crate root); a `use` that imports the name
//!   counts as that path (an unused import fails the lints);
//! - `.name(` or `.name::<` for a method with `self`, when the scope names
//!   or gets its owner type (its trait, for a trait method). A scope gets
//!   the types in the signatures of the crate's functions it references
//!   (`Cpg::builder()` gets `CpgBuilder`, `on_deliver(|cpg, m| …)` gets
//!   `Message`; private functions too, for unit tests), the types of the
//!   public fields it mentions of the types it has
//!   (`CpgEvent::Message { data, .. }` gets `Payload`), what aliases and
//!   associated types stand for, and what the test code's own functions
//!   it calls return (by name), until nothing more comes. So a
//!   method that several types have (`finalize`, `leave`, `with`, …)
//!   counts for those the test has in hand, not for all;
//! - `name(` in a unit test, for a free function of its own file.
//!
//! **Known limits.** It reads names, not types: a scope that has two
//! types with a same-named method counts a call of it for both, and the
//! types it gets are more than it holds (all of a called function's
//! signature, parameters too); the harness's functions are reached by
//! name, a harness program counts whole. It checks that each function is referenced, not that the test
//! asserts what the function did (that is review's part). Macros other
//! than item-level `macro_rules!` are not expanded; the expander knows
//! what this crate's macros use, and fails the test on one it cannot
//! match.

mod macros;
mod public_api;
mod test_code;

use std::collections::HashSet;
use std::path::Path;

use proc_macro2::{TokenStream, TokenTree};

use public_api::Api;
use test_code::TestCode;

/// Public functions no test need reference, each with why. Keep it
/// empty: a function worth exporting is worth a test.
const NOT_TESTED: &[(&str, &str)] = &[];

#[test]
fn every_public_function_of_the_safe_crate_is_referenced_by_a_test() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace");
    let api = Api::read(root);
    // (A reader that lost its way in the module tree would find few.)
    assert!(
        api.fns.len() > 200,
        "only {} public functions found",
        api.fns.len()
    );
    let code = TestCode::read(root, &api, "api_coverage");
    // (A gate reader gone wrong could excuse anything: with any supported
    // corosync, only a few functions are gated out.)
    let gated = api.fns.iter().filter(|f| gated_out(f).is_some()).count();
    assert!(gated < 20, "{gated} public functions are gated out");
    // `API_COVERAGE_LIST=1 cargo test -p corosync-tests --test
    // api_coverage -- --nocapture` prints where each is referenced.
    let list = std::env::var_os("API_COVERAGE_LIST").is_some();
    let mut missing = Vec::new();
    for f in &api.fns {
        let at: Vec<&str> = code.referencing(f).collect();
        let allowed = NOT_TESTED.iter().any(|(name, _)| *name == f.key());
        let off = gated_out(f);
        if list {
            match off {
                Some(flag) => println!("{}: gated out ({flag} is off)", f.key()),
                None => println!("{}: {}", f.key(), at.join(", ")),
            }
        }
        assert!(
            !allowed || at.is_empty(),
            "{} is on NOT_TESTED, but {} references it",
            f.key(),
            at[0]
        );
        if at.is_empty() && !allowed && off.is_none() {
            missing.push(format!("{} ({})", f.key(), f.file));
        }
    }
    for (name, _) in NOT_TESTED {
        assert!(
            api.fns.iter().any(|f| f.key() == *name),
            "NOT_TESTED names {name}, which is not a public function"
        );
    }
    assert!(
        missing.is_empty(),
        "{} public functions of the safe crate are referenced by no test:\n  {}",
        missing.len(),
        missing.join("\n  ")
    );
}

/// The first of `f`'s `corosync_has_*` flags that is off in this build.
fn gated_out(f: &public_api::PubFn) -> Option<&str> {
    f.gates
        .iter()
        .map(String::as_str)
        .find(|flag| !flag_on(flag))
}

/// Whether this build has `flag` (corosync-sys's record of what the
/// installed headers declare, which the safe crate follows).
fn flag_on(flag: &str) -> bool {
    use corosync_sys::optional as has;
    match flag.strip_prefix("corosync_has_") {
        Some("quorum_model_initialize") => has::QUORUM_MODEL_INITIALIZE,
        Some("corosync_cfg_node_status_get") => has::COROSYNC_CFG_NODE_STATUS_GET,
        Some("corosync_cfg_trackstart") => has::COROSYNC_CFG_TRACKSTART,
        Some("corosync_cfg_trackstop") => has::COROSYNC_CFG_TRACKSTOP,
        Some("votequorum_model_initialize") => has::VOTEQUORUM_MODEL_INITIALIZE,
        Some("votequorum_get_qdevice_extra_info") => has::VOTEQUORUM_GET_QDEVICE_EXTRA_INFO,
        Some("votequorum_set_qdevice_extra_info") => has::VOTEQUORUM_SET_QDEVICE_EXTRA_INFO,
        _ => panic!("api_coverage does not know the flag {flag}: add it to flag_on"),
    }
}

/// The identifiers in `tokens`, groups included.
fn idents_of(tokens: TokenStream) -> HashSet<String> {
    let mut out = HashSet::new();
    for t in tokens {
        match t {
            TokenTree::Ident(i) => {
                out.insert(i.to_string());
            }
            TokenTree::Group(g) => out.extend(idents_of(g.stream())),
            _ => {}
        }
    }
    out
}

// The rules above, on small crates.

/// The keys of `api`'s functions that `tests` (a test file's text)
/// references.
fn referenced(api: &Api, tests: &str) -> Vec<String> {
    let code = TestCode {
        scopes: test_code::scopes_of_text(tests, "t.rs"),
    };
    let code = code.with_types(api);
    let mut keys: Vec<String> = api
        .fns
        .iter()
        .filter(|f| code.referencing(f).next().is_some())
        .map(|f| f.key())
        .collect();
    keys.sort();
    keys
}

const TWO_HANDLES: &str = r#"
    pub mod a {
        pub struct Blocking;
        pub struct Builder;
        pub struct Message;
        impl Blocking {
            pub fn builder() -> Builder { Builder }
            pub fn leave(&self) {}
            pub fn finalize(self) {}
        }
        impl Builder {
            pub fn on_deliver(self, f: impl FnMut(&Blocking, &Message)) -> Self { self }
            pub fn connect(self) -> Result<Blocking, ()> { Ok(Blocking) }
        }
        impl Message {
            pub fn len(&self) -> usize { 0 }
        }
    }
    mod hidden {
        pub struct Async;
        impl Async {
            pub fn leave(&self) {}
            pub fn finalize(self) {}
            pub(crate) fn internal(&self) {}
        }
        pub struct Unexported;
        impl Unexported {
            pub fn finalize(self) {}
        }
    }
    pub use hidden::Async;
"#;

#[test]
fn a_method_that_two_types_share_counts_for_the_type_the_test_has() {
    let api = Api::from_source(TWO_HANDLES);
    let keys: Vec<String> = api.fns.iter().map(|f| f.key()).collect();
    // Private and pub(crate) items are not listed; re-exported ones are.
    assert!(keys.contains(&"Async::leave".to_string()), "{keys:?}");
    assert!(!keys
        .iter()
        .any(|k| k.contains("internal") || k.contains("Unexported")));
    // The builder chain: its types come from the signatures; `.leave(` is
    // the blocking handle's, as the test holds no `Async`.
    let tests = "
        use corosync::a::Blocking;
        #[test]
        fn t() {
            let b = Blocking::builder().on_deliver(|_, m| { m.len(); }).connect().unwrap();
            b.leave();
            // Async::finalize is in a comment, and in a string:
            let _ = \"Async::finalize\";
        }
    ";
    assert_eq!(
        referenced(&api, tests),
        [
            "Blocking::builder",
            "Blocking::leave",
            "Builder::connect",
            "Builder::on_deliver",
            "Message::len"
        ]
    );
    // Another function that has an `Async` counts its own `.finalize(`
    // for both: the limit the docs name.
    let tests = "
        fn both(a: Async, b: Blocking) { a.finalize(); }
    ";
    assert_eq!(
        referenced(&api, tests),
        ["Async::finalize", "Blocking::finalize"]
    );
}

#[test]
fn fields_helpers_and_item_macros_bring_their_types() {
    let api = Api::from_source(
        r#"
        pub struct Payload;
        impl Payload { pub fn as_slice(&self) -> &[u8] { &[] } }
        pub enum Event { Message { data: Payload }, Other(u8) }
        pub struct Handle;
        impl Handle { pub fn next(&self) -> Option<Event> { None } }
        macro_rules! accessors {
            ($($get:ident $t:ty),* $(,)?) => {
                impl Handle { $( pub fn $get(&self) -> $t { Default::default() } )* }
            };
        }
        accessors!(get_u8 u8, get_u16 u16,);
        pub fn free() {}
        "#,
    );
    let keys: Vec<String> = api.fns.iter().map(|f| f.key()).collect();
    assert_eq!(
        keys,
        [
            "Handle::get_u16",
            "Handle::get_u8",
            "Handle::next",
            "Payload::as_slice",
            "corosync::free"
        ]
    );
    // `data` of an `Event::Message` is a `Payload`; the helper returns a
    // `Handle`.
    let tests = "
        fn handle() -> Handle { todo!() }
        #[test]
        fn t() {
            let h = handle();
            if let Some(Event::Message { data }) = h.next() { data.as_slice(); }
            h.get_u8();
            corosync::free();
        }
    ";
    assert_eq!(
        referenced(&api, tests),
        [
            "Handle::get_u8",
            "Handle::next",
            "Payload::as_slice",
            "corosync::free"
        ]
    );
    // Without the field, a `.as_slice(` is some other type's.
    let tests = "
        fn handle() -> Handle { todo!() }
        fn t() { let h = handle(); h.next(); vec![1].as_slice(); }
    ";
    assert_eq!(referenced(&api, tests), ["Handle::next"]);
}

#[test]
fn each_name_of_a_grouped_use_is_a_path() {
    let api = Api::from_source(
        r#"
        mod inner {
            pub fn first() {}
            pub fn second() {}
            pub fn third() {}
        }
        pub mod tools {
            pub use super::inner::{first, second, third};
        }
        "#,
    );
    let tests = "
        use corosync::tools::{first, second};
        fn t() { first(); second(); }
    ";
    assert_eq!(referenced(&api, tests), ["tools::first", "tools::second"]);
}

#[test]
fn a_function_behind_a_corosync_has_flag_is_gated_by_it() {
    let api = Api::from_source(
        r#"
        pub struct Handle;
        impl Handle {
            #[cfg(corosync_has_x)]
            pub fn newer(&self) {}
            #[cfg(not(corosync_has_x))]
            pub fn older(&self) {}
            #[cfg(any(corosync_has_x, corosync_has_y))]
            pub fn either(&self) {}
        }
        #[cfg(corosync_has_y)]
        impl Handle {
            #[cfg(all(feature = "tokio", corosync_has_z))]
            pub fn both(&self) {}
        }
        #[cfg(all(feature = "tokio", corosync_has_w))]
        pub mod adapter {
            pub fn free() {}
        }
        "#,
    );
    let gates: Vec<(String, Vec<String>)> =
        api.fns.iter().map(|f| (f.key(), f.gates.clone())).collect();
    let expect = |key: &str, flags: &[&str]| {
        (
            key.to_string(),
            flags.iter().map(|f| f.to_string()).collect::<Vec<_>>(),
        )
    };
    assert_eq!(
        gates,
        [
            expect("Handle::both", &["corosync_has_y", "corosync_has_z"]),
            expect("Handle::either", &[]),
            expect("Handle::newer", &["corosync_has_x"]),
            expect("Handle::older", &[]),
            expect("adapter::free", &["corosync_has_w"]),
        ]
    );
    // A flag this build does not know is an error, not a silent pass.
    let unknown = std::panic::catch_unwind(|| flag_on("corosync_has_x"));
    assert!(unknown.is_err());
}
