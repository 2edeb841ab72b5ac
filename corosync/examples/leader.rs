//! A cluster-aware async service: leader election over CPG, held back while
//! the node is not quorate.
//!
//! Every instance joins the CPG group `leader-election`; the member with the
//! lowest node id (then pid) leads. The leader does its "work" (a tick every
//! half second) only while the partition is quorate; everyone reports
//! leader changes as nodes die and come back.
//!
//! It rides through a restart of its own corosync: both connections
//! reconnect by themselves (`reconnecting`), the group is joined again and
//! tracking starts again. While its daemon is gone, the leader's fresh
//! quorum check before each tick fails, so it holds its work; the new
//! connections' first events (the membership, the quorum state) decide
//! again.
//!
//! ```text
//! leader [seconds]      (runs until Ctrl-C without a duration)
//! ```

use std::time::Duration;

use corosync::cpg::{Address, GroupName};
use corosync::tokio::{AsyncCpg, AsyncQuorum, CpgEvent, QuorumEvent};
use corosync::{Reconnect, TrackFlags};

/// Prints a line; a closed stdout (the reader went away) is not an error
/// worth dying for.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

fn describe(leader: Option<Address>, me: (u32, u32)) -> String {
    match leader {
        None => "none".to_string(),
        Some(a) => {
            let who = if (a.nodeid().get(), a.pid()) == me {
                " (me)"
            } else {
                ""
            };
            format!("node {} pid {}{who}", a.nodeid(), a.pid())
        }
    }
}

async fn run(duration: Option<Duration>) -> corosync::Result<()> {
    // Keep trying for up to a minute after a daemon restart.
    let policy = Reconnect::new().patience(Duration::from_secs(60));
    let (cpg, mut cpg_events) = AsyncCpg::reconnecting(policy).await?;
    let (quorum, mut quorum_events) =
        AsyncQuorum::reconnecting(TrackFlags::CURRENT | TrackFlags::CHANGES, policy).await?;
    cpg.join(&GroupName::new("leader-election")?).await?;
    let me = (cpg.local_nodeid().await?.get(), std::process::id());
    say!("node {} pid {} started", me.0, me.1);

    let mut quorate = quorum.is_quorate().await?;
    let mut leader: Option<Address> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut work = 0u64;
    let deadline = async {
        match duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => break,
            _ = tokio::signal::ctrl_c() => break,
            event = cpg_events.next() => {
                match event {
                    Some(Ok(CpgEvent::ConfChange { members, .. })) => {
                        let new = members.iter().copied().min_by_key(|a| (a.nodeid(), a.pid()));
                        let ids: Vec<String> = members.iter().map(|a| a.nodeid().to_string()).collect();
                        let change = if new != leader { "new leader" } else { "leader" };
                        leader = new;
                        say!("members: nodes {}; {change}: {}", ids.join(" "), describe(leader, me));
                    }
                    Some(Ok(CpgEvent::Reconnected(d))) => {
                        // The membership of the new connection comes next.
                        leader = None;
                        say!("cpg: reconnected after {} tries; changes may be missing", d.attempts);
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e),
                    None => return Ok(()),
                }
            }
            event = quorum_events.next() => {
                match event {
                    Some(Ok(QuorumEvent::Quorum { quorate: q, .. })) if q != quorate => {
                        quorate = q;
                        say!("{}", if quorate { "quorate: work resumes" } else { "not quorate: holding work" });
                    }
                    Some(Ok(QuorumEvent::Reconnected(d))) => {
                        // The quorum state of the new connection comes next.
                        say!("quorum: reconnected after {} tries", d.attempts);
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e),
                    None => return Ok(()),
                }
            }
            _ = tick.tick() => {
                let leading = leader.is_some_and(|a| (a.nodeid().get(), a.pid()) == me);
                // A fresh check: the events say nothing while the daemon
                // is gone, and a call then fails at once.
                if leading && quorate && !quorum.is_quorate().await.unwrap_or(false) {
                    quorate = false;
                    say!("not quorate: holding work");
                }
                if leading && quorate {
                    work += 1;
                    say!("leader at work: tick {work}");
                }
            }
        }
    }
    say!("stopping after {work} ticks of work");
    Ok(())
}

fn main() -> corosync::Result<()> {
    let duration = std::env::args()
        .nth(1)
        .map(|s| Duration::from_secs(s.parse().expect("seconds")));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(duration))
}
