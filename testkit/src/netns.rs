//! Network namespaces: create and delete them, and run code or commands in
//! them.
//!
//! Namespaces are made with iproute2's `ip netns add`, which pins each one at
//! `/run/netns/<name>`. Every name a [`Cluster`](crate::Cluster) gives its
//! namespaces carries its owner mark and the creating process's pid, so
//! namespaces left by a crashed run can be found and deleted
//! ([`remove_stale`](crate::remove_stale)).

use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use crate::bounded::{self, COMMAND_WAIT};
use crate::Error;

/// Runs `ip` with `args` (killed after [`COMMAND_WAIT`]); an error carries
/// its stderr.
pub(crate) fn ip(args: &[&str]) -> Result<(), Error> {
    let out = bounded::output(Command::new("ip").args(args), COMMAND_WAIT).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::new(format!("cannot run `ip` (install iproute2): {e}"))
        } else {
            Error::new(e.to_string())
        }
    })?;
    check_output("ip", args, &out)
}

fn check_output(program: &str, args: &[&str], out: &Output) -> Result<(), Error> {
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::new(format!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// A named network namespace, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
    deleted: bool,
}

impl Netns {
    /// Creates the namespace `name` with its loopback interface up.
    pub fn create(name: &str) -> Result<Netns, Error> {
        ip(&["netns", "add", name])?;
        let ns = Netns {
            name: name.to_string(),
            deleted: false,
        };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file that pins the namespace.
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// Opens the namespace file, for `setns`.
    pub fn open(&self) -> Result<File, Error> {
        File::open(self.path())
            .map_err(|e| Error::new(format!("open {}: {e}", self.path().display())))
    }

    /// Runs `ip -n <name> args...`.
    pub fn ip(&self, args: &[&str]) -> Result<(), Error> {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        ip(&full)
    }

    /// A command that runs inside this namespace (network only; the mount
    /// namespace is the caller's).
    pub fn command(&self, program: &str) -> Result<Command, Error> {
        let file = self.open()?;
        let mut cmd = Command::new(program);
        let fd = file.as_raw_fd();
        // SAFETY: the closure runs in the forked child before exec and only
        // makes the async-signal-safe setns system call. `file` is moved
        // into the closure, so the descriptor stays open until the Command
        // is dropped.
        unsafe {
            cmd.pre_exec(move || {
                let _keep = &file;
                enter(fd)
            });
        }
        Ok(cmd)
    }

    /// Runs `f` on a new thread that has entered this namespace, and returns
    /// its result; a panic in `f` is resumed here. Sockets created in `f`
    /// (corosync client connections among them) belong to this namespace
    /// for their whole life, whichever thread uses them later.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, Error> {
        let file = self.open()?;
        std::thread::scope(|scope| {
            let handle = scope.spawn(move || {
                enter(file.as_raw_fd())
                    .map_err(|e| Error::new(format!("setns into {}: {e}", self.name)))?;
                Ok(f())
            });
            match handle.join() {
                Ok(result) => result,
                Err(payload) => std::panic::resume_unwind(payload),
            }
        })
    }

    /// Starts `f` on a new thread that enters this namespace first, and
    /// returns the thread; failing to enter the namespace is a panic of
    /// that thread.
    pub fn spawn_thread<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<std::thread::JoinHandle<T>, Error> {
        let file = self.open()?;
        let name = self.name.clone();
        Ok(std::thread::spawn(move || {
            enter(file.as_raw_fd()).unwrap_or_else(|e| panic!("setns into {name}: {e}"));
            f()
        }))
    }

    /// Runs `f` on a new thread that has entered this namespace, as
    /// [`Netns::run`] does, but waits at most `limit` for it: `Ok(None)` if
    /// `f` has not returned by then (its thread is left behind, for calls
    /// that may block, such as requests to a stopped daemon).
    pub fn run_within<T: Send + 'static>(
        &self,
        limit: Duration,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<Option<T>, Error> {
        let file = self.open()?;
        let name = self.name.clone();
        let entered = bounded::within(limit, move || {
            enter(file.as_raw_fd()).map_err(|e| Error::new(format!("setns into {name}: {e}")))?;
            Ok(f())
        });
        entered.transpose()
    }

    /// Deletes the namespace.
    pub fn delete(mut self) -> Result<(), Error> {
        self.deleted = true;
        ip(&["netns", "delete", &self.name])
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if !self.deleted {
            let _ = ip(&["netns", "delete", &self.name]);
        }
    }
}

/// Moves the calling thread into the network namespace `fd` refers to.
pub(crate) fn enter(fd: RawFd) -> std::io::Result<()> {
    // SAFETY: setns only reads its arguments; a bad fd is reported as an
    // error.
    if unsafe { libc::setns(fd, libc::CLONE_NEWNET) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The namespaces made by the kit that exist now, of every owner mark.
pub fn list() -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| crate::owner::owner_of(n).is_some())
                .collect()
        })
        .unwrap_or_default()
}

/// The pids of the processes running in namespace `name`.
pub(crate) fn pids_in(name: &str) -> Vec<i32> {
    bounded::output(
        Command::new("ip").args(["netns", "pids", name]),
        COMMAND_WAIT,
    )
    .map(|out| {
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    })
    .unwrap_or_default()
}
