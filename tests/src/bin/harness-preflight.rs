//! Runs the harness's preflight checks and reports the outcome, so tests can
//! check what the harness says when it cannot work (not root, no corosync).

fn main() {
    match corosync_tests::preflight() {
        Ok(()) => println!("preflight ok"),
        Err(err) => {
            eprintln!("{err}");
            std::process::exit(1);
        }
    }
}
