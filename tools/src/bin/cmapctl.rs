//! `cmapctl`: a Rust version of `corosync-cmapctl`, built on the corosync
//! crate, with the same options, output and exit codes.
//!
//! ```text
//! cmapctl [-b] [-DdghsqTCt] [-p filename] [-m map] [params...]
//! ```

use std::io::{self, BufRead, Read, Write};
use std::process::ExitCode;

use corosync::cmap::{Cmap, Map, TrackEvent, TrackEventKind, TrackType, Value, ValueType};
use corosync::Error;
use corosync_tools::cs_error::strerror;
use corosync_tools::getopt::{self, getopt, Opt};
use corosync_tools::number::{scan_f32, scan_f64, scan_i64, scan_u64};
use corosync_tools::output::write_escaped;
use corosync_tools::retry;

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

/// The `print_key` of the C tool; `value` is given for track events and
/// read from the map otherwise.
fn print_key(cmap: &Cmap, flags: Flags, key: &str, kind: ValueType, value: Option<&[u8]>) {
    if let ValueType::Unknown(_) = kind {
        // The C tool prints the key and nothing of the value.
        let prefix = if flags.quiet {
            String::new()
        } else {
            format!("{key} (")
        };
        println!("{prefix}");
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
    // As the C tool: retry while corosync answers TRY_AGAIN, up to 30 s.
    let got = retry::once_a_second(31).run(read);
    let value = match got {
        Ok(v) => v,
        Err(e) => {
            let _ = io::stdout().flush();
            eprintln!("Can't get value of {key}. Error {}", strerror(&e));
            return;
        }
    };
    let mut out: Vec<u8> = Vec::new();
    if !flags.quiet {
        out.extend_from_slice(format!("{key} (").as_bytes());
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
                    let mut t = if flags.quiet {
                        Vec::new()
                    } else {
                        b"str) = ".to_vec()
                    };
                    t.extend_from_slice(&s);
                    out.extend_from_slice(&t);
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
    match retry::once_a_second(31).run(|| Cmap::with_map(map)) {
        Ok(cmap) => cmap,
        Err(e) => {
            eprintln!("Failed to initialize the cmap API. Error {}", strerror(&e));
            std::process::exit(1);
        }
    }
}

/// Prints the keys under `prefix`; true when there were none.
fn print_iter(cmap: &Cmap, flags: Flags, prefix: &str) -> bool {
    let iter = match cmap.iter(prefix) {
        Ok(iter) => iter,
        Err(e) => {
            eprintln!("Failed to initialize iteration. Error {}", strerror(&e));
            std::process::exit(1);
        }
    };
    let mut none = true;
    for entry in iter {
        let Ok(entry) = entry else { break };
        none = false;
        let key = String::from_utf8_lossy(&entry.key).into_owned();
        print_key(cmap, flags, &key, entry.value_type, None);
    }
    none
}

fn delete_with_prefix(cmap: &Cmap, prefix: &str) {
    let iter = match cmap.iter(prefix) {
        Ok(iter) => iter,
        Err(e) => {
            eprintln!("Failed to initialize iteration. Error {}", strerror(&e));
            std::process::exit(1);
        }
    };
    let keys: Vec<String> = iter
        .flatten()
        .map(|e| String::from_utf8_lossy(&e.key).into_owned())
        .collect();
    for key in keys {
        if let Err(e) = cmap.delete(&key) {
            eprintln!("Can't delete key {key}. Error {}", strerror(&e));
        }
    }
}

fn set_key(cmap: &Cmap, key: &str, type_name: &str, value_s: &str) {
    let kind = match type_name {
        "i8" => ValueType::I8,
        "u8" => ValueType::U8,
        "i16" => ValueType::I16,
        "u16" => ValueType::U16,
        "i32" => ValueType::I32,
        "u32" => ValueType::U32,
        "i64" => ValueType::I64,
        "u64" => ValueType::U64,
        "flt" => ValueType::Float,
        "dbl" => ValueType::Double,
        "str" => ValueType::String,
        "bin" => ValueType::Binary,
        _ => {
            eprintln!("Unknown type {type_name}");
            std::process::exit(1);
        }
    };
    let invalid = || -> ! {
        eprintln!("{value_s} is not valid {type_name} type value");
        std::process::exit(1);
    };
    let out_of_range = || -> ! {
        eprintln!("{value_s} is not valid {type_name} integer");
        std::process::exit(1);
    };
    let signed = || scan_i64(value_s).unwrap_or_else(|| invalid());
    let unsigned = || scan_u64(value_s).unwrap_or_else(|| invalid());
    let result = match kind {
        ValueType::I8 => {
            let v = signed();
            let v = i8::try_from(v).unwrap_or_else(|_| out_of_range());
            cmap.set_i8(key, v)
        }
        ValueType::I16 => {
            let v = i16::try_from(signed()).unwrap_or_else(|_| out_of_range());
            cmap.set_i16(key, v)
        }
        ValueType::I32 => {
            let v = i32::try_from(signed()).unwrap_or_else(|_| out_of_range());
            cmap.set_i32(key, v)
        }
        ValueType::I64 => cmap.set_i64(key, signed()),
        ValueType::U8 => {
            let v = u8::try_from(unsigned()).unwrap_or_else(|_| out_of_range());
            cmap.set_u8(key, v)
        }
        ValueType::U16 => {
            let v = u16::try_from(unsigned()).unwrap_or_else(|_| out_of_range());
            cmap.set_u16(key, v)
        }
        ValueType::U32 => {
            let v = u32::try_from(unsigned()).unwrap_or_else(|_| out_of_range());
            cmap.set_u32(key, v)
        }
        ValueType::U64 => cmap.set_u64(key, unsigned()),
        ValueType::Float => cmap.set_f32(key, scan_f32(value_s).unwrap_or_else(|| invalid())),
        ValueType::Double => cmap.set_f64(key, scan_f64(value_s).unwrap_or_else(|| invalid())),
        ValueType::String => cmap.set_string(key, value_s),
        ValueType::Binary => {
            let mut data = Vec::new();
            let read = if value_s == "-" {
                io::stdin().read_to_end(&mut data)
            } else {
                match std::fs::File::open(value_s) {
                    Ok(mut f) => f.read_to_end(&mut data),
                    Err(e) => {
                        eprintln!("Can't open input file: {}", io_error_text(&e));
                        std::process::exit(1);
                    }
                }
            };
            if read.is_err() {
                eprintln!("Can't alloc memory");
                std::process::exit(1);
            }
            cmap.set_binary(key, &data)
        }
        ValueType::Unknown(_) => unreachable!("parsed from a known name"),
    };
    if let Err(e) = result {
        // The daemon's own refusal reads the same as in the C tool; limits
        // the bindings check first are reported as corosync would.
        let e = match e {
            Error::MessageTooLarge { .. } | Error::InvalidInput { .. } => Error::InvalidParam,
            Error::TooLong { .. } => Error::NameTooLong,
            other => other,
        };
        eprintln!("Failed to set key {key}. Error {}", strerror(&e));
        std::process::exit(1);
    }
}

/// The text perror prints for an I/O error (strerror without "(os error)").
fn io_error_text(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

fn read_in_config_file(cmap: &Cmap, filename: &str) {
    let file = match std::fs::File::open(filename) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("Couldn't open file.: {}", io_error_text(&e));
            return;
        }
    };
    for line in io::BufReader::new(file).split(b'\n') {
        let Ok(line) = line else { break };
        let line = String::from_utf8_lossy(&line).into_owned();
        let body = line.trim_start_matches([' ', '\t']);
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        let mut tokens = body.split(' ').filter(|t| !t.is_empty());
        let Some(key) = tokens.next() else { continue };
        if let Some(rest) = key.strip_prefix('^') {
            if let Some(prefix) = rest.strip_prefix('^') {
                delete_with_prefix(cmap, prefix);
            } else if let Err(e) = cmap.delete(rest) {
                eprintln!("Can't delete key {rest}. Error {}", strerror(&e));
            }
        } else {
            let (Some(kind), Some(value)) = (tokens.next(), tokens.next()) else {
                eprintln!("Both type and value for key {key} are required");
                std::process::exit(1);
            };
            set_key(cmap, key, kind, value);
        }
    }
}

fn track(cmap: &Cmap, flags: Flags, keys: &[String], prefix: bool) {
    let mut guards = Vec::new();
    for key in keys {
        let mut kinds = TrackType::ADD | TrackType::DELETE | TrackType::MODIFY;
        if prefix {
            kinds |= TrackType::PREFIX;
        }
        let on_event = move |cmap: &Cmap, ev: &TrackEvent<'_>| {
            let key = String::from_utf8_lossy(ev.key).into_owned();
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
                Some(v) => print_key(cmap, flags, &key, v.value_type, Some(v.bytes)),
                None => print_key(cmap, flags, &key, ValueType::Unknown(0), Some(&[])),
            }
        };
        match cmap.track_add(key, kinds, on_event) {
            Ok(guard) => guards.push(guard),
            Err(e) => {
                eprintln!("Failed to add tracking function. Error {}", strerror(&e));
                std::process::exit(1);
            }
        }
    }
    println!("Type \"q\" to finish");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let stdin = io::stdin();
        for line in stdin.lock().lines() {
            let quit = line.map(|l| l.starts_with('q')).unwrap_or(true);
            if quit {
                break;
            }
        }
        let _ = tx.send(());
    });
    loop {
        let dispatched = cmap.dispatch_timeout(std::time::Duration::from_millis(50));
        if rx.try_recv().is_ok() {
            break;
        }
        if let Err(e) = dispatched {
            eprintln!("Dispatch error {}", strerror(&e));
            break;
        }
    }
    drop(guards);
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let prog = getopt::prog_name();
    let (opts, operands) = getopt(&prog, &args, "m:hqgsdDtTbp:C:");
    let mut action = Action::PrintPrefix;
    let mut flags = Flags {
        show_binary: false,
        quiet: false,
    };
    let mut map = Map::Icmap;
    let mut track_prefix = true;
    let mut settings = String::new();
    let mut clear = String::new();
    for opt in opts {
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
                if ["knet", "totem", "ipc", "schedmiss", "all"].contains(&what.as_str()) {
                    action = Action::ClearStats;
                    clear = what;
                    map = Map::Stats;
                } else {
                    eprintln!(
                        "argument to -C should be 'knet', 'totem', 'ipc', 'schedmiss' or 'all'"
                    );
                    return ExitCode::FAILURE;
                }
            }
            Opt::Flag('t', _) => {
                action = Action::Track;
                track_prefix = false;
            }
            Opt::Flag('T', _) => action = Action::Track,
            Opt::Flag('m', Some(name)) => match name.as_str() {
                "icmap" | "default" => map = Map::Icmap,
                "stats" => map = Map::Stats,
                _ => {
                    eprintln!("invalid map name, must be 'default', 'icmap' or 'stats'");
                    return ExitCode::FAILURE;
                }
            },
            _ => return ExitCode::FAILURE,
        }
    }
    if operands.is_empty()
        && ![Action::Load, Action::ClearStats, Action::PrintPrefix].contains(&action)
    {
        eprintln!("Expected key after options");
        return ExitCode::FAILURE;
    }
    let cmap = connect(map);
    match action {
        Action::PrintPrefix => {
            let empty = if operands.is_empty() {
                usize::from(print_iter(&cmap, flags, ""))
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
                        eprintln!("Can't get key {key}. Error {}", strerror(&e));
                        return ExitCode::FAILURE;
                    }
                }
            }
        }
        Action::Delete => {
            for key in &operands {
                if let Err(e) = cmap.delete(key) {
                    eprintln!("Can't delete key {key}. Error {}", strerror(&e));
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
                eprintln!("At least 3 parameters are expected for set");
                return ExitCode::FAILURE;
            }
            set_key(&cmap, &operands[0], &operands[1], &operands[2]);
        }
        Action::ClearStats => {
            let _ = cmap.set_u32(format!("stats.clear.{clear}"), 1);
        }
    }
    let _ = io::stdout().flush();
    if let Err(e) = cmap.finalize() {
        eprintln!("Failed to finalize the cmap API. Error {}", strerror(&e));
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
