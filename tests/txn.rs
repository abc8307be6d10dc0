//! End to end: the txn-rw-register node (challenges 6a-6c) through the in-process bench, and
//! deliberately broken nodes (`--fault ...`) that the checker must reject.

use glomers::sim::opts::TestOpts;
use glomers::sim::report::Outcome;
use glomers::sim::workloads::Validity;

fn run(flags: &str) -> Outcome {
    let mut args: Vec<String> = "-w txn-rw-register --time-limit 20 --rate 1000 --concurrency 2n \
                                 --no-store --quiet"
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    args.extend(flags.split_whitespace().map(str::to_owned));
    let opts = TestOpts::parse(&args).expect("valid flags");
    glomers::sim::run(&opts).expect("the test runs")
}

fn assert_valid(flags: &str) {
    let o = run(flags);
    assert_eq!(o.valid, Validity::True, "{flags}\n{}", o.summary);
    assert_eq!(o.ok_fraction, 1.0, "{flags}: total availability");
    assert!(o.op_count > 10_000, "{flags}: {} ops", o.op_count);
}

/// A handful of seeds per configuration; `glomers sweep --seeds 0..100` runs many more.
const SEEDS: std::ops::Range<u64> = 0..2;

#[test]
fn challenge_6a_single_node_read_uncommitted() {
    for seed in SEEDS {
        assert_valid(&format!(
            "--node-count 1 --consistency-models read-uncommitted --availability total --seed {seed}"
        ));
    }
}

#[test]
fn challenge_6b_two_nodes_read_uncommitted_with_and_without_partitions() {
    for seed in SEEDS {
        let base = format!(
            "--node-count 2 --consistency-models read-uncommitted --availability total --seed {seed}"
        );
        assert_valid(&base);
        assert_valid(&format!("{base} --nemesis partition"));
    }
}

#[test]
fn challenge_6c_read_committed_with_partitions_and_latency() {
    for seed in SEEDS {
        let base = format!(
            "--node-count 2 --consistency-models read-committed --availability total \
             --nemesis partition --seed {seed}"
        );
        assert_valid(&base);
        assert_valid(&format!("{base} --latency 100"));
    }
}

#[test]
fn partitions_cause_lost_updates_which_read_committed_allows_and_the_report_says_so() {
    let o = run("--node-count 2 --consistency-models read-committed --nemesis partition --seed 2");
    assert_eq!(o.valid, Validity::True, "{}", o.summary);
    assert!(o.workload.json.contains("\"allowed_by_models\":[\"lost-update\"]"), "{}", o.summary);
    assert!(o.summary.contains("Maelstrom ignores them): lost-update"), "{}", o.summary);
}

/// Runs a faulty node under both models: `(read-uncommitted verdict, read-committed outcome)`.
fn faulty(fault: &str) -> (Validity, Outcome) {
    let flags =
        |m: &str| format!("--node-count 2 --consistency-models {m} --seed 1 -- --fault {fault}");
    let ru = run(&flags("read-uncommitted"));
    let rc = run(&flags("read-committed"));
    (ru.valid, rc)
}

/// Whether the checker listed `anomaly` among those the models forbid.
fn forbidden(o: &Outcome, anomaly: &str) -> bool {
    let j = &o.workload.json;
    let Some(start) = j.find("\"forbidden\":[") else { return false };
    let end = start + j[start..].find(']').expect("a closed list");
    j[start..end].contains(&format!("\"{anomaly}\""))
}

#[test]
fn a_node_exposing_aborted_writes_fails_read_committed_with_g1a() {
    let (ru, rc) = faulty("aborted-reads");
    assert_eq!(ru, Validity::True, "read-uncommitted allows G1a");
    assert_eq!(rc.valid, Validity::False, "{}", rc.summary);
    assert!(forbidden(&rc, "G1a"), "{}", rc.summary);
}

#[test]
fn a_node_exposing_intermediate_writes_fails_read_committed_with_g1b() {
    let (ru, rc) = faulty("intermediate-reads");
    assert_eq!(ru, Validity::True, "read-uncommitted allows G1b");
    assert_eq!(rc.valid, Validity::False, "{}", rc.summary);
    assert!(forbidden(&rc, "G1b"), "{}", rc.summary);
}

#[test]
fn a_node_with_non_atomic_reads_fails_read_committed_with_a_cycle() {
    let (_, rc) = faulty("late-reads");
    assert_eq!(rc.valid, Validity::False, "{}", rc.summary);
    assert!(forbidden(&rc, "G1c") || forbidden(&rc, "G0"), "{}", rc.summary);
    assert!(rc.summary.contains("cycle: T"), "an explained example: {}", rc.summary);
}

#[test]
fn a_node_without_isolation_fails_read_uncommitted_with_g0() {
    let o = run("--node-count 1 --key-count 3 --max-txn-length 8 --concurrency 8n \
                 --consistency-models read-uncommitted --seed 1 \
                 -- --fault interleave");
    assert_eq!(o.valid, Validity::False, "{}", o.summary);
    assert!(forbidden(&o, "G0"), "{}", o.summary);
}

#[test]
fn a_node_hiding_its_own_writes_is_reported_but_only_serializable_rejects_it() {
    let (ru, rc) = faulty("own-writes-invisible");
    assert_eq!((ru, rc.valid), (Validity::True, Validity::True), "{}", rc.summary);
    assert!(rc.summary.contains("Maelstrom ignores them): internal"), "{}", rc.summary);
    let ser = run(
        "--node-count 1 --consistency-models serializable --seed 1 -- --fault own-writes-invisible",
    );
    assert_eq!(ser.valid, Validity::False, "{}", ser.summary);
}
