//! The CFG adapter.

use ::tokio::sync::mpsc;

use super::stream::{impl_dispatch, in_runtime, lock, on_pool, request, shared, Events, Shared};
use crate::cfg::{Cfg, ShutdownMode};
use crate::{Disconnected, Reconnect, Result, TrackFlags};

impl_dispatch!(Cfg, reconnects);

/// An owned CFG event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CfgEvent {
    /// A shutdown was requested: answer with
    /// [`AsyncCfg::reply_to_shutdown`].
    Shutdown(ShutdownMode),
    /// The connection was lost and made again, and tracking started again
    /// (only with [`AsyncCfg::reconnecting`]): a shutdown request of the
    /// time between went unanswered.
    Reconnected(Disconnected),
}

/// A CFG connection for async code; cheap to clone, all clones share it.
///
/// Needs corosync 3.1.1 or later, whose libcfg can track shutdown requests:
/// present when the installed `cfg.h` declares `corosync_cfg_trackstart`
/// (see [supported versions](crate#supported-corosync-versions)).
#[derive(Clone)]
pub struct AsyncCfg {
    cfg: Shared<Cfg>,
}

/// The stream of [`CfgEvent`]s of an [`AsyncCfg`].
pub type CfgEvents = Events<Cfg, CfgEvent>;

impl AsyncCfg {
    /// Connects (awaited in a tokio runtime, else
    /// [`Error::NoRuntime`](crate::Error::NoRuntime)) and starts tracking
    /// with `flags` ([`Cfg::track_start`]), as `AsyncQuorum::connect` and
    /// `AsyncVotequorum::connect` do: corosync asks only the connections
    /// that track about a shutdown. The requests are made on tokio's
    /// blocking pool (see "Requests" in the [module](super) docs).
    pub async fn connect(flags: TrackFlags) -> Result<(AsyncCfg, CfgEvents)> {
        on_pool(move || AsyncCfg::connect_with(flags, None)).await
    }

    /// Connects as [`AsyncCfg::connect`] does, and rides through restarts
    /// of the local daemon: when the connection is lost, the stream
    /// connects again as `policy` says (waiting on the runtime's timer,
    /// never on a thread), starts tracking again and yields
    /// [`CfgEvent::Reconnected`]. When `policy`'s patience runs out, the
    /// stream yields the error and ends.
    pub async fn reconnecting(
        flags: TrackFlags,
        policy: Reconnect,
    ) -> Result<(AsyncCfg, CfgEvents)> {
        on_pool(move || AsyncCfg::connect_with(flags, Some(policy))).await
    }

    fn connect_with(flags: TrackFlags, policy: Option<Reconnect>) -> Result<(AsyncCfg, CfgEvents)> {
        in_runtime()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let mut builder = Cfg::builder();
        if let Some(policy) = policy {
            let t0 = tx.clone();
            builder = builder
                .reconnect(policy)
                .stream_driven()
                .on_reconnect(move |_, d| {
                    let _ = t0.send(CfgEvent::Reconnected(*d));
                });
        }
        let cfg = builder
            .on_shutdown(move |_, mode| {
                let _ = tx.send(CfgEvent::Shutdown(mode));
            })
            .connect()?;
        cfg.track_start(flags)?;
        let cfg = shared(cfg);
        let events = Events::new(cfg.clone(), rx)?;
        Ok((AsyncCfg { cfg }, events))
    }

    /// Runs `f` with the blocking handle on the calling thread, once no
    /// other thread uses it (a request in progress included): for calls
    /// that ask the daemon nothing (see "Requests" in the [module](super)
    /// docs).
    pub fn with<R>(&self, f: impl FnOnce(&Cfg) -> R) -> R {
        f(&lock(&self.cfg))
    }

    /// Runs `f` with the blocking handle on tokio's blocking pool, once no
    /// other thread uses it, and returns what it returns: the runtime's
    /// worker awaits while the daemon answers (see "Requests" in the
    /// [module](super) docs). A panic in `f` resumes here.
    pub async fn request<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Cfg) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        request(&self.cfg, f).await
    }

    /// Answers a shutdown request ([`Cfg::reply_to_shutdown`], a request
    /// made on tokio's blocking pool).
    pub async fn reply_to_shutdown(&self, allow: bool) -> Result<()> {
        self.request(move |c| c.reply_to_shutdown(allow)).await
    }
}
