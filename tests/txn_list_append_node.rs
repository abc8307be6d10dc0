//! End to end: the txn-list-append node (`glomers-txn-list-append`) through the in-process
//! bench, judged by the list-append checker: strict-serializable under partitions, at
//! Maelstrom's default models, under seed-derived faults; and a deliberately broken twin
//! (read-only transactions answered from the local state, the guide's stale-read mistake)
//! that the checker must reject as not strict-serializable while it stays serializable.

use glomers::sim::opts::TestOpts;
use glomers::sim::report::Outcome;
use glomers::sim::scenario::with_faults;
use glomers::sim::workloads::Validity;

fn opts(flags: &str) -> TestOpts {
    let mut words: Vec<String> = "-w txn-list-append --no-store --quiet"
        .split_whitespace()
        .chain(flags.split_whitespace())
        .map(str::to_owned)
        .collect();
    words.retain(|w| !w.is_empty());
    TestOpts::parse(&words).expect("valid flags")
}

fn run(o: &TestOpts) -> Outcome {
    glomers::sim::run(o).expect("the bench runs")
}

#[test]
fn strict_serializable_through_partitions_at_the_guides_settings() {
    for seed in 0..3 {
        let o = run(&opts(&format!(
            "--node-count 2 --rate 100 --time-limit 60 --nemesis partition \
             --consistency-models strict-serializable --seed {seed}"
        )));
        assert_eq!(o.valid, Validity::True, "seed {seed}\n{}", o.summary);
        assert!(o.faults.is_empty(), "{:?}", o.faults);
        assert_eq!(o.ok_fraction, 1.0, "lin-kv is never partitioned: every txn commits");
        assert!(o.op_count > 5_000, "{} ops", o.op_count);
        assert!(o.net.dropped_partition > 0, "partitions did cut messages");
        // The demo transactor sends 11.0; announcements lost to partitions cost a little.
        assert!(o.msgs_per_op_servers < 4.0, "{}", o.msgs_per_op_servers);
    }
}

#[test]
fn valid_at_maelstroms_default_models_and_cheap_without_partitions() {
    let o = run(&opts("--node-count 2 --rate 100 --time-limit 30 --seed 11"));
    assert_eq!(o.valid, Validity::True, "{}", o.summary);
    assert!(o.msgs_per_op_servers < 3.0, "{}", o.msgs_per_op_servers);
    // One node needs no service at all.
    let o = run(&opts("--node-count 1 --concurrency 10n --rate 100 --time-limit 10 --seed 1"));
    assert_eq!(o.valid, Validity::True, "{}", o.summary);
    assert_eq!(o.msgs_per_op_servers, 0.0);
}

#[test]
fn a_sweep_slice_under_faults_and_contention() {
    let cases = [
        ("--node-count 2 --rate 100 --time-limit 30", 0..24),
        ("--node-count 3 --concurrency 4n --rate 300 --time-limit 20 --max-txn-length 8", 0..8),
    ];
    let mut failures = Vec::new();
    for (flags, seeds) in cases {
        let base = opts(flags);
        for seed in seeds {
            let o = with_faults(&base, seed);
            let out = run(&o);
            if out.valid != Validity::True || !out.faults.is_empty() {
                failures.push(format!("{}: {}", out.valid, o.command_line()));
            }
        }
    }
    assert!(failures.is_empty(), "failing seeds:\n{}", failures.join("\n"));
}

#[test]
fn the_handover_keeps_the_tail_short_under_contention() {
    // 10 ms latency: both nodes busy, every commit a round trip. Without handing a lost
    // batch to the winner, a loser kept losing (max latency 3.3 s on this seed).
    let flags = "--node-count 2 --rate 100 --time-limit 30 --latency 10 --seed 0";
    let max = |o: &Outcome| o.op_latencies_us[0].1.last().map(|&(_, us)| us).unwrap_or(0);
    let with = run(&opts(flags));
    assert_eq!(with.valid, Validity::True, "{}", with.summary);
    assert!(max(&with) < 200_000, "max {} µs\n{}", max(&with), with.summary);
    let without = run(&opts(&format!("{flags} -- --no-forward")));
    assert_eq!(without.valid, Validity::True, "{}", without.summary);
    assert!(max(&without) > 2 * max(&with), "{} vs {}", max(&without), max(&with));
}

#[test]
fn stale_read_only_txns_are_caught_as_not_strict_serializable() {
    // Without announcements a node's cache lags until its next CAS fails, so stale reads abound.
    let flags = "--node-count 2 --rate 100 --time-limit 30 --seed 2";
    let broken = run(&opts(&format!("{flags} -- --stale-reads --no-announce")));
    assert_eq!(broken.valid, Validity::False, "{}", broken.summary);
    assert!(broken.summary.contains("realtime"), "{}", broken.summary);
    let serializable = run(&opts(&format!(
        "{flags} --consistency-models serializable -- --stale-reads --no-announce"
    )));
    assert_eq!(serializable.valid, Validity::True, "{}", serializable.summary);
    let fixed = run(&opts(flags));
    assert_eq!(fixed.valid, Validity::True, "{}", fixed.summary);
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let f = "--node-count 2 --rate 100 --time-limit 10 --nemesis partition --latency 3";
    let a = run(&opts(&format!("{f} --seed 4")));
    let b = run(&opts(&format!("{f} --seed 4")));
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.workload.json, b.workload.json);
}
