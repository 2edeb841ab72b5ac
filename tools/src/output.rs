//! How the C tools print bytes that may not be text, a node's addresses
//! and their error lines.

use std::io::{self, Write};
use std::net::IpAddr;

/// Writes `bytes` as corosync-cpgtool prints group names and
/// corosync-cmapctl binary values: printable ASCII as is, `\` as `\\`, any
/// other byte as `\xNN` of C's signed `char`, so bytes above 0x7f print
/// sign-extended (`\xFFFFFF80`).
pub fn write_escaped(out: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    for &b in bytes {
        if b == b'\\' {
            out.write_all(b"\\\\")?;
        } else if (b' '..0x7f).contains(&b) {
            out.write_all(&[b])?;
        } else {
            // The C tools print the char promoted to int with "%02X".
            let promoted = i32::from(b as i8) as u32;
            write!(out, "\\x{promoted:02X}")?;
        }
    }
    Ok(())
}

/// Writes the concatenation of `parts` and a newline to standard error in
/// one write, as the C tools' `fprintf(stderr, ...)` does (stderr is
/// unbuffered; a failed write goes unnoticed). The parts are bytes, so keys
/// and arguments that are not UTF-8 print as they were given.
pub fn eprint_line(parts: &[&[u8]]) {
    let mut line = Vec::with_capacity(parts.iter().map(|p| p.len()).sum::<usize>() + 1);
    for part in parts {
        line.extend_from_slice(part);
    }
    line.push(b'\n');
    let _ = io::stderr().write_all(&line);
}

/// The text C's `strerror` (and so `perror`) gives for an I/O error: the
/// system's message without Rust's " (os error N)".
pub fn io_error_text(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Writes the addresses `Cfg::node_addrs` gave, separated by one space:
/// the list corosync-cpgtool prints in parentheses and corosync-cfgtool
/// prints for `-a`. An empty slot is skipped, and the separator goes before
/// every address but the first slot's.
pub fn write_addrs(out: &mut impl Write, addrs: &[Option<IpAddr>]) -> io::Result<()> {
    for (i, addr) in addrs.iter().enumerate() {
        let Some(addr) = addr else { continue };
        if i != 0 {
            out.write_all(b" ")?;
        }
        write!(out, "{addr}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_escaped_as_the_c_tools_escape_them() {
        let mut out = Vec::new();
        write_escaped(&mut out, b"a b\\\0\x01\x7f\x80\xff~").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a b\\\\\\x00\\x01\\x7F\\xFFFFFF80\\xFFFFFFFF~"
        );
    }

    #[test]
    fn io_errors_read_as_strerror() {
        let e = io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(io_error_text(&e), "No such file or directory");
    }

    #[test]
    fn addresses_are_separated_by_spaces() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "fd00::2".parse().unwrap();
        let mut out = Vec::new();
        write_addrs(&mut out, &[Some(a), None, Some(b)]).unwrap();
        assert_eq!(out, b"10.0.0.1 fd00::2");
        out.clear();
        write_addrs(&mut out, &[None, Some(b)]).unwrap();
        assert_eq!(out, b" fd00::2");
    }
}
