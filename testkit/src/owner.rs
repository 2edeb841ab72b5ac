//! Owner marks: what every name the kit makes carries, so that it finds its
//! own leftovers and never touches anyone else's.
//!
//! A cluster's name is `ctk.<mark>.<pid>.c<n>`: the prefix, the owner mark
//! (1 to 32 of `A-Z a-z 0-9 _ -`, so never a dot), the id of the process
//! that made it, and that process's cluster counter. Its namespaces and its
//! folder under [`kit_dir`] are named after it.

use std::path::PathBuf;
use std::sync::Mutex;

use crate::{netns, Error};

/// The prefix of every name the kit makes.
pub(crate) const PREFIX: &str = "ctk.";

/// The variable that sets the owner mark of clusters whose builder sets
/// none.
pub const MARK_VAR: &str = "COROSYNC_TESTKIT_MARK";

/// The longest mark.
const MARK_MAX: usize = 32;

/// The mark of clusters whose builder sets none: `COROSYNC_TESTKIT_MARK`,
/// else the package whose tests cargo runs (`CARGO_PKG_NAME`, which cargo
/// sets for the test binaries it runs), else `testkit`. Characters a mark
/// cannot have are left out, and it is cut to 32.
pub fn default_mark() -> String {
    [MARK_VAR, "CARGO_PKG_NAME"]
        .iter()
        .filter_map(|var| std::env::var(var).ok())
        .map(|value| {
            value
                .chars()
                .filter(|&c| mark_char(c))
                .take(MARK_MAX)
                .collect::<String>()
        })
        .find(|mark| !mark.is_empty())
        .unwrap_or_else(|| "testkit".to_string())
}

fn mark_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Checks that `mark` can be one.
pub(crate) fn check_mark(mark: &str) -> Result<(), Error> {
    if mark.is_empty() || mark.len() > MARK_MAX || !mark.chars().all(mark_char) {
        return Err(Error::new(format!(
            "the owner mark {mark:?} is not 1 to {MARK_MAX} of A-Z a-z 0-9 _ -"
        )));
    }
    Ok(())
}

/// The name of cluster number `seq` made by process `pid` with `mark`.
pub(crate) fn cluster_name(mark: &str, pid: u32, seq: usize) -> String {
    format!("{PREFIX}{mark}.{pid}.c{seq}")
}

/// The mark and creating pid of a name the kit made (a cluster's, its
/// folder's or one of its namespaces'); `None` for any other name.
pub(crate) fn owner_of(name: &str) -> Option<(&str, i32)> {
    let rest = name.strip_prefix(PREFIX)?;
    let (mark, rest) = rest.split_once('.')?;
    let (pid, rest) = rest.split_once('.')?;
    let seq = rest.strip_prefix('c')?;
    let seq_digits = seq.split('.').next()?;
    let valid = check_mark(mark).is_ok()
        && !pid.is_empty()
        && pid.chars().all(|c| c.is_ascii_digit())
        && !seq_digits.is_empty()
        && seq_digits.chars().all(|c| c.is_ascii_digit());
    Some((mark, pid.parse().ok()?)).filter(|_| valid)
}

/// The folder holding every cluster's folder: `corosync-testkit` in the
/// temporary folder.
pub(crate) fn kit_dir() -> PathBuf {
    std::env::temp_dir().join("corosync-testkit")
}

/// What [`remove_stale`] removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Removed {
    /// The namespaces deleted (their daemons killed first).
    pub namespaces: Vec<String>,
    /// The cluster folders deleted.
    pub folders: Vec<PathBuf>,
}

/// Removes what clusters of `mark` left behind when their process died
/// before it could clean up: namespaces (killing the daemons still in
/// them) and folders whose name carries `mark` and the id of a process
/// that no longer runs. Nothing of another mark, of a running process, or
/// not made by the kit is touched. The first cluster of each mark in a
/// process does this by itself.
pub fn remove_stale(mark: &str) -> Removed {
    let stale =
        |name: &str| owner_of(name).is_some_and(|(m, pid)| m == mark && !crate::process_alive(pid));
    let mut removed = Removed::default();
    for name in netns::list() {
        if stale(&name) {
            for daemon in netns::pids_in(&name) {
                // SAFETY: kill only sends a signal, to a process in a
                // namespace of this mark whose creator is gone.
                unsafe { libc::kill(daemon, libc::SIGKILL) };
            }
            if netns::ip(&["netns", "delete", &name]).is_ok() {
                removed.namespaces.push(name);
            }
        }
    }
    if let Ok(dir) = std::fs::read_dir(kit_dir()) {
        for entry in dir.filter_map(|e| e.ok()) {
            let name = entry.file_name().to_string_lossy().into_owned();
            if stale(&name) && std::fs::remove_dir_all(entry.path()).is_ok() {
                removed.folders.push(entry.path());
            }
        }
    }
    removed
}

/// Runs [`remove_stale`] for `mark` once per process.
pub(crate) fn remove_stale_once(mark: &str) {
    static CLEANED: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut cleaned = CLEANED.lock().unwrap_or_else(|e| e.into_inner());
    if !cleaned.iter().any(|m| m == mark) {
        remove_stale(mark);
        cleaned.push(mark.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_mark_and_the_pid() {
        let name = cluster_name("my-app_2", 4242, 7);
        assert_eq!(name, "ctk.my-app_2.4242.c7");
        assert_eq!(owner_of(&name), Some(("my-app_2", 4242)));
        assert_eq!(owner_of(&format!("{name}.n3")), Some(("my-app_2", 4242)));
        assert_eq!(owner_of(&format!("{name}.sw")), Some(("my-app_2", 4242)));
    }

    #[test]
    fn names_not_made_by_the_kit_have_no_owner() {
        for name in [
            "crs4242c0n1",
            "ctk4242.c0",
            "ctk..4242.c0",
            "ctk.app.4242",
            "ctk.app.42x.c0",
            "ctk.app.4242.x0",
            "ctk.app.4242.c",
            "ctk.a/b.4242.c0",
            "xctk.app.4242.c0",
            "ctk.app.-1.c0",
            "",
        ] {
            assert_eq!(owner_of(name), None, "{name}");
        }
    }

    #[test]
    fn a_mark_is_checked() {
        assert!(check_mark("app-1_x").is_ok());
        for bad in ["", "a.b", "a b", "a/b", &"x".repeat(33)] {
            let err = check_mark(bad).unwrap_err().to_string();
            assert!(err.contains("is not 1 to 32 of"), "{err}");
        }
    }
}
