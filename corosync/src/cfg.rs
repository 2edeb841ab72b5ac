//! The configuration service (libcfg): the local node id, node addresses
//! and link status, killing a node, shutting corosync down (with a vote of
//! the clients that asked to be told), reloading the configuration and
//! reopening the log files.
//!
//! ```
//! use corosync::cfg::Cfg;
//!
//! let cfg = Cfg::new()?;
//! let me = cfg.local_nodeid()?;
//! println!("node {me}: addresses {:?}", cfg.node_addrs(me)?);
//! # Ok::<(), corosync::Error>(())
//! ```

use std::cell::Cell;
use std::ffi::{c_char, CStr, CString};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use corosync_sys as sys;

use crate::cell::CallbackCell;
use crate::current::{Kind, Registered};
use crate::error::check;
use crate::handle::{callback, Connection, Dispatch};
use crate::reconnect::{ReconnectFn, RideOptions, Rider, Rides, Slot};
use crate::{Disconnected, Error, NodeId, Reconnect, Result, TrackFlags};

/// The most link addresses corosync reports for a node (knet's links).
// (`CFG_MAX_LINKS` in cfg.h from corosync 3.1.1; knet's link count, 8.)
pub const MAX_LINKS: usize = 8;

/// The longest reason [`Cfg::kill_node`] takes, in bytes (corosync stores it
/// NUL-terminated in 256 bytes).
pub const MAX_KILL_REASON_LEN: usize = sys::CS_MAX_NAME_LENGTH as usize - 1;

/// How a shutdown is requested ([`Cfg::try_shutdown`]), and what a shutdown
/// callback is told (`corosync_cfg_shutdown_flags_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ShutdownMode {
    /// `REQUEST`: shut down only if no client that registered a shutdown
    /// callback answers no.
    Request,
    /// `REGARDLESS`: ask the clients, then shut down whatever they answer.
    Regardless,
    /// `IMMEDIATE`: shut down without asking.
    Immediate,
    /// A value these bindings do not know.
    Unknown(u32),
}

impl ShutdownMode {
    /// The raw flag.
    pub fn as_raw(self) -> u32 {
        match self {
            ShutdownMode::Request => sys::COROSYNC_CFG_SHUTDOWN_FLAG_REQUEST,
            ShutdownMode::Regardless => sys::COROSYNC_CFG_SHUTDOWN_FLAG_REGARDLESS,
            ShutdownMode::Immediate => sys::COROSYNC_CFG_SHUTDOWN_FLAG_IMMEDIATE,
            ShutdownMode::Unknown(raw) => raw,
        }
    }

    /// The mode for a raw flag.
    pub fn from_raw(raw: u32) -> ShutdownMode {
        match raw {
            sys::COROSYNC_CFG_SHUTDOWN_FLAG_REQUEST => ShutdownMode::Request,
            sys::COROSYNC_CFG_SHUTDOWN_FLAG_REGARDLESS => ShutdownMode::Regardless,
            sys::COROSYNC_CFG_SHUTDOWN_FLAG_IMMEDIATE => ShutdownMode::Immediate,
            other => ShutdownMode::Unknown(other),
        }
    }
}

/// One network interface of the local node and its status
/// (`corosync_cfg_ring_status_get`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RingStatus {
    /// The interface (for knet, the link number and its address).
    pub name: Vec<u8>,
    /// The status text corosync reports.
    pub status: Vec<u8>,
}

/// The status of one knet link to a node.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkStatus {
    /// The link number (0 to 7).
    pub link: usize,
    /// Configured and enabled by the administrator.
    pub enabled: bool,
    /// Connected for data (local view).
    pub connected: bool,
    /// Activated by a remote dynamic IP.
    pub dynconnected: bool,
    /// The MTU detected on the link.
    pub mtu: u32,
    /// The local address of the link.
    pub src_addr: String,
    /// The remote address of the link.
    pub dst_addr: String,
}

/// What corosync knows of a node and its links
/// (`corosync_cfg_node_status_get`, corosync 3.1.1 and later).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeStatus {
    /// The node.
    pub nodeid: NodeId,
    /// Whether it can be reached.
    pub reachable: bool,
    /// Whether it is a remote node (not the local one).
    pub remote: bool,
    /// Whether knet considers it external.
    pub external: bool,
    /// The lowest on-wire protocol version it supports.
    pub onwire_min: u8,
    /// The highest on-wire protocol version it supports.
    pub onwire_max: u8,
    /// The on-wire protocol version in use.
    pub onwire_ver: u8,
    /// Its configured links (those corosync reports as enabled), in link
    /// number order.
    pub links: Vec<LinkStatus>,
}

type ShutdownFn = Box<dyn FnMut(&Cfg, ShutdownMode) + Send>;

pub(crate) struct Callbacks {
    shutdown: Option<ShutdownFn>,
    reconnect: Option<ReconnectFn<Cfg>>,
}

/// An event copied after a closure panicked, for the next dispatch.
pub(crate) enum Held {
    Shutdown(ShutdownMode),
    Reconnected(Disconnected),
}

crate::handle::library!(
    /// libcfg.
    CfgLib,
    "Cfg",
    sys::corosync_cfg_fd_get,
    sys::corosync_cfg_dispatch,
    sys::corosync_cfg_finalize
);

/// A connection to the configuration service. Finalized on drop.
///
/// `Send` but not `Sync`: libcfg does not serialize concurrent requests on
/// one connection. `dispatch`, `dispatch_some`, `dispatch_timeout`,
/// `finalize` and the descriptor (`AsFd`) are the same for every service
/// (see [Conventions](crate#conventions)).
pub struct Cfg {
    // (First: the connection is finalized before the closures are dropped.)
    conn: Slot<CfgLib>,
    cell: CallbackCell<Callbacks, Held>,
    /// Whether the shutdown callback is registered, to connect again the
    /// same way.
    with_shutdown: bool,
    /// The flags of the tracking started, until it is stopped.
    #[cfg_attr(not(corosync_has_corosync_cfg_trackstart), allow(dead_code))]
    tracking: Cell<Option<TrackFlags>>,
    /// Whether and how it reconnects.
    rider: Rider,
}

/// Builds a [`Cfg`] connection.
#[derive(Default)]
#[must_use = "a builder does nothing until connect() is called"]
pub struct CfgBuilder {
    shutdown: Option<ShutdownFn>,
    ride: RideOptions<Cfg>,
}

impl CfgBuilder {
    /// Called when someone requests a shutdown of corosync with
    /// [`ShutdownMode::Request`] or [`ShutdownMode::Regardless`]; the
    /// closure should answer with [`Cfg::reply_to_shutdown`] (corosync
    /// waits for the answers, up to a timeout).
    ///
    /// corosync asks only the connections that called
    /// [`Cfg::track_start`] (corosync 3.1.1 and later).
    pub fn on_shutdown(mut self, f: impl FnMut(&Cfg, ShutdownMode) + Send + 'static) -> Self {
        self.shutdown = Some(Box::new(f));
        self
    }

    /// Rides through a restart of the local daemon (see
    /// [Riding through a daemon restart](crate#riding-through-a-daemon-restart)):
    /// a dispatch that finds the daemon gone connects again as `policy`
    /// says, starts tracking again if it was, and reports it to
    /// [`CfgBuilder::on_reconnect`] before it returns.
    pub fn reconnect(mut self, policy: Reconnect) -> Self {
        self.ride.policy(policy);
        self
    }

    /// Called once per reconnection (see [`CfgBuilder::reconnect`]): a
    /// shutdown request of the time between went unanswered.
    pub fn on_reconnect(mut self, f: impl FnMut(&Cfg, &Disconnected) + Send + 'static) -> Self {
        self.ride.on_reconnect(Box::new(f));
        self
    }

    /// Reconnects from an async stream, not from `dispatch` (the async
    /// adapter needs `corosync_cfg_trackstart`).
    #[cfg(all(feature = "tokio", corosync_has_corosync_cfg_trackstart))]
    pub(crate) fn stream_driven(mut self) -> Self {
        self.ride.stream_driven();
        self
    }

    /// Connects to the local corosync daemon.
    pub fn connect(self) -> Result<Cfg> {
        let with_shutdown = self.shutdown.is_some();
        let conn = Slot::new(open(with_shutdown)?, self.ride.reconnects())?;
        let (rider, reconnect) = self.ride.into_parts();
        Ok(Cfg {
            conn,
            cell: CallbackCell::new(Callbacks {
                shutdown: self.shutdown,
                reconnect,
            }),
            with_shutdown,
            tracking: Cell::new(None),
            rider,
        })
    }
}

/// Makes a libcfg connection, with the shutdown callback or without.
fn open(with_shutdown: bool) -> Result<Connection<CfgLib>> {
    let callbacks = sys::corosync_cfg_callbacks_t {
        corosync_cfg_shutdown_callback: with_shutdown.then_some(shutdown_trampoline as _),
    };
    // SAFETY: valid pointers; libcfg copies the callbacks.
    Connection::<CfgLib>::open(|raw| unsafe { sys::corosync_cfg_initialize(raw, &callbacks) })
}

impl Cfg {
    /// A builder, to set the shutdown callback before connecting.
    pub fn builder() -> CfgBuilder {
        CfgBuilder::default()
    }

    /// A connection with no callback.
    pub fn new() -> Result<Cfg> {
        Cfg::builder().connect()
    }

    fn raw(&self) -> sys::corosync_cfg_handle_t {
        self.conn.raw()
    }

    /// The handle the C library uses, for calls the safe API does not cover.
    pub fn as_raw(&self) -> sys::corosync_cfg_handle_t {
        self.raw()
    }

    /// The node id of the local node.
    pub fn local_nodeid(&self) -> Result<NodeId> {
        let mut id = 0;
        // SAFETY: live handle, valid out-pointer.
        check(unsafe { sys::corosync_cfg_local_get(self.raw(), &mut id) })?;
        Ok(NodeId::new(id))
    }

    /// The addresses of `nodeid`, one entry per link slot corosync reports
    /// (at most [`MAX_LINKS`], knet's number of links, which is all corosync
    /// can have); `None` for a slot with no address.
    pub fn node_addrs(&self, nodeid: NodeId) -> Result<Vec<Option<IpAddr>>> {
        let empty = sys::corosync_cfg_node_address_t {
            address_length: 0,
            address: [0; 28],
        };
        let mut addrs = [empty; MAX_LINKS];
        let mut count = 0;
        // SAFETY: live handle; `addrs` holds MAX_LINKS entries, as passed.
        check(unsafe {
            sys::corosync_cfg_get_node_addrs(
                self.raw(),
                nodeid.get(),
                MAX_LINKS,
                &mut count,
                addrs.as_mut_ptr(),
            )
        })?;
        let count = (count.max(0) as usize).min(MAX_LINKS);
        Ok(addrs[..count].iter().map(sockaddr_to_ip).collect())
    }

    /// The local node's interfaces and their status.
    pub fn ring_status(&self) -> Result<Vec<RingStatus>> {
        let mut names: *mut *mut c_char = std::ptr::null_mut();
        let mut status: *mut *mut c_char = std::ptr::null_mut();
        let mut count = 0;
        // SAFETY: live handle, valid out-pointers.
        check(unsafe {
            sys::corosync_cfg_ring_status_get(self.raw(), &mut names, &mut status, &mut count)
        })?;
        let mut out = Vec::with_capacity(count as usize);
        for i in 0..count as usize {
            // SAFETY: on success libcfg returns `count` malloc'd,
            // NUL-terminated strings in each malloc'd array; each is read
            // once and freed once here.
            unsafe {
                let name = *names.add(i);
                let stat = *status.add(i);
                out.push(RingStatus {
                    name: if name.is_null() {
                        Vec::new()
                    } else {
                        CStr::from_ptr(name).to_bytes().to_vec()
                    },
                    status: if stat.is_null() {
                        Vec::new()
                    } else {
                        CStr::from_ptr(stat).to_bytes().to_vec()
                    },
                });
                libc::free(name.cast());
                libc::free(stat.cast());
            }
        }
        // SAFETY: the arrays were malloc'd by libcfg (free(NULL) is a no-op).
        unsafe {
            libc::free(names.cast());
            libc::free(status.cast());
        }
        Ok(out)
    }

    /// The status of `nodeid` and of the links to it.
    ///
    /// Needs corosync 3.1.1 or later: present when the installed `cfg.h`
    /// declares `corosync_cfg_node_status_get` (see [supported
    /// versions](crate#supported-corosync-versions)).
    #[cfg(corosync_has_corosync_cfg_node_status_get)]
    pub fn node_status(&self, nodeid: NodeId) -> Result<NodeStatus> {
        // SAFETY: an all-zero corosync_cfg_node_status_v1 is valid.
        let mut raw: sys::corosync_cfg_node_status_v1 = unsafe { std::mem::zeroed() };
        // SAFETY: live handle; the out-pointer is a v1 status, as asked.
        check(unsafe {
            sys::corosync_cfg_node_status_get(
                self.raw(),
                nodeid.get(),
                sys::CFG_NODE_STATUS_V1,
                std::ptr::addr_of_mut!(raw).cast(),
            )
        })?;
        let text = |buf: &[c_char]| -> String {
            let bytes: Vec<u8> = buf
                .iter()
                .map(|&c| c as u8)
                .take_while(|&b| b != 0)
                .collect();
            String::from_utf8_lossy(&bytes).into_owned()
        };
        let links = raw
            .link_status
            .iter()
            .enumerate()
            .filter(|(_, l)| l.enabled != 0)
            .map(|(link, l)| LinkStatus {
                link,
                enabled: l.enabled != 0,
                connected: l.connected != 0,
                dynconnected: l.dynconnected != 0,
                mtu: l.mtu,
                src_addr: text(&l.src_ipaddr),
                dst_addr: text(&l.dst_ipaddr),
            })
            .collect();
        Ok(NodeStatus {
            nodeid: NodeId::new(raw.nodeid),
            reachable: raw.reachable != 0,
            remote: raw.remote != 0,
            external: raw.external != 0,
            onwire_min: raw.onwire_min,
            onwire_max: raw.onwire_max,
            onwire_ver: raw.onwire_ver,
            links,
        })
    }

    /// Tells corosync on `nodeid` to exit, logging `reason` (at most
    /// [`MAX_KILL_REASON_LEN`] bytes, no NUL).
    pub fn kill_node(&self, nodeid: NodeId, reason: &str) -> Result<()> {
        if reason.len() > MAX_KILL_REASON_LEN {
            return Err(Error::TooLong {
                what: "kill reason",
                len: reason.len(),
                max: MAX_KILL_REASON_LEN,
            });
        }
        let reason = CString::new(reason).map_err(|e| Error::InteriorNul {
            what: "kill reason",
            position: e.nul_position(),
        })?;
        // SAFETY: live handle, NUL-terminated reason shorter than corosync's
        // buffer.
        check(unsafe { sys::corosync_cfg_kill_node(self.raw(), nodeid.get(), reason.as_ptr()) })
    }

    /// Starts tracking: shutdown requests then reach the closure of
    /// [`CfgBuilder::on_shutdown`].
    ///
    /// Needs corosync 3.1.1 or later: present when the installed `cfg.h`
    /// declares `corosync_cfg_trackstart` (see [supported
    /// versions](crate#supported-corosync-versions)).
    #[cfg(corosync_has_corosync_cfg_trackstart)]
    pub fn track_start(&self, flags: TrackFlags) -> Result<()> {
        flags.check_reports()?;
        // SAFETY: live handle.
        check(unsafe { sys::corosync_cfg_trackstart(self.raw(), flags.as_raw()) })?;
        self.tracking.set(Some(flags));
        Ok(())
    }

    /// Stops tracking.
    ///
    /// Needs corosync 3.1.1 or later: present when the installed `cfg.h`
    /// declares `corosync_cfg_trackstop` (see [supported
    /// versions](crate#supported-corosync-versions)).
    #[cfg(corosync_has_corosync_cfg_trackstop)]
    pub fn track_stop(&self) -> Result<()> {
        // SAFETY: live handle.
        check(unsafe { sys::corosync_cfg_trackstop(self.raw()) })?;
        self.tracking.set(None);
        Ok(())
    }

    /// Asks corosync to shut down. With [`ShutdownMode::Request`] it returns
    /// [`Error::Busy`] when a client answered no.
    ///
    /// [`ShutdownMode::Unknown`] is refused with [`Error::InvalidInput`]
    /// before anything is sent: corosync 3.1 handles a flag it does not
    /// know as a request, and shuts down at once when no client tracks.
    pub fn try_shutdown(&self, mode: ShutdownMode) -> Result<()> {
        if let ShutdownMode::Unknown(_) = mode {
            return Err(Error::InvalidInput {
                what: "shutdown mode",
                reason: "only REQUEST, REGARDLESS and IMMEDIATE are defined",
            });
        }
        // SAFETY: live handle.
        check(unsafe { sys::corosync_cfg_try_shutdown(self.raw(), mode.as_raw()) })
    }

    /// Answers a shutdown request: `allow` true lets corosync shut down.
    ///
    /// `Ok` says only that the answer was delivered: libcfg 3.1 does not
    /// pass on the daemon's verdict, so an answer when no request is
    /// pending (which corosync refuses) is `Ok` as well.
    pub fn reply_to_shutdown(&self, allow: bool) -> Result<()> {
        let flag = if allow {
            sys::COROSYNC_CFG_SHUTDOWN_FLAG_YES
        } else {
            sys::COROSYNC_CFG_SHUTDOWN_FLAG_NO
        };
        // SAFETY: live handle.
        check(unsafe { sys::corosync_cfg_replyto_shutdown(self.raw(), flag) })
    }

    /// Makes every node reread corosync.conf.
    pub fn reload_config(&self) -> Result<()> {
        // SAFETY: live handle.
        check(unsafe { sys::corosync_cfg_reload_config(self.raw()) })
    }

    /// Makes the local corosync reopen its log files.
    pub fn reopen_log_files(&self) -> Result<()> {
        // SAFETY: live handle.
        check(unsafe { sys::corosync_cfg_reopen_log_files(self.raw()) })
    }
}

pub(crate) fn sockaddr_to_ip(addr: &sys::corosync_cfg_node_address_t) -> Option<IpAddr> {
    let bytes: Vec<u8> = addr.address.iter().map(|&c| c as u8).collect();
    let family = i32::from(u16::from_ne_bytes([bytes[0], bytes[1]]));
    if family == libc::AF_INET {
        // struct sockaddr_in: family, port, then the address.
        Some(IpAddr::V4(Ipv4Addr::new(
            bytes[4], bytes[5], bytes[6], bytes[7],
        )))
    } else if family == libc::AF_INET6 {
        // struct sockaddr_in6: family, port, flowinfo, then the address.
        let octets: [u8; 16] = bytes[8..24].try_into().ok()?;
        Some(IpAddr::V6(Ipv6Addr::from(octets)))
    } else {
        None
    }
}

impl Rides for Cfg {
    fn slot(&self) -> &Slot<CfgLib> {
        &self.conn
    }

    fn rider(&self) -> &Rider {
        &self.rider
    }

    /// Starts tracking on the new connection if this handle tracked.
    fn reopen(&self) -> Result<()> {
        let conn = open(self.with_shutdown)?;
        #[cfg(corosync_has_corosync_cfg_trackstart)]
        if let Some(flags) = self.tracking.get() {
            // SAFETY: live handle. (On failure `conn` is finalized when
            // dropped.)
            check(unsafe { sys::corosync_cfg_trackstart(conn.raw(), flags.as_raw()) })?;
        }
        // SAFETY: inside the dispatch guard (the callers), outside any
        // callback or C call on this handle: no reference to the old
        // connection is alive.
        drop(unsafe { self.conn.replace(conn) }?);
        Ok(())
    }

    fn reconnect_fn(cb: &mut Callbacks) -> Option<&mut ReconnectFn<Cfg>> {
        cb.reconnect.as_mut()
    }

    fn held(d: Disconnected) -> Held {
        Held::Reconnected(d)
    }
}

impl Registered for Cfg {
    const KIND: Kind = Kind::Cfg;
}

impl Dispatch for Cfg {
    type Lib = CfgLib;
    type Callbacks = Callbacks;
    type Held = Held;

    fn connection(&self) -> &Connection<CfgLib> {
        self.conn.get()
    }

    fn cell(&self) -> &CallbackCell<Callbacks, Held> {
        &self.cell
    }

    fn deliver_held(&self, cb: &mut Callbacks, event: Held) {
        match event {
            Held::Shutdown(mode) => on_shutdown(self, cb, mode),
            Held::Reconnected(d) => self.tell(cb, &d),
        }
    }

    fn recover(&self, rc: sys::cs_error_t) -> sys::cs_error_t {
        self.recover_from(rc)
    }
}

crate::handle::impl_handle!(Cfg;);

fn on_shutdown(cfg: &Cfg, cb: &mut Callbacks, mode: ShutdownMode) {
    if let Some(f) = cb.shutdown.as_mut() {
        f(cfg, mode);
    }
}

/// libcfg's callback carries no context (cfg.h has no context API): the
/// handle registered as dispatching on this thread is the one called back.
unsafe extern "C" fn shutdown_trampoline(handle: sys::corosync_cfg_handle_t, flags: u32) {
    let mode = ShutdownMode::from_raw(flags);
    // SAFETY: a libcfg callback.
    unsafe {
        callback::<Cfg>(
            handle,
            |cfg, cb| on_shutdown(cfg, cb, mode),
            || Some(Held::Shutdown(mode)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shutdown_modes_round_trip() {
        for raw in 0..3 {
            assert_eq!(ShutdownMode::from_raw(raw).as_raw(), raw);
        }
        assert_eq!(ShutdownMode::from_raw(9), ShutdownMode::Unknown(9));
    }

    fn raw_address(bytes: &[u8]) -> sys::corosync_cfg_node_address_t {
        let mut a = sys::corosync_cfg_node_address_t {
            address_length: 0,
            address: [0; 28],
        };
        for (dst, &src) in a.address.iter_mut().zip(bytes) {
            *dst = src as c_char;
        }
        a
    }

    #[test]
    fn socket_addresses_decode() {
        let family = |f: i32| (f as u16).to_ne_bytes();
        let mut v4 = family(libc::AF_INET).to_vec();
        v4.extend([0, 0, 10, 1, 2, 3]);
        assert_eq!(
            sockaddr_to_ip(&raw_address(&v4)),
            Some(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)))
        );
        let mut v6 = family(libc::AF_INET6).to_vec();
        v6.extend([0; 6]);
        v6.extend(Ipv6Addr::LOCALHOST.octets());
        assert_eq!(
            sockaddr_to_ip(&raw_address(&v6)),
            Some(IpAddr::V6(Ipv6Addr::LOCALHOST))
        );
        assert_eq!(sockaddr_to_ip(&raw_address(&[])), None);
    }
}
