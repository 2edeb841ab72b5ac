//! The README's demo: starts a one-node corosync cluster on loopback (in its
//! own network namespace, through the test harness), reads its state
//! through the corosync bindings, and stops it.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use corosync::quorum::Quorum;
use corosync::{DispatchMode, TrackFlags};
use corosync_tests::{wait_readable, Cluster};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("demo failed: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    println!("starting a one-node corosync cluster on 127.0.0.1 ...");
    let cluster = Cluster::single()?;
    let node = cluster.node(0);
    println!(
        "corosync is running (pid {}, network namespace {})",
        node.pid().unwrap_or_default(),
        node.netns().name()
    );

    // Everything below runs in the node's namespace, as a program on that
    // machine would, and goes through the safe bindings.
    let report = node.run(|| -> corosync::Result<String> {
        let seen = Arc::new(Mutex::new(None));
        let sink = seen.clone();
        let quorum = Quorum::builder()
            .on_quorum(move |q, n| {
                // Callbacks may call the handle they belong to.
                let quorate_now = q.is_quorate();
                *sink.lock().unwrap() = Some((n.quorate, n.ring_id, n.members.to_vec(), quorate_now));
            })
            .connect()?;
        quorum.track_start(TrackFlags::CURRENT)?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while seen.lock().unwrap().is_none() && Instant::now() < deadline {
            wait_readable(&quorum, Duration::from_millis(100));
            quorum.dispatch(DispatchMode::All)?;
        }
        let Some((quorate, ring_id, members, quorate_now)) = seen.lock().unwrap().take() else {
            return Err(corosync::Error::Timeout);
        };
        let members: Vec<String> = members.iter().map(ToString::to_string).collect();
        Ok(format!(
            "quorum provider:  {}\nquorate:          {}\nquorate (getquorate from the callback): {}\nring id:          {ring_id}\nmembers:          node {}",
            if quorum.quorum_type() == corosync::quorum::QuorumType::SET { "set (votequorum)" } else { "free" },
            if quorate { "yes" } else { "no" },
            if quorate_now? { "yes" } else { "no" },
            members.join(", node "),
        ))
    })??;
    println!("{report}");
    drop(cluster);
    println!("cluster stopped and cleaned up");
    Ok(())
}
