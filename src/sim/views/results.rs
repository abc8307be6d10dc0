//! `results.json` (ours) and `results.edn` (Maelstrom's shape): the same verdict, written
//! twice.
//!
//! `results.edn` has the keys Maelstrom's composed checker writes, so a script written
//! against Maelstrom's results reads ours unchanged: `:perf`, `:timeline`, `:exceptions`
//! (always valid), `:stats` (`:count`, `:ok-count`, `:fail-count`, `:info-count`, `:by-f`),
//! `:availability` (`:ok-fraction`), `:net` (`:all`, `:clients`, `:servers`, each with
//! `:send-count`, `:recv-count`, `:msg-count`, and `:msgs-per-op` for `:all` and `:servers`
//! as Maelstrom has it), `:workload` (the workload checker's own keys, e.g. set-full's
//! `:stable-latencies`, `:lost-count`, `:attempt-count`) and the top-level `:valid?`. What
//! only the bench knows (seed, command, trace hash, partitions, node faults, operation
//! latencies) goes under one extra key, `:glomers`, which Maelstrom scripts never look at.

use serde::Serialize;
use serde::ser::SerializeMap;

use crate::edn::{self, Keyword};
use crate::sim::engine::{NodeFault, PartitionSpan};
use crate::sim::net::{Counts, NetStats};
use crate::sim::report::Verdict;
use crate::sim::workloads::Validity;

/// What the results files say beyond the verdict: facts of the run.
pub struct RunFacts<'a> {
    /// The workload's name.
    pub workload: &'a str,
    /// The seed.
    pub seed: u64,
    /// The command that reruns the test.
    pub command: String,
    /// Set when a history alone was judged (`glomers check`): its seed, network, partitions,
    /// node faults and trace are unknown, and `results.json` says `null` for them.
    pub history: Option<&'a crate::sim::report::HistorySource>,
    /// Network totals.
    pub net: &'a NetStats,
    /// Partitions.
    pub partitions: &'a [PartitionSpan],
    /// Node faults.
    pub faults: &'a [NodeFault],
    /// Hash of the delivery trace.
    pub trace_hash: u64,
    /// Test time in seconds.
    pub test_seconds: f64,
    /// Wall-clock seconds.
    pub wall_seconds: f64,
    /// Why the run was aborted, if it was.
    pub aborted: &'a Option<String>,
}

/// `results.json`: the verdict, then the workload checker's JSON object under `checker`.
pub fn json(v: &Verdict, f: &RunFacts<'_>) -> String {
    #[derive(Serialize)]
    struct NetOut {
        all: Counts,
        clients: Counts,
        servers: Counts,
        servers_msgs_per_op: f64,
        all_msgs_per_op: f64,
        dropped_partition: u64,
        dropped_loss: u64,
    }
    #[derive(Serialize)]
    struct Results<'a> {
        valid: Validity,
        workload: &'a str,
        seed: Option<u64>,
        command: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        history: Option<&'a crate::sim::report::HistorySource>,
        stats: &'a [(&'static str, crate::sim::report::FStats)],
        stats_valid: Validity,
        availability: f64,
        availability_valid: Validity,
        net: Option<NetOut>,
        op_latencies_us: &'a [(&'static str, Vec<(f64, u64)>)],
        partitions: Option<&'a [PartitionSpan]>,
        faults: Option<&'a [NodeFault]>,
        trace_hash: Option<String>,
        test_seconds: f64,
        wall_seconds: f64,
        aborted: &'a Option<String>,
    }
    let run = f.history.is_none();
    let results = Results {
        valid: v.valid,
        workload: f.workload,
        seed: run.then_some(f.seed),
        command: &f.command,
        history: f.history,
        stats: &v.stats,
        stats_valid: v.stats_valid,
        availability: v.ok_fraction,
        availability_valid: v.availability_valid,
        net: run.then_some(NetOut {
            all: f.net.all,
            clients: f.net.clients,
            servers: f.net.servers,
            servers_msgs_per_op: v.msgs_per_op_servers,
            all_msgs_per_op: v.msgs_per_op_all,
            dropped_partition: f.net.dropped_partition,
            dropped_loss: f.net.dropped_loss,
        }),
        op_latencies_us: &v.op_latencies_us,
        partitions: run.then_some(f.partitions),
        faults: run.then_some(f.faults),
        trace_hash: run.then(|| format!("{:016x}", f.trace_hash)),
        test_seconds: f.test_seconds,
        wall_seconds: f.wall_seconds,
        aborted: f.aborted,
    };
    let mut s = simd_json::to_string(&results).unwrap_or_else(|_| "{}".into());
    // Splice the workload checker's object in.
    s.pop();
    s.push_str(",\"checker\":");
    s.push_str(&v.check.json);
    s.push('}');
    s
}

#[derive(Serialize)]
struct Valid {
    valid: Validity,
}

#[derive(Serialize)]
struct Perf {
    latency_graph: Valid,
    rate_graph: Valid,
    valid: Validity,
}

#[derive(Serialize)]
struct FStatsEdn {
    valid: Validity,
    count: usize,
    ok_count: usize,
    fail_count: usize,
    info_count: usize,
}

/// Jepsen's `:by-f`: a map from each function's keyword to its counts.
struct ByF<'a>(&'a [(&'static str, FStatsEdn)]);

impl Serialize for ByF<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (f, st) in self.0 {
            m.serialize_entry(&Keyword(f), st)?;
        }
        m.end()
    }
}

#[derive(Serialize)]
struct Stats<'a> {
    valid: Validity,
    count: usize,
    ok_count: usize,
    fail_count: usize,
    info_count: usize,
    by_f: ByF<'a>,
}

#[derive(Serialize)]
struct Availability {
    valid: Validity,
    ok_fraction: f64,
}

#[derive(Serialize)]
struct NetClass {
    send_count: u64,
    recv_count: u64,
    msg_count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    msgs_per_op: Option<f64>,
}

#[derive(Serialize)]
struct Net {
    all: NetClass,
    clients: NetClass,
    servers: NetClass,
    valid: Validity,
}

#[derive(Serialize)]
struct OpLatency {
    f: Keyword<'static>,
    quantiles_ms: Vec<(f64, f64)>,
}

#[derive(Serialize)]
struct Glomers<'a> {
    workload: &'a str,
    seed: u64,
    command: &'a str,
    trace_hash: String,
    test_seconds: f64,
    wall_seconds: f64,
    dropped_partition: u64,
    dropped_loss: u64,
    op_latencies: Vec<OpLatency>,
    partitions: &'a [PartitionSpan],
    node_faults: &'a [NodeFault],
    #[serde(skip_serializing_if = "Option::is_none")]
    aborted: &'a Option<String>,
}

/// `results.edn`: Maelstrom's composed result map (see the module docs), one top-level key
/// per line.
pub fn edn(v: &Verdict, f: &RunFacts<'_>) -> String {
    let ok = Valid { valid: Validity::True };
    let by_f: Vec<(&'static str, FStatsEdn)> = v
        .stats
        .iter()
        .map(|(name, s)| {
            (
                *name,
                FStatsEdn {
                    valid: Validity::from_bool(s.ok_count > 0 || v.stats_exempt.contains(name)),
                    count: s.count,
                    ok_count: s.ok_count,
                    fail_count: s.fail_count,
                    info_count: s.info_count,
                },
            )
        })
        .collect();
    let sum = |g: fn(&FStatsEdn) -> usize| by_f.iter().map(|(_, s)| g(s)).sum::<usize>();
    let stats = Stats {
        valid: v.stats_valid,
        count: sum(|s| s.count),
        ok_count: sum(|s| s.ok_count),
        fail_count: sum(|s| s.fail_count),
        info_count: sum(|s| s.info_count),
        by_f: ByF(&by_f),
    };
    // Not available (NaN) for a history judged alone: left out, as for no operations.
    let per_op = |x: f64| if v.op_count == 0 || x.is_nan() { None } else { Some(x) };
    let class = |c: &Counts, mpo: Option<f64>| NetClass {
        send_count: c.send_count,
        recv_count: c.recv_count,
        msg_count: c.msg_count,
        msgs_per_op: mpo,
    };
    let net = Net {
        all: class(&f.net.all, per_op(v.msgs_per_op_all)),
        clients: class(&f.net.clients, None),
        servers: class(&f.net.servers, per_op(v.msgs_per_op_servers)),
        valid: Validity::True,
    };
    let glomers = Glomers {
        workload: f.workload,
        seed: f.seed,
        command: &f.command,
        trace_hash: format!("{:016x}", f.trace_hash),
        test_seconds: f.test_seconds,
        wall_seconds: f.wall_seconds,
        dropped_partition: f.net.dropped_partition,
        dropped_loss: f.net.dropped_loss,
        op_latencies: v
            .op_latencies_us
            .iter()
            .map(|(name, q)| OpLatency {
                f: Keyword(name),
                quantiles_ms: q.iter().map(|&(p, us)| (p, us as f64 / 1000.0)).collect(),
            })
            .collect(),
        partitions: f.partitions,
        node_faults: f.faults,
        aborted: f.aborted,
    };
    let parts: [(&str, String); 9] = [
        (
            "perf",
            edn::to_string(&Perf {
                latency_graph: Valid { valid: Validity::True },
                rate_graph: Valid { valid: Validity::True },
                valid: Validity::True,
            }),
        ),
        ("timeline", edn::to_string(&ok)),
        ("exceptions", edn::to_string(&ok)),
        ("stats", edn::to_string(&stats)),
        (
            "availability",
            edn::to_string(&Availability {
                valid: v.availability_valid,
                ok_fraction: v.ok_fraction,
            }),
        ),
        ("net", edn::to_string(&net)),
        ("workload", v.check.edn.clone()),
        ("glomers", edn::to_string(&glomers)),
        ("valid?", edn::to_string(&v.valid)),
    ];
    let mut s = String::from("{");
    for (i, (k, val)) in parts.iter().enumerate() {
        if i > 0 {
            s.push_str(",\n ");
        }
        s.push(':');
        s.push_str(k);
        s.push(' ');
        s.push_str(val);
    }
    s.push_str("}\n");
    s
}
