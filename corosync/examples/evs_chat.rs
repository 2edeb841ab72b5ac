//! A small multi-group chat over EVS, in the spirit of corosync's old
//! `testevs`: every line typed is sent to the joined groups.
//!
//! ```text
//! evs_chat <group>[,<group>...]
//!   text         send to the joined groups
//!   /to g1,g2 t  send to the listed groups
//!   /join g      join a group
//!   /leave g     leave a group
//!   /quit        leave the chat
//! ```

use std::io::{BufRead, IoSlice};
use std::sync::mpsc;
use std::time::Duration;

use corosync::cpg::Guarantee;
use corosync::evs::{Evs, EvsGroup};
use corosync::DispatchMode;

fn groups(list: &str) -> corosync::Result<Vec<EvsGroup>> {
    list.split(',')
        .filter(|g| !g.is_empty())
        .map(EvsGroup::new)
        .collect()
}

fn names(list: &[corosync::NodeId]) -> String {
    list.iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() -> corosync::Result<()> {
    let first = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "lobby".to_string());
    let evs = Evs::builder()
        .on_deliver(|_, m| {
            let to: Vec<String> = m
                .groups
                .iter()
                .map(|g| {
                    String::from_utf8_lossy(g.as_bytes())
                        .trim_end_matches('\0')
                        .to_string()
                })
                .collect();
            println!(
                "[node {} to {}] {}",
                m.nodeid,
                to.join(","),
                String::from_utf8_lossy(m.data)
            );
        })
        .on_confchg(|_, c| {
            println!(
                "* members: {} (joined: {}; left: {})",
                names(c.members),
                names(c.joined),
                names(c.left)
            );
        })
        .connect()?;
    evs.join(&groups(&first)?)?;
    let (me, _) = evs.membership()?;
    println!("* node {me} in {first}");

    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    loop {
        // Deliveries for up to 50 ms, then the typed lines.
        evs.dispatch_timeout(Duration::from_millis(50))?;
        let line = match rx.try_recv() {
            Ok(line) => line,
            Err(mpsc::TryRecvError::Empty) => continue,
            Err(mpsc::TryRecvError::Disconnected) => "/quit".to_string(),
        };
        let send = |result: corosync::Result<()>| {
            if let Err(e) = result {
                println!("* not sent: {e}");
            }
        };
        if let Some(rest) = line.strip_prefix("/to ") {
            let (to, text) = rest.split_once(' ').unwrap_or((rest, ""));
            send(groups(to).and_then(|to| {
                corosync::retry(|| {
                    evs.mcast_groups(Guarantee::Agreed, &to, &[IoSlice::new(text.as_bytes())])
                })
            }));
        } else if let Some(g) = line.strip_prefix("/join ") {
            evs.join(&groups(g)?)?;
            println!("* joined {g}");
        } else if let Some(g) = line.strip_prefix("/leave ") {
            match groups(g).and_then(|g| evs.leave(&g)) {
                Ok(()) => println!("* left {g}"),
                Err(e) => println!("* cannot leave {g}: {e}"),
            }
        } else if line == "/quit" {
            // Show what has arrived, then go.
            evs.dispatch(DispatchMode::All)?;
            return evs.finalize();
        } else {
            send(corosync::retry(|| {
                evs.mcast_joined(Guarantee::Agreed, &[IoSlice::new(line.as_bytes())])
            }));
        }
    }
}
