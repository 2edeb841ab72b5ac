//! The fault checker (see `corosync_tests::chaos`):
//! `chaos --seconds N --seed S --nodes K [--dir D]` (defaults 60, 1, 3,
//! `target/chaos`). Prints one summary line ending in `violations=<n>`,
//! and before it the trace of each violation; exits 1 on any violation,
//! 2 when the run itself failed. `chaos --recheck D` checks the records a
//! run left in `D` again, without running anything.

use std::path::PathBuf;

use corosync_tests::chaos::check::check_counted;
use corosync_tests::chaos::run::{read_records, run, Options};

fn main() {
    let mut opts = Options {
        seconds: 60,
        seed: 1,
        nodes: 3,
        dir: PathBuf::from("target/chaos"),
    };
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
            "--recheck" => recheck(&PathBuf::from(&value)),
            _ => usage(&format!("unknown option {flag}")),
        }
    }
    match run(&opts) {
        Ok(outcome) => {
            for v in outcome.violations.iter().take(20) {
                print!("{v}");
            }
            for e in &outcome.unreadable {
                println!("unreadable record: {e}");
            }
            println!("{}", outcome.summary(&opts));
            if !outcome.violations.is_empty() || !outcome.unreadable.is_empty() {
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("chaos: the run failed: {e}");
            std::process::exit(2);
        }
    }
}

fn usage(problem: &str) -> ! {
    eprintln!("chaos: {problem}\nusage: chaos --seconds N --seed S --nodes K(3..5) [--dir D]");
    std::process::exit(2)
}

fn recheck(dir: &std::path::Path) -> ! {
    let (incs, unreadable) = read_records(dir).unwrap_or_else(|e| usage(&e.to_string()));
    let (violations, coverage) = check_counted(&incs);
    for v in violations.iter().take(20) {
        print!("{v}");
    }
    for e in &unreadable {
        println!("unreadable record: {e}");
    }
    println!(
        "chaos: recheck of {} incarnations={} compared: {coverage:?} unreadable={} violations={}",
        dir.display(),
        incs.len(),
        unreadable.len(),
        violations.len() + unreadable.len()
    );
    std::process::exit(i32::from(!violations.is_empty() || !unreadable.is_empty()))
}
