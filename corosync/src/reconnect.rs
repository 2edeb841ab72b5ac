//! Riding through a restart of the local daemon: the policy
//! ([`Reconnect`]), the notification ([`Disconnected`]), and what a handle
//! that reconnects keeps.
//!
//! A handle built with a policy replaces its C connection in place: the
//! Rust handle, its closures and its `&self` borrows stay the same, only
//! the connection underneath (and with it the descriptor and `as_raw()`)
//! is new. The connection is replaced only from inside the handle's own
//! dispatch guard (no callback runs then, and a dispatch from a callback
//! is refused), so no closure ever sees it change under it.

use std::cell::{Cell, UnsafeCell};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use corosync_sys as sys;

use crate::handle::{hung_up, Connection, Dispatch, Library};
use crate::Result;

/// How a handle reconnects after its daemon went away: tries with a
/// back-off, for a bounded time.
///
/// The first try comes at once; after each failed try the next waits
/// twice as long, from `initial_delay` up to `max_delay`. A blocking
/// `dispatch` tries for up to `patience` and then returns the error (the
/// next `dispatch` tries again); an async stream tries for up to
/// `patience` after the connection failed and then yields the error and
/// ends.
///
/// ```
/// use std::time::Duration;
/// use corosync::Reconnect;
///
/// let policy = Reconnect::new()
///     .delays(Duration::from_millis(20), Duration::from_millis(500))
///     .patience(Duration::from_secs(10));
/// # let _ = policy;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reconnect {
    initial_delay: Duration,
    max_delay: Duration,
    patience: Duration,
}

impl Default for Reconnect {
    /// 50 ms after the first failed try, doubling up to 1 s, for 30 s (a
    /// daemon restart usually takes a few seconds).
    fn default() -> Self {
        Reconnect {
            initial_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(1),
            patience: Duration::from_secs(30),
        }
    }
}

impl Reconnect {
    /// The default policy.
    pub fn new() -> Self {
        Reconnect::default()
    }

    /// Waits `initial` after the first failed try, doubling up to `max`.
    pub fn delays(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_delay = initial;
        self.max_delay = max.max(initial);
        self
    }

    /// How long to keep trying (see the type's docs).
    pub fn patience(mut self, patience: Duration) -> Self {
        self.patience = patience;
        self
    }

    /// How long to keep trying.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn patience_limit(&self) -> Duration {
        self.patience
    }

    /// The wait after a failed try that waited `delay` before it.
    pub(crate) fn next_delay(&self, delay: Option<Duration>) -> Duration {
        delay.map_or(self.initial_delay, |d| {
            d.saturating_mul(2).min(self.max_delay)
        })
    }
}

/// A handle lost its connection to the daemon and has a new one: events of
/// the time in between (messages, membership and quorum changes) may be
/// missing. What the handle had set up (a joined group, tracking, cmap
/// tracks) is set up again when this is reported; the connection is new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Disconnected {
    /// When the handle found its connection gone.
    pub since: Instant,
    /// When the new connection was ready.
    pub reconnected_at: Instant,
    /// How many tries it took (1 or more).
    pub attempts: u32,
}

/// What a handle keeps to reconnect: its policy, and since when it is
/// down.
pub(crate) struct Rider {
    policy: Option<Reconnect>,
    /// Whether `dispatch` reconnects by itself (an async stream does it
    /// instead, between its polls).
    auto: bool,
    since: Cell<Option<Instant>>,
    attempts: Cell<u32>,
}

impl Rider {
    pub(crate) fn new(policy: Option<Reconnect>, auto: bool) -> Rider {
        Rider {
            policy,
            auto,
            since: Cell::new(None),
            attempts: Cell::new(0),
        }
    }

    /// The policy, if the handle reconnects.
    pub(crate) fn policy(&self) -> Option<Reconnect> {
        self.policy
    }

    /// Whether a dispatch that answered `rc` on descriptor `fd` found the
    /// daemon gone and should reconnect by itself.
    pub(crate) fn should_recover(&self, rc: sys::cs_error_t, fd: RawFd) -> bool {
        self.auto && self.policy.is_some() && is_gone(rc, fd)
    }

    /// One try: `attempt` makes and sets up the new connection. The
    /// notification when it worked.
    pub(crate) fn try_once(&self, attempt: impl FnOnce() -> Result<()>) -> Result<Disconnected> {
        let since = *self.since.get().get_or_insert_with(Instant::now);
        self.since.set(Some(since));
        self.attempts.set(self.attempts.get().saturating_add(1));
        attempt()?;
        let attempts = self.attempts.replace(0);
        self.since.set(None);
        Ok(Disconnected {
            since,
            reconnected_at: Instant::now(),
            attempts,
        })
    }

    /// Tries with the policy's back-off, sleeping on this thread between
    /// tries, for up to its patience; the last error when none worked.
    pub(crate) fn blocking(&self, mut attempt: impl FnMut() -> Result<()>) -> Result<Disconnected> {
        let policy = self.policy.unwrap_or_default();
        let start = Instant::now();
        let mut delay = None;
        loop {
            let err = match self.try_once(&mut attempt) {
                Ok(d) => return Ok(d),
                Err(err) => err,
            };
            let next = policy.next_delay(delay);
            if start.elapsed().saturating_add(next) > policy.patience {
                return Err(err);
            }
            std::thread::sleep(next);
            delay = Some(next);
        }
    }
}

/// A handle's closure for its reconnections.
pub(crate) type ReconnectFn<H> = Box<dyn FnMut(&H, &Disconnected) + Send>;

/// What a service's builder keeps for riding through restarts: the
/// policy, the closure to tell, and who reconnects.
pub(crate) struct RideOptions<H> {
    policy: Option<Reconnect>,
    on_reconnect: Option<ReconnectFn<H>>,
    /// Whether an async stream, not `dispatch`, reconnects.
    stream_driven: bool,
}

impl<H> Default for RideOptions<H> {
    fn default() -> Self {
        RideOptions {
            policy: None,
            on_reconnect: None,
            stream_driven: false,
        }
    }
}

impl<H> RideOptions<H> {
    /// Reconnects as `policy` says.
    pub(crate) fn policy(&mut self, policy: Reconnect) {
        self.policy = Some(policy);
    }

    /// Tells `f` of each reconnection.
    pub(crate) fn on_reconnect(&mut self, f: ReconnectFn<H>) {
        self.on_reconnect = Some(f);
    }

    /// Reconnects from an async stream, not from `dispatch`.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn stream_driven(&mut self) {
        self.stream_driven = true;
    }

    /// Whether the handle will reconnect (it then needs a stable
    /// descriptor, see [`Slot::new`]).
    pub(crate) fn reconnects(&self) -> bool {
        self.policy.is_some()
    }

    /// At connect: the handle's rider, and the closure for its callbacks.
    pub(crate) fn into_parts(self) -> (Rider, Option<ReconnectFn<H>>) {
        (
            Rider::new(self.policy, !self.stream_driven),
            self.on_reconnect,
        )
    }
}

/// A handle that rides through restarts of its daemon. A service gives
/// how a connection is made and set up again; the rest (when to
/// reconnect, the back-off, telling the closure once) is the same for
/// every service and comes with the trait.
pub(crate) trait Rides: Dispatch {
    /// Its connection.
    fn slot(&self) -> &Slot<Self::Lib>;

    /// Its policy and reconnection state.
    fn rider(&self) -> &Rider;

    /// Makes a new connection, sets up on it what the handle had set up
    /// (a group joined, tracking started, registrations), and puts it in
    /// place of the old one (with [`Slot::replace`]). Only inside the
    /// dispatch guard, outside callbacks; on failure the handle stays as
    /// it was.
    fn reopen(&self) -> Result<()>;

    /// The reconnect closure among the handle's closures.
    fn reconnect_fn(cb: &mut Self::Callbacks) -> Option<&mut ReconnectFn<Self>>;

    /// The notification, held back after a panic for the next dispatch.
    fn held(d: Disconnected) -> Self::Held;

    /// Runs the reconnect closure with `d` (from `deliver_held` too).
    fn tell(&self, cb: &mut Self::Callbacks, d: &Disconnected) {
        if let Some(f) = Self::reconnect_fn(cb) {
            f(self, d);
        }
    }

    /// Runs the reconnect closure. Inside the dispatch guard, outside
    /// callbacks.
    fn notify(&self, d: Disconnected) {
        // SAFETY: inside the cell's dispatch on this thread (the callers),
        // not nested in another of its callbacks.
        unsafe {
            self.cell()
                .invoke(|cb| self.tell(cb, &d), || Some(Self::held(d)))
        }
    }

    /// [`Dispatch::recover`]: after the C dispatch answered `rc`,
    /// reconnects (waiting on this thread) if the daemon is gone and the
    /// handle reconnects from `dispatch`.
    fn recover_from(&self, rc: sys::cs_error_t) -> sys::cs_error_t {
        if !self.rider().should_recover(rc, self.slot().get().fd()) {
            return rc;
        }
        match self.rider().blocking(|| self.reopen()) {
            Ok(d) => {
                self.notify(d);
                sys::CS_OK
            }
            Err(_) => rc,
        }
    }

    /// Whether the daemon's end of the connection is gone.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    fn connection_gone(&self) -> bool {
        hung_up(self.slot().get().fd())
    }

    /// The reconnect policy, if any.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    fn reconnect_policy(&self) -> Option<Reconnect> {
        self.rider().policy()
    }

    /// One reconnect try, for an async stream (no waiting): the
    /// notification has run when it worked. Refused during a dispatch.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    fn reconnect_once(&self) -> Result<()> {
        self.cell().dispatch(|| {
            let d = self.rider().try_once(|| self.reopen())?;
            self.notify(d);
            Ok(())
        })?
    }
}

/// Whether a call that answered `rc` on descriptor `fd` found the daemon
/// gone.
pub(crate) fn is_gone(rc: sys::cs_error_t, fd: RawFd) -> bool {
    rc == sys::CS_ERR_LIBRARY || (rc != sys::CS_OK && rc != sys::CS_ERR_TRY_AGAIN && hung_up(fd))
}

/// A handle's connection, replaced in place when it reconnects.
///
/// A handle that may reconnect shows a descriptor of its own that never
/// changes: an epoll instance watching the current connection's
/// descriptor (readable while that one is readable or hung up). So a
/// descriptor registered with a poll loop, or borrowed through `AsFd`,
/// stays valid and keeps reporting across reconnections.
pub(crate) struct Slot<L: Library> {
    conn: UnsafeCell<Connection<L>>,
    stable: Option<OwnedFd>,
}

impl<L: Library> Slot<L> {
    /// `conn`, with a stable descriptor when `reconnects`.
    pub(crate) fn new(conn: Connection<L>, reconnects: bool) -> Result<Self> {
        let stable = if reconnects {
            // SAFETY: no pointers; the result is checked.
            let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
            if ep < 0 {
                return Err(std::io::Error::last_os_error().into());
            }
            // SAFETY: a new descriptor that nothing else owns.
            let ep = unsafe { OwnedFd::from_raw_fd(ep) };
            watch(ep.as_raw_fd(), libc::EPOLL_CTL_ADD, conn.fd())?;
            Some(ep)
        } else {
            None
        };
        Ok(Slot {
            conn: UnsafeCell::new(conn),
            stable,
        })
    }

    /// The connection. (Callers use it for the call at hand and keep no
    /// reference across anything that may reconnect.)
    #[inline]
    pub(crate) fn get(&self) -> &Connection<L> {
        // SAFETY: `replace` is the only writer, and its callers hold no
        // reference from here (see its contract).
        unsafe { &*self.conn.get() }
    }

    /// The C handle of the current connection.
    #[inline]
    pub(crate) fn raw(&self) -> u64 {
        self.get().raw()
    }

    /// The descriptor the handle shows: the stable one, or the
    /// connection's.
    #[inline]
    pub(crate) fn fd(&self) -> RawFd {
        match &self.stable {
            Some(ep) => ep.as_raw_fd(),
            None => self.get().fd(),
        }
    }

    /// Finalizes the current connection.
    pub(crate) fn close(&mut self) -> Result<()> {
        self.conn.get_mut().close()
    }

    /// Puts `new` in place and returns the old connection (its descriptor
    /// no longer watched).
    ///
    /// # Safety
    ///
    /// No reference from [`Slot::get`] is alive: called only inside the
    /// handle's dispatch guard, outside any callback and any C call on the
    /// handle (the handles are not `Sync`, so no other thread has one).
    pub(crate) unsafe fn replace(&self, new: Connection<L>) -> Result<Connection<L>> {
        if let Some(ep) = &self.stable {
            watch(ep.as_raw_fd(), libc::EPOLL_CTL_ADD, new.fd())?;
            // (Both are open: the old one is finalized by the caller.)
            watch(ep.as_raw_fd(), libc::EPOLL_CTL_DEL, self.get().fd())?;
        }
        // SAFETY: the caller's promise: no other reference exists.
        Ok(unsafe { std::mem::replace(&mut *self.conn.get(), new) })
    }
}

/// Adds `fd` to (or removes it from) epoll instance `ep`, for input.
fn watch(ep: RawFd, op: libc::c_int, fd: RawFd) -> Result<()> {
    let mut ev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: 0,
    };
    // SAFETY: two open descriptors and a valid event for the call.
    if unsafe { libc::epoll_ctl(ep, op, fd, &mut ev) } < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_back_off_doubles_up_to_its_maximum() {
        let p = Reconnect::new().delays(Duration::from_millis(10), Duration::from_millis(35));
        let d1 = p.next_delay(None);
        let d2 = p.next_delay(Some(d1));
        let d3 = p.next_delay(Some(d2));
        assert_eq!(
            [d1, d2, d3],
            [10, 20, 35].map(Duration::from_millis),
            "delays"
        );
    }

    #[test]
    fn a_try_that_works_reports_the_tries_and_resets() {
        let rider = Rider::new(Some(Reconnect::new()), true);
        assert!(rider.try_once(|| Err(crate::Error::Library)).is_err());
        let d = rider.try_once(|| Ok(())).unwrap();
        assert_eq!(d.attempts, 2);
        assert!(d.reconnected_at >= d.since);
        assert_eq!(rider.try_once(|| Ok(())).unwrap().attempts, 1);
    }

    #[test]
    fn blocking_tries_give_up_after_the_patience() {
        let p = Reconnect::new()
            .delays(Duration::from_millis(1), Duration::from_millis(2))
            .patience(Duration::from_millis(20));
        let rider = Rider::new(Some(p), true);
        let mut tries = 0;
        let err = rider.blocking(|| {
            tries += 1;
            Err(crate::Error::Library)
        });
        assert_eq!(err, Err(crate::Error::Library));
        assert!(tries > 1, "tried {tries} times");
    }
}
