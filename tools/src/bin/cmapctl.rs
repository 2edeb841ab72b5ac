//! `cmapctl`: a Rust version of `corosync-cmapctl`, built on the corosync
//! crate, with the same options, output and exit codes.
//!
//! ```text
//! cmapctl [-b] [-DdghsqTCt] [-p filename] [-m map] [params...]
//! ```

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::process::ExitCode;

use corosync::cmap::{Cmap, Map, TrackEvent, TrackEventKind, TrackType, Value, ValueType};
use corosync::Error;
use corosync_tools::cs_error::strerror;
use corosync_tools::getopt::{Getopt, Opt};
use corosync_tools::number::{scan_f32, scan_f64, scan_i64, scan_u64};
use corosync_tools::output::{eprint_line, io_error_text, write_escaped};
use corosync_tools::retry;

/// How many times the C tool calls corosync while it answers "try again"
/// (its `MAX_TRY_AGAIN` retries after the first call).
const CALLS: u32 = 11;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Get,
    Set,
    Delete,
    DeletePrefix,
    PrintPrefix,
    Track,
    Load,
    ClearStats,
}

#[derive(Clone, Copy)]
struct Flags {
    show_binary: bool,
    quiet: bool,
}

fn print_help() {
    println!();
    println!("usage:  corosync-cmapctl [-b] [-DdghsqTCt] [-p filename] [-m map] [params...]");
    println!();
    println!("    -b show binary values");
    println!();
    println!("    -m select map to use");
    println!("          The  default  map is 'icmap' which contains configuration information and some runtime variables used by corosync. ");
    println!("          A 'stats' map is also available which displays network statistics - in great detail when knet is used as the transport.");
    println!("Set key:");
    println!("    corosync-cmapctl -s key_name type value");
    println!();
    println!("    where type is one of ([i|u][8|16|32|64] | flt | dbl | str | bin)");
    println!("    for bin, value is file name (or - for stdin)");
    println!();
    println!("    map can be either 'icmap' (the default) which contains corosync");
    println!("    configuration information, or 'stats' which contains statistics");
    println!("    about the networking and IPC traffic in some detail.");
    println!();
    println!("Clear stats:");
    println!("    corosync-cmapctl -C [knet|ipc|totem|schedmiss|all]");
    println!("    The 'stats' map is implied");
    println!();
    println!("Load settings from a file:");
    println!("    corosync-cmapctl -p filename");
    println!();
    println!("    the format of the file is:");
    println!("    [^[^]]<key_name>[ <type> <value>]");
    println!("    Keys prefixed with single caret ('^') are deleted (see -d).");
    println!("    Keys (actually prefixes) prefixed with double caret ('^^') are deleted by prefix (see -D).");
    println!("    <type> and <value> are optional (not checked) in above cases.");
    println!("    Other keys are set (see -s) so both <type> and <value> are required.");
    println!();
    println!("Delete key:");
    println!("    corosync-cmapctl -d key_name...");
    println!();
    println!("Delete multiple keys with prefix:");
    println!("    corosync-cmapctl -D key_prefix...");
    println!();
    println!("Get key:");
    println!("    corosync-cmapctl [-b] -g key_name...");
    println!();
    println!("Quiet mode:");
    println!("    corosync-cmapctl [-b] -q -g key_name...");
    println!();
    println!("Display all keys:");
    println!("    corosync-cmapctl [-b]");
    println!();
    println!("Display keys with prefix key_name:");
    println!("    corosync-cmapctl [-b] key_name...");
    println!();
    println!("Track changes on keys with key_name:");
    println!("    corosync-cmapctl [-b] -t key_name");
    println!();
    println!("Track changes on keys with key prefix:");
    println!("    corosync-cmapctl [-b] -T key_prefix");
    println!();
}

/// A float as C's `%f` prints it.
fn c_float(v: f64) -> String {
    if v.is_nan() {
        if v.is_sign_negative() {
            "-nan".into()
        } else {
            "nan".into()
        }
    } else if v.is_infinite() {
        if v < 0.0 {
            "-inf".into()
        } else {
            "inf".into()
        }
    } else {
        format!("{v:.6}")
    }
}

/// corosync's name for `e`. Where the bindings refused a key or a prefix
/// before asking corosync, this is the name of corosync's own answer to
/// it: libcmap refuses names of 256 bytes or more as
/// `CS_ERR_NAME_TOO_LONG`, and the daemon finds no key by an empty name.
fn error_name(e: &Error) -> Cow<'static, str> {
    let e = match e {
        Error::TooLong { .. } => &Error::NameTooLong,
        Error::InvalidInput {
            what: "cmap key", ..
        } => &Error::NotExist,
        other => other,
    };
    strerror(e)
}

/// Exits with status 1 after `eprint_line(parts)`, as the C tool's
/// `fprintf(stderr, ...); exit(EXIT_FAILURE)`.
fn fail(parts: &[&[u8]]) -> ! {
    // What stdout holds goes first, as C's exit flushes it.
    let _ = io::stdout().flush();
    eprint_line(parts);
    std::process::exit(1);
}

/// The `print_key` of the C tool; `value` is given for track events and
/// read from the map otherwise.
fn print_key(cmap: &Cmap, flags: Flags, key: &[u8], kind: ValueType, value: Option<&[u8]>) {
    let mut out: Vec<u8> = Vec::new();
    if let ValueType::Unknown(_) = kind {
        // The C tool prints the key and nothing of the value.
        if !flags.quiet {
            out.extend_from_slice(key);
            out.extend_from_slice(b" (");
        }
        out.push(b'\n');
        let _ = io::stdout().write_all(&out);
        return;
    }
    let read = || -> Result<Option<Value>, Error> {
        if let Some(bytes) = value {
            return Value::from_wire(kind, bytes).map(Some);
        }
        Ok(Some(match kind {
            ValueType::I8 => Value::I8(cmap.get_i8(key)?),
            ValueType::U8 => Value::U8(cmap.get_u8(key)?),
            ValueType::I16 => Value::I16(cmap.get_i16(key)?),
            ValueType::U16 => Value::U16(cmap.get_u16(key)?),
            ValueType::I32 => Value::I32(cmap.get_i32(key)?),
            ValueType::U32 => Value::U32(cmap.get_u32(key)?),
            ValueType::I64 => Value::I64(cmap.get_i64(key)?),
            ValueType::U64 => Value::U64(cmap.get_u64(key)?),
            ValueType::Float => Value::Float(cmap.get_f32(key)?),
            ValueType::Double => Value::Double(cmap.get_f64(key)?),
            ValueType::String => Value::String(cmap.get_string(key)?),
            ValueType::Binary if flags.show_binary => cmap.get(key)?,
            _ => return Ok(None),
        }))
    };
    let value = match retry::once_a_second(CALLS).run(read) {
        Ok(v) => v,
        Err(e) => {
            let _ = io::stdout().flush();
            eprint_line(&[
                b"Can't get value of ",
                key,
                b". Error ",
                error_name(&e).as_bytes(),
            ]);
            return;
        }
    };
    if !flags.quiet {
        out.extend_from_slice(key);
        out.extend_from_slice(b" (");
    }
    let typed = |name: &str, text: String| -> String {
        if flags.quiet {
            text
        } else {
            format!("{name}) = {text}")
        }
    };
    match (kind, value) {
        (ValueType::Binary, v) => {
            out.extend_from_slice(b"bin)");
            if flags.show_binary {
                out.extend_from_slice(b" = ");
                if let Some(Value::Binary(bytes)) = v {
                    // Writing into a Vec cannot fail.
                    let _ = write_escaped(&mut out, &bytes);
                }
            }
        }
        (_, Some(v)) => {
            let text = match v {
                Value::I8(x) => typed("i8", x.to_string()),
                Value::U8(x) => typed("u8", x.to_string()),
                Value::I16(x) => typed("i16", x.to_string()),
                Value::U16(x) => typed("u16", x.to_string()),
                Value::I32(x) => typed("i32", x.to_string()),
                Value::U32(x) => typed("u32", x.to_string()),
                Value::I64(x) => typed("i64", x.to_string()),
                Value::U64(x) => typed("u64", x.to_string()),
                Value::Float(x) => typed("flt", c_float(f64::from(x))),
                Value::Double(x) => typed("dbl", c_float(x)),
                Value::String(s) => {
                    if !flags.quiet {
                        out.extend_from_slice(b"str) = ");
                    }
                    out.extend_from_slice(&s);
                    String::new()
                }
                Value::Binary(_) => String::new(),
            };
            out.extend_from_slice(text.as_bytes());
        }
        (_, None) => {}
    }
    out.push(b'\n');
    let _ = io::stdout().write_all(&out);
}

fn connect(map: Map) -> Cmap {
    match retry::once_a_second(CALLS).run(|| Cmap::with_map(map)) {
        Ok(cmap) => cmap,
        Err(e) => fail(&[
            b"Failed to initialize the cmap API. Error ",
            error_name(&e).as_bytes(),
        ]),
    }
}

/// The keys under `prefix`, or the C tool's exit when the iteration cannot
/// start.
fn keys_under(cmap: &Cmap, prefix: &[u8]) -> Vec<corosync::cmap::KeyEntry> {
    match cmap.iter(prefix) {
        Ok(iter) => iter.map_while(Result::ok).collect(),
        Err(e) => fail(&[
            b"Failed to initialize iteration. Error ",
            error_name(&e).as_bytes(),
        ]),
    }
}

/// Prints the keys under `prefix`; true when there were none.
fn print_iter(cmap: &Cmap, flags: Flags, prefix: &[u8]) -> bool {
    let iter = match cmap.iter(prefix) {
        Ok(iter) => iter,
        Err(e) => fail(&[
            b"Failed to initialize iteration. Error ",
            error_name(&e).as_bytes(),
        ]),
    };
    let mut none = true;
    for entry in iter.map_while(Result::ok) {
        none = false;
        print_key(cmap, flags, &entry.key, entry.value_type, None);
    }
    none
}

fn delete_with_prefix(cmap: &Cmap, prefix: &[u8]) {
    for entry in keys_under(cmap, prefix) {
        if let Err(e) = cmap.delete(&entry.key) {
            eprint_line(&[
                b"Can't delete key ",
                &entry.key,
                b". Error ",
                error_name(&e).as_bytes(),
            ]);
        }
    }
}

/// The C tool's `set_key`: `value` read as `type_name` says, or its
/// message and exit.
fn set_key(cmap: &Cmap, key: &[u8], type_name: &[u8], value: &[u8]) {
    let kind = match type_name {
        b"i8" => ValueType::I8,
        b"u8" => ValueType::U8,
        b"i16" => ValueType::I16,
        b"u16" => ValueType::U16,
        b"i32" => ValueType::I32,
        b"u32" => ValueType::U32,
        b"i64" => ValueType::I64,
        b"u64" => ValueType::U64,
        b"flt" => ValueType::Float,
        b"dbl" => ValueType::Double,
        b"str" => ValueType::String,
        b"bin" => ValueType::Binary,
        _ => fail(&[b"Unknown type ", type_name]),
    };
    let invalid = || -> ! { fail(&[value, b" is not valid ", type_name, b" type value"]) };
    let out_of_range = || -> ! { fail(&[value, b" is not valid ", type_name, b" integer"]) };
    let signed = || scan_i64(value).unwrap_or_else(|| invalid());
    let unsigned = || scan_u64(value).unwrap_or_else(|| invalid());
    let result = match kind {
        ValueType::I8 => {
            let v = signed();
            cmap.set_i8(key, i8::try_from(v).unwrap_or_else(|_| out_of_range()))
        }
        ValueType::I16 => {
            let v = signed();
            cmap.set_i16(key, i16::try_from(v).unwrap_or_else(|_| out_of_range()))
        }
        ValueType::I32 => {
            let v = signed();
            cmap.set_i32(key, i32::try_from(v).unwrap_or_else(|_| out_of_range()))
        }
        ValueType::I64 => cmap.set_i64(key, signed()),
        ValueType::U8 => {
            let v = unsigned();
            cmap.set_u8(key, u8::try_from(v).unwrap_or_else(|_| out_of_range()))
        }
        ValueType::U16 => {
            let v = unsigned();
            cmap.set_u16(key, u16::try_from(v).unwrap_or_else(|_| out_of_range()))
        }
        ValueType::U32 => {
            let v = unsigned();
            cmap.set_u32(key, u32::try_from(v).unwrap_or_else(|_| out_of_range()))
        }
        ValueType::U64 => cmap.set_u64(key, unsigned()),
        ValueType::Float => cmap.set_f32(key, scan_f32(value).unwrap_or_else(|| invalid())),
        ValueType::Double => cmap.set_f64(key, scan_f64(value).unwrap_or_else(|| invalid())),
        ValueType::String => cmap.set_string(key, value),
        ValueType::Binary => {
            let mut data = Vec::new();
            let read = if value == b"-" {
                io::stdin().read_to_end(&mut data)
            } else {
                match std::fs::File::open(OsStr::from_bytes(value)) {
                    Ok(mut f) => f.read_to_end(&mut data),
                    Err(e) => fail(&[b"Can't open input file: ", io_error_text(&e).as_bytes()]),
                }
            };
            if read.is_err() {
                fail(&[b"Can't alloc memory"]);
            }
            cmap.set_binary(key, &data)
        }
        ValueType::Unknown(_) => unreachable!("parsed from a known name"),
    };
    if let Err(e) = result {
        // The daemon's own refusal reads the same as in the C tool; what
        // the bindings refuse before asking is reported as corosync would
        // refuse it: a key it would not store as a bad name, a value too
        // large as an invalid parameter.
        let e = match e {
            Error::TooLong { .. }
            | Error::InvalidInput {
                what: "cmap key", ..
            } => Error::NameTooLong,
            Error::MessageTooLarge { .. } | Error::InvalidInput { .. } => Error::InvalidParam,
            other => other,
        };
        fail(&[
            b"Failed to set key ",
            key,
            b". Error ",
            error_name(&e).as_bytes(),
        ]);
    }
}

/// The lines of `text` as C's `fgets` into a 1024-byte buffer reads them:
/// up to and including a newline, at most 1023 bytes each; each seen as a
/// C string (up to its first NUL byte).
fn fgets_lines(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let window = &rest[..rest.len().min(1023)];
        let len = window
            .iter()
            .position(|&b| b == b'\n')
            .map_or(window.len(), |nl| nl + 1);
        let (line, tail) = rest.split_at(len);
        rest = tail;
        let c_string = line
            .iter()
            .position(|&b| b == 0)
            .map_or(line, |nul| &line[..nul]);
        Some(c_string)
    })
}

/// `-p`: sets and deletes keys as the lines of the file say.
fn read_in_config_file(cmap: &Cmap, filename: &OsStr) {
    let text = match std::fs::read(filename) {
        Ok(text) => text,
        Err(e) => {
            eprint_line(&[b"Couldn't open file.: ", io_error_text(&e).as_bytes()]);
            return;
        }
    };
    for line in fgets_lines(&text) {
        // Blanks first; a line whose first other byte is '#' or a newline
        // is skipped.
        let body = match line.iter().position(|&b| b != b' ' && b != b'\t') {
            Some(i) => &line[i..],
            None => &[],
        };
        if body.first().is_some_and(|&b| b == b'#' || b == b'\n') {
            continue;
        }
        let mut tokens = body
            .split(|&b| b == b' ' || b == b'\n')
            .filter(|t| !t.is_empty());
        let Some(key) = tokens.next() else {
            // A last line of blanks without a newline: C's strtok finds no
            // key and printf prints the null pointer so.
            fail(&[b"Both type and value for key (null) are required"]);
        };
        if let Some(rest) = key.strip_prefix(b"^") {
            if let Some(prefix) = rest.strip_prefix(b"^") {
                delete_with_prefix(cmap, prefix);
            } else if let Err(e) = cmap.delete(rest) {
                eprint_line(&[
                    b"Can't delete key ",
                    rest,
                    b". Error ",
                    error_name(&e).as_bytes(),
                ]);
            }
        } else {
            let (Some(kind), Some(value)) = (tokens.next(), tokens.next()) else {
                fail(&[b"Both type and value for key ", key, b" are required"]);
            };
            set_key(cmap, key, kind, value);
        }
    }
}

fn track(cmap: &Cmap, flags: Flags, keys: &[Vec<u8>], prefix: bool) {
    let mut guards = Vec::new();
    for key in keys {
        let mut kinds = TrackType::ADD | TrackType::DELETE | TrackType::MODIFY;
        if prefix {
            kinds |= TrackType::PREFIX;
        }
        let on_event = move |cmap: &Cmap, ev: &TrackEvent<'_>| {
            let (label, value) = match ev.kind {
                TrackEventKind::Add => ("create> ", ev.new_value),
                TrackEventKind::Delete => ("delete> ", ev.old_value),
                TrackEventKind::Modify => ("modify> ", ev.new_value),
                _ => {
                    print!("unknown change> ");
                    return;
                }
            };
            print!("{label}");
            match value {
                Some(v) => print_key(cmap, flags, ev.key, v.value_type, Some(v.bytes)),
                None => print_key(cmap, flags, ev.key, ValueType::Unknown(0), Some(&[])),
            }
        };
        match cmap.track_add(key, kinds, on_event) {
            Ok(guard) => guards.push(guard),
            Err(e) => fail(&[
                b"Failed to add tracking function. Error ",
                error_name(&e).as_bytes(),
            ]),
        }
    }
    println!("Type \"q\" to finish");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        // Stops at "q", at the end of the input, or when it cannot be read.
        while io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) && !line.starts_with('q') {
            line.clear();
        }
        let _ = tx.send(());
    });
    loop {
        let dispatched = cmap.dispatch_timeout(std::time::Duration::from_millis(50));
        if rx.try_recv().is_ok() {
            break;
        }
        if let Err(e) = dispatched {
            let _ = io::stdout().flush();
            eprint_line(&[b"Dispatch error ", error_name(&e).as_bytes()]);
            break;
        }
    }
    drop(guards);
}

fn main() -> ExitCode {
    let mut options = Getopt::from_env("m:hqgsdDtTbp:C:", &[]);
    let mut action = Action::PrintPrefix;
    let mut flags = Flags {
        show_binary: false,
        quiet: false,
    };
    let mut map = Map::Icmap;
    let mut track_prefix = true;
    let mut settings = OsString::new();
    let mut clear = OsString::new();
    for opt in options.by_ref() {
        match opt {
            Opt::Flag('h', _) => {
                print_help();
                return ExitCode::SUCCESS;
            }
            Opt::Flag('b', _) => flags.show_binary = true,
            Opt::Flag('q', _) => flags.quiet = true,
            Opt::Flag('g', _) => action = Action::Get,
            Opt::Flag('s', _) => action = Action::Set,
            Opt::Flag('d', _) => action = Action::Delete,
            Opt::Flag('D', _) => action = Action::DeletePrefix,
            Opt::Flag('p', Some(file)) => {
                settings = file;
                action = Action::Load;
            }
            Opt::Flag('C', Some(what)) => {
                if [&b"knet"[..], b"totem", b"ipc", b"schedmiss", b"all"].contains(&what.as_bytes())
                {
                    action = Action::ClearStats;
                    clear = what;
                    map = Map::Stats;
                } else {
                    eprint_line(&[
                        b"argument to -C should be 'knet', 'totem', 'ipc', 'schedmiss' or 'all'",
                    ]);
                    return ExitCode::FAILURE;
                }
            }
            Opt::Flag('t', _) => {
                action = Action::Track;
                track_prefix = false;
            }
            Opt::Flag('T', _) => action = Action::Track,
            Opt::Flag('m', Some(name)) => match name.as_bytes() {
                b"icmap" | b"default" => map = Map::Icmap,
                b"stats" => map = Map::Stats,
                _ => {
                    eprint_line(&[b"invalid map name, must be 'default', 'icmap' or 'stats'"]);
                    return ExitCode::FAILURE;
                }
            },
            _ => return ExitCode::FAILURE,
        }
    }
    let operands: Vec<Vec<u8>> = options
        .operands()
        .into_iter()
        .map(OsStringExt::into_vec)
        .collect();
    if operands.is_empty()
        && ![Action::Load, Action::ClearStats, Action::PrintPrefix].contains(&action)
    {
        eprint_line(&[b"Expected key after options"]);
        return ExitCode::FAILURE;
    }
    let cmap = connect(map);
    match action {
        Action::PrintPrefix => {
            let empty = if operands.is_empty() {
                usize::from(print_iter(&cmap, flags, b""))
            } else {
                operands
                    .iter()
                    .map(|p| usize::from(print_iter(&cmap, flags, p)))
                    .sum()
            };
            if empty > 0 && empty >= operands.len() {
                return ExitCode::FAILURE;
            }
        }
        Action::Get => {
            for key in &operands {
                match cmap.value_info(key) {
                    Ok((kind, _)) => print_key(&cmap, flags, key, kind, None),
                    Err(e) => {
                        let _ = io::stdout().flush();
                        eprint_line(&[
                            b"Can't get key ",
                            key,
                            b". Error ",
                            error_name(&e).as_bytes(),
                        ]);
                        return ExitCode::FAILURE;
                    }
                }
            }
        }
        Action::Delete => {
            for key in &operands {
                if let Err(e) = cmap.delete(key) {
                    eprint_line(&[
                        b"Can't delete key ",
                        key,
                        b". Error ",
                        error_name(&e).as_bytes(),
                    ]);
                    return ExitCode::FAILURE;
                }
            }
        }
        Action::DeletePrefix => {
            for prefix in &operands {
                delete_with_prefix(&cmap, prefix);
            }
        }
        Action::Load => read_in_config_file(&cmap, &settings),
        Action::Track => track(&cmap, flags, &operands, track_prefix),
        Action::Set => {
            if operands.len() < 3 {
                eprint_line(&[b"At least 3 parameters are expected for set"]);
                return ExitCode::FAILURE;
            }
            set_key(&cmap, &operands[0], &operands[1], &operands[2]);
        }
        Action::ClearStats => {
            let mut key = b"stats.clear.".to_vec();
            key.extend_from_slice(clear.as_bytes());
            // The C tool does not look at the answer either.
            let _ = cmap.set_u32(key, 1);
        }
    }
    let _ = io::stdout().flush();
    if let Err(e) = cmap.finalize() {
        fail(&[
            b"Failed to finalize the cmap API. Error ",
            error_name(&e).as_bytes(),
        ]);
    }
    ExitCode::SUCCESS
}
