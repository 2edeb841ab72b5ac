//! The cmap adapter.

use ::tokio::sync::mpsc;

use super::stream::{impl_dispatch, in_runtime, lock, on_pool, request, shared, Events, Shared};
use crate::cmap::{Cmap, Map, TrackEventKind, TrackId, TrackType, Value};
use crate::{Disconnected, Reconnect, Result};

impl_dispatch!(Cmap, reconnects);

/// An owned change of a tracked cmap key.
#[derive(Debug, Clone, PartialEq)]
pub struct CmapEvent {
    /// The registration that reported it.
    pub track: TrackId,
    /// What happened.
    pub kind: TrackEventKind,
    /// The key.
    pub key: Vec<u8>,
    /// The new value (none for a deletion, or one that did not decode).
    pub new_value: Option<Value>,
    /// The old value (none for an addition, or one that did not decode).
    pub old_value: Option<Value>,
}

/// An event of an [`AsyncCmap`] that rides through daemon restarts
/// ([`AsyncCmap::reconnecting`]).
#[derive(Debug, Clone, PartialEq)]
pub enum ReconnectingCmapEvent {
    /// A change of a tracked key.
    Change(CmapEvent),
    /// The connection was lost and made again, and every registration
    /// made again (their [`TrackId`]s stay valid): changes of the time
    /// between were not reported.
    Reconnected(Disconnected),
}

/// A cmap connection for async code: tracking registrations report to one
/// stream. Cheap to clone, all clones share it.
#[derive(Clone)]
pub struct AsyncCmap {
    cmap: Shared<Cmap>,
    tx: Sink,
}

/// Where the tracking closures put their events: the stream's channel.
#[derive(Clone)]
enum Sink {
    Plain(mpsc::UnboundedSender<CmapEvent>),
    Reconnecting(mpsc::UnboundedSender<ReconnectingCmapEvent>),
}

impl Sink {
    fn send(&self, event: CmapEvent) {
        // (A stream that is gone takes nothing.)
        match self {
            Sink::Plain(tx) => {
                let _ = tx.send(event);
            }
            Sink::Reconnecting(tx) => {
                let _ = tx.send(ReconnectingCmapEvent::Change(event));
            }
        }
    }
}

/// The stream of [`CmapEvent`]s of an [`AsyncCmap`].
pub type CmapEvents = Events<Cmap, CmapEvent>;

/// The stream of an [`AsyncCmap`] made by [`AsyncCmap::reconnecting`].
pub type ReconnectingCmapEvents = Events<Cmap, ReconnectingCmapEvent>;

impl AsyncCmap {
    /// Connects to `map` (awaited in a tokio runtime, else
    /// [`Error::NoRuntime`](crate::Error::NoRuntime)). Nothing is tracked
    /// until [`AsyncCmap::track`] says which keys. The request is made on
    /// tokio's blocking pool (see "Requests" in the [module](super) docs).
    pub async fn connect(map: Map) -> Result<(AsyncCmap, CmapEvents)> {
        on_pool(move || AsyncCmap::connect_blocking(map)).await
    }

    fn connect_blocking(map: Map) -> Result<(AsyncCmap, CmapEvents)> {
        in_runtime()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let cmap = shared(Cmap::with_map(map)?);
        let events = Events::new(cmap.clone(), rx)?;
        let tx = Sink::Plain(tx);
        Ok((AsyncCmap { cmap, tx }, events))
    }

    /// Connects as [`AsyncCmap::connect`] does, and rides through restarts
    /// of the local daemon: when the connection is lost, the stream
    /// connects again as `policy` says (waiting on the runtime's timer,
    /// never on a thread), registers every live [`AsyncCmap::track`] again
    /// (their ids stay valid) and yields
    /// [`ReconnectingCmapEvent::Reconnected`]. When `policy`'s patience
    /// runs out, the stream yields the error and ends. The requests are
    /// made on tokio's blocking pool.
    pub async fn reconnecting(
        map: Map,
        policy: Reconnect,
    ) -> Result<(AsyncCmap, ReconnectingCmapEvents)> {
        on_pool(move || AsyncCmap::reconnecting_blocking(map, policy)).await
    }

    fn reconnecting_blocking(
        map: Map,
        policy: Reconnect,
    ) -> Result<(AsyncCmap, ReconnectingCmapEvents)> {
        in_runtime()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let t0 = tx.clone();
        let cmap = Cmap::builder()
            .map(map)
            .reconnect(policy)
            .stream_driven()
            .on_reconnect(move |_, d| {
                let _ = t0.send(ReconnectingCmapEvent::Reconnected(*d));
            })
            .connect()?;
        let cmap = shared(cmap);
        let events = Events::new(cmap.clone(), rx)?;
        let tx = Sink::Reconnecting(tx);
        Ok((AsyncCmap { cmap, tx }, events))
    }

    /// Runs `f` with the blocking handle on the calling thread, once no
    /// other thread uses it (a request in progress included): for calls
    /// that ask the daemon nothing (see "Requests" in the [module](super)
    /// docs).
    pub fn with<R>(&self, f: impl FnOnce(&Cmap) -> R) -> R {
        f(&lock(&self.cmap))
    }

    /// Runs `f` with the blocking handle on tokio's blocking pool, once no
    /// other thread uses it, and returns what it returns: the runtime's
    /// worker awaits while the daemon answers (see "Requests" in the
    /// [module](super) docs). A panic in `f` resumes here.
    pub async fn request<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Cmap) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        request(&self.cmap, f).await
    }

    /// Tracks `key` (or a prefix, with [`TrackType::PREFIX`]); its changes
    /// come out of the stream until [`AsyncCmap::untrack`]. A request made
    /// on tokio's blocking pool: if this future is dropped before it
    /// returns, the registration may still be made, and then lasts as long
    /// as the connection.
    pub async fn track(&self, key: &str, flags: TrackType) -> Result<TrackId> {
        let tx = self.tx.clone();
        let key = key.to_owned();
        self.request(move |c| {
            c.track_add(&key, flags, move |_, ev| {
                tx.send(CmapEvent {
                    track: ev.track,
                    kind: ev.kind,
                    key: ev.key.to_vec(),
                    new_value: ev.new_value.and_then(|v| v.to_value().ok()),
                    old_value: ev.old_value.and_then(|v| v.to_value().ok()),
                });
            })
            .map(|t| t.detach())
        })
        .await
    }

    /// Ends a registration made by [`AsyncCmap::track`]. A request made on
    /// tokio's blocking pool.
    pub async fn untrack(&self, id: TrackId) -> Result<()> {
        self.request(move |c| c.track_delete(id)).await
    }
}
