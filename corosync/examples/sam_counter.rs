//! A worker supervised by SAM: it counts, stores its count with the
//! supervisor after every step, crashes on purpose every N steps, and after
//! each restart continues from the restored count.
//!
//! ```text
//! sam_counter [crash_every] [stop_at]     (defaults: 5 and 20)
//! ```
//!
//! Run it against a local corosync. It must stay single-threaded until it
//! registers with SAM, which forks.

use std::time::Duration;

use corosync::sam::{RecoveryPolicy, Sam};

fn main() -> Result<(), corosync::Error> {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<u64>().expect("a number"));
    let crash_every = args.next().unwrap_or(5).max(1);
    let stop_at = args.next().unwrap_or(20);

    let mut sam = Sam::initialize(Duration::from_millis(500), RecoveryPolicy::RESTART)?;
    // The supervisor stays in here; the worker (instance 1, 2, ...) goes on.
    let instance = sam.register()?;
    let restored = sam.data_restore()?;
    let mut count = restored.try_into().map(u64::from_le_bytes).unwrap_or(0);
    println!("instance {instance}: starting from {count}");
    sam.start()?;
    while count < stop_at {
        count += 1;
        sam.data_store(&count.to_le_bytes())?;
        sam.send_health_check()?;
        println!("instance {instance}: {count}");
        if count % crash_every == 0 && count < stop_at {
            println!("instance {instance}: crashing on purpose");
            // Dies without unwinding; the supervisor restarts the worker.
            std::process::abort();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    sam.stop()?;
    println!("instance {instance}: reached {count}, done");
    sam.finalize()
}
