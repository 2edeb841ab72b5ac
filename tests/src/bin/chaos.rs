//! The fault checker (see `corosync_tests::chaos`):
//! `chaos --seconds N --seed S --nodes K [--dir D]` (defaults 60, 1, 3,
//! `target/chaos`). Prints one summary line ending in `violations=<n>`,
//! and before it the trace of each violation; exits 1 on any violation,
//! 2 when the run itself failed.

use std::path::PathBuf;

use corosync_tests::chaos::run::{run, Options};

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
