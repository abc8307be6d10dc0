//! Seed sweeps in deterministic mode: every workload under its challenge's flags, then under
//! seed-derived fault scenarios (latency 0-500 ms under every distribution, partitions of
//! every shape, message loss). Every failure names the command that reproduces it.
//!
//! This is the representative sweep CI runs; the large ones are `glomers sweep` commands in
//! the README's reliability section.

use glomers::sim::opts::TestOpts;
use glomers::sim::scenario::with_faults;
use glomers::sim::workloads::Validity;

fn base(args: &str) -> TestOpts {
    let mut words: Vec<String> = args.split_whitespace().map(str::to_owned).collect();
    words.push("--no-store".into());
    words.push("--quiet".into());
    TestOpts::parse(&words).expect("valid flags")
}

/// Runs `seeds` seeds of `args` (plain or with faults) and panics with every failure's
/// reproduction command.
fn sweep(args: &str, seeds: std::ops::Range<u64>, faults: bool) {
    let base = base(args);
    let mut failures = Vec::new();
    for seed in seeds {
        let opts =
            if faults { with_faults(&base, seed) } else { TestOpts { seed, ..base.clone() } };
        let out = glomers::sim::run(&opts).expect("the bench runs");
        if out.valid != Validity::True || !out.faults.is_empty() {
            failures.push(format!("{} ({}): {}", out.valid, out.faults.len(), opts.command_line()));
        }
    }
    assert!(failures.is_empty(), "failing seeds:\n{}", failures.join("\n"));
}

#[test]
fn echo_and_unique_ids() {
    sweep("-w echo --node-count 1 --time-limit 10 --rate 50", 0..20, false);
    sweep(
        "-w unique-ids --node-count 3 --time-limit 30 --rate 1000 --availability total --nemesis partition",
        0..10,
        false,
    );
    sweep(
        "-w unique-ids --node-count 3 --time-limit 10 --rate 200 --availability total",
        0..20,
        true,
    );
}

#[test]
fn broadcast_challenges_and_faults() {
    sweep(
        "-w broadcast --node-count 5 --time-limit 20 --rate 10 --nemesis partition",
        0..40,
        false,
    );
    sweep(
        "-w broadcast --node-count 25 --time-limit 20 --rate 100 --latency 100 --nemesis partition",
        0..20,
        false,
    );
    sweep("-w broadcast --node-count 5 --time-limit 20 --rate 20", 0..40, true);
    sweep("-w broadcast --node-count 25 --time-limit 20 --rate 100", 100..110, true);
}

#[test]
fn g_counter_challenge_and_faults() {
    sweep(
        "-w g-counter --node-count 3 --time-limit 20 --rate 100 --nemesis partition",
        0..30,
        false,
    );
    sweep("-w g-counter --node-count 3 --time-limit 20 --rate 100", 0..30, true);
}

/// Fault seeds that once failed (final reads short after late CAS retries under 500 ms
/// exponential latency), from `sweep --faults --seeds 0..3000` with these flags.
#[test]
fn g_counter_fault_seeds_found_by_sweeps() {
    let base = base("-w g-counter --node-count 3 --time-limit 20 --rate 100");
    for seed in [253, 386, 2739] {
        let opts = with_faults(&base, seed);
        let out = glomers::sim::run(&opts).expect("the bench runs");
        assert_eq!(out.valid, Validity::True, "{}", opts.command_line());
    }
}

#[test]
fn kafka_challenges_and_faults() {
    sweep("-w kafka --node-count 1 --concurrency 2n --time-limit 20 --rate 1000", 0..5, false);
    sweep("-w kafka --node-count 2 --concurrency 2n --time-limit 20 --rate 1000", 0..5, false);
    sweep("-w kafka --node-count 2 --concurrency 2n --time-limit 20 --rate 500", 0..10, true);
}

#[test]
fn txn_challenges_and_faults() {
    let rc = "--concurrency 2n --time-limit 20 --rate 1000 --availability total";
    sweep(
        &format!("-w txn-rw-register --node-count 1 {rc} --consistency-models read-uncommitted"),
        0..3,
        false,
    );
    sweep(
        &format!(
            "-w txn-rw-register --node-count 2 {rc} --consistency-models read-uncommitted --nemesis partition"
        ),
        0..5,
        false,
    );
    sweep(
        &format!(
            "-w txn-rw-register --node-count 2 {rc} --consistency-models read-committed --nemesis partition"
        ),
        0..5,
        false,
    );
    sweep(
        "-w txn-rw-register --node-count 2 --concurrency 2n --time-limit 10 --rate 500 --availability total --consistency-models read-committed",
        0..10,
        true,
    );
}
