//! The README's demo: starts a one-node corosync cluster on loopback (in its
//! own network namespace, through the test harness), reads its state
//! through the corosync bindings, and stops it.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use corosync::cfg::Cfg;
use corosync::cpg::{Cpg, GroupName, Guarantee};
use corosync::quorum::Quorum;
use corosync::{DispatchMode, TrackFlags};
use corosync_tests::bounded::{self, COMMAND_WAIT};
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

        // The configuration service: who am I, and where.
        let cfg = Cfg::new()?;
        let me = cfg.local_nodeid()?;
        let addrs: Vec<String> = cfg.node_addrs(me)?.into_iter().flatten().map(|a| a.to_string()).collect();

        // A closed process group: join, multicast, get it back in order.
        let group = GroupName::new("demo")?;
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = got.clone();
        let cpg = Cpg::builder()
            .on_deliver(move |_, m| sink.lock().unwrap().push(String::from_utf8_lossy(m.data).into_owned()))
            .connect()?;
        cpg.join(&group)?;
        for text in ["hello", "from", "rust"] {
            cpg.mcast(Guarantee::Agreed, text.as_bytes())?;
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while got.lock().unwrap().len() < 3 && Instant::now() < deadline {
            wait_readable(&cpg, Duration::from_millis(100));
            cpg.dispatch(DispatchMode::All)?;
        }
        let delivered = got.lock().unwrap().join(" ");

        Ok(format!(
            "local node id:    {me} (cfg), {} (cpg)\naddresses:        {}\nCPG group {group}: delivered \"{delivered}\"\nquorum provider:  {}\nquorate:          {}\nquorate (getquorate from the callback): {}\nring id:          {ring_id}\nmembers:          node {}",
            cpg.local_nodeid()?,
            addrs.join(" "),
            if quorum.quorum_type() == corosync::quorum::QuorumType::SET { "set (votequorum)" } else { "free" },
            if quorate { "yes" } else { "no" },
            if quorate_now? { "yes" } else { "no" },
            members.join(", node "),
        ))
    })??;
    println!("{report}");

    // The async leader-election service (examples/leader.rs) on this node
    // for three seconds: it becomes leader and works while quorate.
    println!("\nrunning the leader-election example for 3 s:");
    let leader = corosync_tests::example_binary("leader")?;
    // (It runs for 3 s; the bound only turns a hang into an error.)
    let out = bounded::output(
        node.command(leader.to_str().unwrap_or_default())?.arg("3"),
        COMMAND_WAIT,
    )?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    if !out.status.success() {
        return Err(format!(
            "the leader example failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    drop(cluster);
    println!("cluster stopped and cleaned up");
    Ok(())
}
