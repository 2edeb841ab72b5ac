//! A process supervised by SAM, for the SAM tests (SAM owns the process it
//! runs in, and forks, so each scenario needs a process of its own with a
//! single thread). Prints what happens on stdout, one line at a time.
//!
//! Usage: `sam-worker <scenario>`; see `main` for the scenarios.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use corosync::sam::{RecoveryPolicy, Sam};

const INTERVAL: Duration = Duration::from_millis(500);

static CALLS: AtomicU32 = AtomicU32::new(0);

/// Waits up to `ms` for stdin to become readable (or close).
fn stdin_ready(ms: i32) -> bool {
    let mut pfd = libc::pollfd {
        fd: 0,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut pfd, 1, ms) > 0 }
}

/// Sends health checks every 100 ms until stdin has input or closes.
fn healthy_until_told(sam: &Sam) {
    while !stdin_ready(100) {
        sam.send_health_check().expect("hc_send");
    }
}

/// What instance 1 stores: NUL bytes, and more than a pipe buffer.
fn saved_data() -> Vec<u8> {
    let mut data = b"count=1\0with a NUL".to_vec();
    data.extend((0..100_000u32).map(|i| (i % 251) as u8));
    data
}

/// Prints, from the signal handler itself, which signal came: the
/// supervisor's warning to a failed child (its SIGKILL follows).
extern "C" fn report_warning(signal: libc::c_int) {
    let line: &[u8] = match signal {
        libc::SIGTERM => b"instance 1 warned with SIGTERM\n",
        libc::SIGUSR1 => b"instance 1 warned with SIGUSR1\n",
        _ => b"instance 1 warned with another signal\n",
    };
    // SAFETY: write(2) is async-signal-safe; a valid buffer of that length.
    unsafe { libc::write(1, line.as_ptr().cast(), line.len()) };
}

/// Makes SIGTERM and SIGUSR1 call [`report_warning`] instead of ending the
/// process.
fn report_warnings() {
    for signal in [libc::SIGTERM, libc::SIGUSR1] {
        // SAFETY: a zeroed sigaction is valid; the handler is an
        // `extern "C" fn(c_int)` that only calls write(2).
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = report_warning as extern "C" fn(libc::c_int) as usize;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            assert_eq!(libc::sigaction(signal, &action, std::ptr::null_mut()), 0);
        }
    }
}

fn hang() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn main() {
    let scenario = std::env::args().nth(1).expect("scenario");
    let policy = match scenario.as_str() {
        "quit" => RecoveryPolicy::QUIT,
        "quorum" => RecoveryPolicy::QUIT.with_quorum(),
        "mark-failed" | "cmap" => RecoveryPolicy::RESTART.with_cmap(),
        _ => RecoveryPolicy::RESTART,
    };
    if scenario == "threads" {
        let _t = std::thread::spawn(|| std::thread::sleep(Duration::from_secs(5)));
        let mut sam = Sam::initialize(INTERVAL, policy).expect("initialize");
        match sam.register() {
            Err(e) => println!("register refused: {e:?}"),
            Ok(i) => println!("register forked, instance {i}"),
        }
        return;
    }
    let mut sam = Sam::initialize(INTERVAL, policy).expect("initialize");
    let instance = sam.register().expect("register");
    println!(
        "instance {instance} pid {} supervisor {}",
        std::process::id(),
        std::os::unix::process::parent_id()
    );
    match scenario.as_str() {
        "restart" => {
            if instance == 1 {
                assert!(sam.data_restore().unwrap().is_empty());
                sam.data_store(b"replaced below").unwrap();
                sam.data_store(&saved_data()).unwrap();
                sam.start().unwrap();
                for _ in 0..3 {
                    sam.send_health_check().unwrap();
                    std::thread::sleep(INTERVAL / 4);
                }
                println!("instance 1 stops sending health checks");
                hang();
            }
            let data = sam.data_restore().unwrap();
            println!(
                "instance {instance} restored {:?}... ({} bytes, {})",
                String::from_utf8_lossy(&data[..18.min(data.len())]),
                sam.data_size().unwrap(),
                if data == saved_data() {
                    "intact"
                } else {
                    "CORRUPTED"
                }
            );
            // Never started in this instance: exiting ends supervision.
            sam.finalize().unwrap();
        }
        "quit" => {
            sam.start().unwrap();
            println!("instance {instance} started, then hangs");
            hang();
        }
        "mark-failed" => {
            sam.start().unwrap();
            println!("instance {instance} marks itself failed");
            sam.mark_failed().unwrap();
            hang();
        }
        "cmap" | "quorum" => {
            sam.start().unwrap();
            println!("instance {instance} running");
            healthy_until_told(&sam);
            sam.stop().unwrap();
            println!("instance {instance} done");
        }
        "callback" | "callback-fail" => {
            if instance > 1 {
                println!("instance {instance} restarted");
                return;
            }
            let healthy = scenario == "callback";
            sam.set_health_check(move || {
                CALLS.fetch_add(1, Ordering::Relaxed);
                healthy
            })
            .unwrap();
            sam.start().unwrap();
            std::thread::sleep(INTERVAL * 8);
            println!(
                "instance {instance} alive without explicit health checks, callback ran {} times",
                CALLS.load(Ordering::Relaxed)
            );
            sam.stop().unwrap();
        }
        "warn-default" | "warn-sigusr1" => {
            if instance > 1 {
                println!("instance {instance} restarted");
                return;
            }
            report_warnings();
            if scenario == "warn-sigusr1" {
                // From the child: libsam passes it on to the supervisor.
                sam.set_warn_signal(libc::SIGUSR1).unwrap();
            }
            sam.start().unwrap();
            sam.send_health_check().unwrap();
            println!("instance 1 stops sending health checks");
            hang();
        }
        other => panic!("unknown scenario {other}"),
    }
}
