//! The cmap adapter.

use ::tokio::sync::mpsc;

use super::stream::{impl_dispatch, in_runtime, lock, on_pool, request, shared, Events, Shared};
use crate::cmap::{Cmap, Map, TrackEventKind, TrackId, TrackType, Value};
use crate::Result;

impl_dispatch!(Cmap);

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

/// A cmap connection for async code: tracking registrations report to one
/// stream. Cheap to clone, all clones share it.
#[derive(Clone)]
pub struct AsyncCmap {
    cmap: Shared<Cmap>,
    tx: mpsc::UnboundedSender<CmapEvent>,
}

/// The stream of [`CmapEvent`]s of an [`AsyncCmap`].
pub type CmapEvents = Events<Cmap, CmapEvent>;

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
                let _ = tx.send(CmapEvent {
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
