//! The fault checker (see `corosync_tests::chaos`):
//! `chaos --seconds N --seed S --nodes K [--pace MIN-MAX] [--sizes S,M,F]
//! [--dir D]` (defaults 60, 1, 3, 20-120 at 3 nodes (see
//! `Traffic::for_nodes`), 78,20,2, `target/chaos`), or
//! `chaos --scenario NAME ...` for a fixed sequence that shows one
//! corosync break. Prints every violation's trace, then one summary line
//! ending in `corosync_breaks=<b> violations=<n>`; exits 1 on any
//! violation that is not a documented corosync break (see
//! `run::exit_status`), 2 when the run itself failed; a scenario also
//! exits 1 when the break it is made for did not show. `chaos --recheck
//! D` checks the records a run left in `D` again, without running
//! anything.

use std::path::PathBuf;

use corosync_tests::chaos::check::{check_with, Violation};
use corosync_tests::chaos::run::{
    counts_text, exit_status, read_formed, read_records, run, Options, Scenario,
};
use corosync_tests::chaos::Traffic;

const USAGE: &str = "usage: chaos --seconds N --seed S --nodes K(3..5) [--pace MIN-MAX] \
[--sizes SMALL,MEDIUM,FRAGMENTED] [--scenario fragments-across-join] [--dir D] [--daemon-log info|debug] \
| chaos --recheck D";

fn main() {
    let mut opts = Options {
        seconds: 60,
        seed: 1,
        nodes: 3,
        dir: PathBuf::from("target/chaos"),
        traffic: Traffic::default(),
        scenario: None,
        daemon_debug: false,
    };
    let (mut pace, mut sizes) = (None, opts.traffic.sizes_text());
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        let number = || {
            value
                .parse::<u64>()
                .unwrap_or_else(|_| usage(&format!("{flag} {value}")))
        };
        match flag.as_str() {
            "--seconds" => opts.seconds = number(),
            "--seed" => opts.seed = number(),
            "--nodes" => opts.nodes = usize::try_from(number()).unwrap_or(0),
            "--dir" => opts.dir = PathBuf::from(&value),
            "--daemon-log" => {
                opts.daemon_debug = match value.as_str() {
                    "debug" => true,
                    "info" => false,
                    _ => usage(&format!("--daemon-log {value}: info or debug")),
                }
            }
            "--pace" => pace = Some(value),
            "--sizes" => sizes = value,
            "--scenario" => {
                opts.scenario = Some(
                    Scenario::from_name(&value)
                        .unwrap_or_else(|| usage(&format!("no scenario {value}"))),
                )
            }
            "--recheck" => recheck(&PathBuf::from(&value)),
            _ => usage(&format!("unknown option {flag}")),
        }
    }
    let pace = pace.unwrap_or_else(|| Traffic::for_nodes(opts.nodes).pace_text());
    opts.traffic = Traffic::parse(&pace, &sizes).unwrap_or_else(|e| usage(&e));
    match run(&opts) {
        Ok(outcome) => {
            print_all(&outcome.violations, &outcome.unreadable);
            println!("{}", outcome.summary(&opts));
            let mut status = exit_status(&outcome.violations, outcome.unreadable.len());
            if let Some(scenario) = opts.scenario {
                let shown = outcome
                    .violations
                    .iter()
                    .filter(|v| v.corosync == Some(scenario.shows()))
                    .count();
                println!(
                    "scenario {}: {} ({shown} violations with plain-C members only)",
                    scenario.name(),
                    if shown > 0 {
                        format!("corosync break {} shown", scenario.shows())
                    } else {
                        format!("corosync break {} did not show", scenario.shows())
                    }
                );
                if shown == 0 {
                    status = 1;
                }
            }
            std::process::exit(status);
        }
        Err(e) => {
            eprintln!("chaos: the run failed: {e}");
            std::process::exit(2);
        }
    }
}

fn usage(problem: &str) -> ! {
    eprintln!("chaos: {problem}\n{USAGE}");
    std::process::exit(2)
}

fn print_all(violations: &[Violation], unreadable: &[String]) {
    for v in violations {
        print!("{v}");
    }
    for e in unreadable {
        println!("unreadable record: {e}");
    }
}

fn recheck(dir: &std::path::Path) -> ! {
    let (incs, unreadable) = read_records(dir).unwrap_or_else(|e| usage(&e.to_string()));
    let (violations, coverage) = check_with(&incs, &read_formed(dir));
    print_all(&violations, &unreadable);
    println!(
        "chaos: recheck of {} incarnations={} compared: {coverage:?} unreadable={} {}",
        dir.display(),
        incs.len(),
        unreadable.len(),
        counts_text(&violations, unreadable.len())
    );
    std::process::exit(exit_status(&violations, unreadable.len()))
}
