//! The code under test: follows the local corosync node's quorum and
//! membership through the quorum service.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use corosync::quorum::Quorum;
use corosync::{DispatchMode, NodeId, TrackFlags};

/// What the local node sees: whether its partition is quorate, and its
/// members (sorted).
pub type View = (bool, Vec<NodeId>);

/// A quorum connection that keeps the latest view it was told.
pub struct QuorumWatch {
    quorum: Quorum,
    latest: Arc<Mutex<Option<View>>>,
}

impl QuorumWatch {
    /// Connects to the local daemon and tracks quorum changes, starting
    /// with the current view.
    pub fn start() -> corosync::Result<QuorumWatch> {
        let latest = Arc::new(Mutex::new(None));
        let sink = latest.clone();
        let quorum = Quorum::builder()
            .on_quorum(move |_, notification| {
                let mut members = notification.members.to_vec();
                members.sort();
                *sink.lock().unwrap() = Some((notification.quorate, members));
            })
            .connect()?;
        quorum.track_start(TrackFlags::CURRENT | TrackFlags::CHANGES)?;
        Ok(QuorumWatch { quorum, latest })
    }

    /// Handles the daemon's notifications until the latest view satisfies
    /// `want` or `timeout` has passed; returns the latest view (`None` if
    /// none came).
    pub fn wait_for(
        &self,
        timeout: Duration,
        want: impl Fn(&View) -> bool,
    ) -> corosync::Result<Option<View>> {
        let deadline = Instant::now() + timeout;
        loop {
            let latest = self.latest.lock().unwrap().clone();
            if latest.as_ref().is_some_and(&want) || Instant::now() >= deadline {
                return Ok(latest);
            }
            // (CS_DISPATCH_ALL handles what is pending and returns.)
            self.quorum.dispatch(DispatchMode::All)?;
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
