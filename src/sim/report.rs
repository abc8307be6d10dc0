//! Judging and reporting: Maelstrom's checkers composed into one verdict, a human summary,
//! and a results directory (`store/<workload>/<time>/`) with JSON results, the history, node
//! logs and a latency plot.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::engine::{NodeFault, PartitionSpan, RunData};
use super::history::{History, OpType};
use super::net::NetStats;
use super::opts::{Availability, TestOpts};
use super::workloads::{Check, ClientWorkload, Validity, quantiles};

/// Everything a run produced, judged.
pub struct Outcome {
    /// The verdict.
    pub valid: Validity,
    /// Process exit status: 0 valid, 1 invalid, 2 unknown, 255 the test could not run.
    pub exit_code: i32,
    /// The human summary.
    pub summary: String,
    /// The workload checker's result.
    pub workload: Check,
    /// Network totals.
    pub net: NetStats,
    /// Client operations invoked.
    pub op_count: usize,
    /// Servers msgs-per-op (NaN for a history judged alone: not available).
    pub msgs_per_op_servers: f64,
    /// All msgs-per-op (NaN for a history judged alone).
    pub msgs_per_op_all: f64,
    /// Fraction of invocations that completed ok.
    pub ok_fraction: f64,
    /// Latency quantiles (0, 0.5, 0.95, 0.99, 1) of ok operations by function, in µs.
    pub op_latencies_us: Vec<(&'static str, Vec<(f64, u64)>)>,
    /// Nodes that printed invalid lines, crashed, ...
    pub faults: Vec<NodeFault>,
    /// Hash of the delivery trace (equal runs have equal hashes).
    pub trace_hash: u64,
    /// Wall-clock time of the run.
    pub wall: Duration,
    /// Test time (main phase start to end).
    pub test_time: Duration,
    /// The results JSON.
    pub results_json: String,
    history_jsonl: String,
    logs: Vec<(String, Vec<u8>)>,
    svg: String,
    net_log: Vec<String>,
}

#[derive(Serialize, Default, Clone, Copy)]
struct FStats {
    count: usize,
    ok_count: usize,
    fail_count: usize,
    info_count: usize,
}

/// Latencies (µs) of completed operations by function, with quantiles.
fn op_latencies<V>(history: &History<V>) -> Vec<(&'static str, Vec<(f64, u64)>)> {
    let mut by_f: Vec<(&'static str, Vec<u64>)> = Vec::new();
    for p in history.pairs() {
        let Some(c) = p.complete else { continue };
        if c.kind != OpType::Ok {
            continue;
        }
        let us = c.time.saturating_sub(p.invoke.time) / 1_000;
        match by_f.iter_mut().find(|(f, _)| *f == p.invoke.f) {
            Some((_, v)) => v.push(us),
            None => by_f.push((p.invoke.f, vec![us])),
        }
    }
    by_f.into_iter()
        .map(|(f, mut v)| {
            v.sort_unstable();
            (f, quantiles(&v))
        })
        .collect()
}

/// Quantiles of microsecond values, shown in milliseconds.
fn fmt_quantiles_us(q: &[(f64, u64)]) -> String {
    q.iter().map(|(p, v)| format!("{p}: {:.3}", *v as f64 / 1000.0)).collect::<Vec<_>>().join(", ")
}

/// Where a history judged without a run came from (`glomers check`): the report then shows
/// what a history alone cannot tell (messages, node output, partitions) as not available.
#[derive(Clone, Debug, Serialize)]
pub struct HistorySource {
    /// The file, as given.
    pub file: String,
    /// What it was read as (e.g. "Maelstrom history.edn").
    pub format: String,
    /// The command that judges it again.
    pub command: String,
    /// Client processes seen.
    pub processes: usize,
    /// Operations of other processes (the nemesis), skipped: count by `:f`.
    pub skipped: Vec<(String, usize)>,
    /// Whether every client operation had a `:time` (else latencies are not available).
    pub timed: bool,
    /// Whether the checker's operation indices differ from the file's `:index` (other
    /// processes' operations were dropped, or the file had none).
    pub renumbered: bool,
    /// Whether the file's operations had an `:index`.
    pub indexed: bool,
    /// Seconds spent reading the file into a history.
    pub read_seconds: f64,
    /// Whether Jepsen's stats check (every `:f` succeeds once) is part of the verdict, as
    /// it is in Maelstrom; not for a plain Jepsen register history, which Knossos judges by
    /// linearizability alone.
    pub stats_judged: bool,
}

/// Judges a run.
pub fn judge<W: ClientWorkload>(
    opts: &TestOpts,
    workload: &W,
    data: RunData<W::Value>,
    wall: Duration,
) -> Outcome {
    judge_data(opts, workload, data, wall, None)
}

/// Judges a history alone, read from `source`, as [`judge`] judges a run.
pub fn judge_history<W: ClientWorkload>(
    opts: &TestOpts,
    workload: &W,
    history: History<W::Value>,
    source: &HistorySource,
    wall: Duration,
) -> Outcome {
    judge_data(opts, workload, RunData::from_history(history), wall, Some(source))
}

fn judge_data<W: ClientWorkload>(
    opts: &TestOpts,
    workload: &W,
    data: RunData<W::Value>,
    wall: Duration,
    source: Option<&HistorySource>,
) -> Outcome {
    let history = &data.history;
    let checking = std::time::Instant::now();
    let check = workload.check(history, opts);
    let check_seconds = checking.elapsed().as_secs_f64();

    // Jepsen's stats checker: every function must succeed at least once.
    let mut stats: Vec<(&'static str, FStats)> = Vec::new();
    for op in &history.ops {
        if op.kind == OpType::Invoke {
            continue;
        }
        let s = match stats.iter_mut().find(|(f, _)| *f == op.f) {
            Some((_, s)) => s,
            None => {
                stats.push((op.f, FStats::default()));
                &mut stats.last_mut().expect("just pushed").1
            }
        };
        s.count += 1;
        match op.kind {
            OpType::Ok => s.ok_count += 1,
            OpType::Fail => s.fail_count += 1,
            _ => s.info_count += 1,
        }
    }
    let stats_valid =
        Validity::from_bool(stats.iter().all(|(f, s)| s.ok_count > 0 || workload.stats_exempt(f)));

    let op_count = history.invocations();
    let ok_count = history.ops.iter().filter(|o| o.kind == OpType::Ok).count();
    let ok_fraction = if op_count == 0 { 1.0 } else { ok_count as f64 / op_count as f64 };
    let availability_valid = Validity::from_bool(match opts.availability {
        None => true,
        Some(Availability::Total) => ok_count == op_count,
        Some(Availability::Fraction(a)) => a <= ok_fraction,
    });
    let per_op = |n: u64| match source {
        Some(_) => f64::NAN,
        None if op_count == 0 => 0.0,
        None => n as f64 / op_count as f64,
    };
    let msgs_per_op_servers = per_op(data.net.servers.msg_count);
    let msgs_per_op_all = per_op(data.net.all.msg_count);

    let valid = if data.aborted.is_some() {
        Validity::Unknown
    } else {
        let stats = match source {
            Some(src) if !src.stats_judged => Validity::True,
            _ => stats_valid,
        };
        check.valid.and(stats).and(availability_valid)
    };
    let exit_code = match (data.aborted.is_some(), valid) {
        (true, _) => 255,
        (_, Validity::True) => 0,
        (_, Validity::False) => 1,
        (_, Validity::Unknown) => 2,
    };
    let latencies = op_latencies(history);

    // Human summary.
    let mut s = String::new();
    let mode = if opts.bin.is_some() { "process" } else { "in-process" };
    match source {
        None => {
            let _ = writeln!(
                s,
                "glomers test -w {} ({} nodes, {} s, rate {}, latency {} ms {:?}{}, seed {}, {mode})",
                opts.workload,
                opts.nodes().len(),
                opts.time_limit,
                opts.rate,
                opts.latency,
                opts.latency_dist,
                if opts.partition { ", partitions" } else { "" },
                opts.seed
            );
        }
        Some(src) => {
            let _ = writeln!(
                s,
                "glomers check -w {} {} ({}: {} client operations from {} processes)",
                opts.workload,
                src.file,
                src.format,
                history.ops.len(),
                src.processes
            );
        }
    }
    if let Some(why) = &data.aborted {
        let _ = writeln!(s, "  TEST ABORTED: {why}");
    }
    let _ = writeln!(s, "  valid?         {valid}");
    for line in &check.summary {
        let _ = writeln!(s, "  {line}");
    }
    let _ = writeln!(
        s,
        "  availability   {:.4} ({ok_count}/{op_count} ok){}",
        ok_fraction,
        match opts.availability {
            None => String::new(),
            Some(_) => format!(" -> {availability_valid}"),
        }
    );
    let st: Vec<String> = stats
        .iter()
        .map(|(f, x)| {
            format!(
                "{f} {}/{} ok, {} fail, {} info",
                x.ok_count, x.count, x.fail_count, x.info_count
            )
        })
        .collect();
    let _ = writeln!(
        s,
        "  stats          {} -> {stats_valid}{}",
        st.join("; "),
        if source.is_some_and(|src| !src.stats_judged) {
            " (not part of the verdict for a plain register history, as in Knossos)"
        } else {
            ""
        }
    );
    if source.is_some() {
        let _ = writeln!(s, "  msgs-per-op    not available (a history records no messages)");
    } else {
        let _ = writeln!(
            s,
            "  msgs-per-op    servers {:.3}, all {:.3} ({} server msgs, {} dropped by partitions{})",
            msgs_per_op_servers,
            msgs_per_op_all,
            data.net.servers.msg_count,
            data.net.dropped_partition,
            if data.net.dropped_loss > 0 {
                format!(", {} lost", data.net.dropped_loss)
            } else {
                String::new()
            }
        );
    }
    if source.is_some_and(|src| !src.timed) {
        let _ = writeln!(s, "  op latency     not available (the history has no :time)");
    } else {
        for (f, q) in &latencies {
            let _ = writeln!(s, "  op latency ms  {f}: {{{}}}", fmt_quantiles_us(q));
        }
    }
    if !data.partitions.is_empty() {
        let spans: Vec<String> = data
            .partitions
            .iter()
            .map(|p| {
                format!(
                    "{:.1}-{} {:?}",
                    p.start_s,
                    p.end_s.map_or("end".into(), |e| format!("{e:.1}")),
                    p.shape
                )
            })
            .collect();
        let _ = writeln!(s, "  partitions     {}", spans.join(", "));
    }
    if let Some(src) = source {
        if !src.skipped.is_empty() {
            let skipped: Vec<String> =
                src.skipped.iter().map(|(f, n)| format!("{f} x{n}")).collect();
            let _ = writeln!(
                s,
                "  nemesis        {} skipped (not judged, not drawn)",
                skipped.join(", ")
            );
        }
        if src.renumbered {
            let _ = writeln!(
                s,
                "  indices        {}",
                if src.indexed {
                    "operations are numbered above among client operations only, from 0"
                } else {
                    "the history has no :index: operations are numbered in file order, from 0"
                }
            );
        }
        let _ = writeln!(s, "  node faults    not available (a history records no node output)");
    } else if data.faults.is_empty() {
        let _ = writeln!(s, "  node faults    none");
    } else {
        let _ = writeln!(
            s,
            "  node faults    {} (Maelstrom fails these silently; the bench reports them):",
            data.faults.len()
        );
        for f in data.faults.iter().take(10) {
            let _ = writeln!(s, "    {} at {:.3}s: {}", f.node, f.time_s, f.reason);
        }
    }
    match source {
        None => {
            let _ = writeln!(
                s,
                "  time           {:.1} s of test time in {:.3} s wall; trace {:016x}",
                data.duration.as_secs_f64(),
                wall.as_secs_f64(),
                data.trace_hash
            );
        }
        Some(src) => {
            let span = if src.timed {
                format!("{:.1} s of history; ", data.duration.as_secs_f64())
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "  time           {span}read in {:.3} s, checked in {:.3} s wall",
                src.read_seconds, check_seconds
            );
        }
    }
    if valid != Validity::True && source.is_none() {
        let _ = writeln!(s, "  reproduce:     {}", opts.command_line());
    }

    #[derive(Serialize)]
    struct NetOut {
        all: super::net::Counts,
        clients: super::net::Counts,
        servers: super::net::Counts,
        servers_msgs_per_op: f64,
        all_msgs_per_op: f64,
        dropped_partition: u64,
        dropped_loss: u64,
    }
    // A history alone has no seed, network, partitions, faults or trace: those are null.
    #[derive(Serialize)]
    struct Results<'a> {
        valid: Validity,
        workload: &'a str,
        seed: Option<u64>,
        command: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        history: Option<&'a HistorySource>,
        stats: Vec<(&'static str, FStats)>,
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
    let run = source.is_none();
    let results = Results {
        valid,
        workload: &opts.workload,
        seed: run.then_some(opts.seed),
        command: source.map_or_else(|| opts.command_line(), |src| src.command.clone()),
        history: source,
        stats: stats.clone(),
        stats_valid,
        availability: ok_fraction,
        availability_valid,
        net: run.then_some(NetOut {
            all: data.net.all,
            clients: data.net.clients,
            servers: data.net.servers,
            servers_msgs_per_op: msgs_per_op_servers,
            all_msgs_per_op: msgs_per_op_all,
            dropped_partition: data.net.dropped_partition,
            dropped_loss: data.net.dropped_loss,
        }),
        op_latencies_us: &latencies,
        partitions: run.then_some(&data.partitions[..]),
        faults: run.then_some(&data.faults[..]),
        trace_hash: run.then(|| format!("{:016x}", data.trace_hash)),
        test_seconds: data.duration.as_secs_f64(),
        wall_seconds: wall.as_secs_f64(),
        aborted: &data.aborted,
    };
    let mut results_json = simd_json::to_string(&results).unwrap_or_else(|_| "{}".into());
    // Splice the workload checker's object in.
    results_json.pop();
    results_json.push_str(",\"checker\":");
    results_json.push_str(&check.json);
    results_json.push('}');

    let mut history_jsonl = String::new();
    for op in &history.ops {
        if let Ok(line) = simd_json::to_string(op) {
            history_jsonl.push_str(&line);
            history_jsonl.push('\n');
        }
    }
    let svg = latency_svg(history, &data.partitions, data.duration);
    let logs = opts.nodes().into_iter().zip(data.logs).collect();
    Outcome {
        valid,
        exit_code,
        summary: s,
        workload: check,
        net: data.net,
        op_count,
        msgs_per_op_servers,
        msgs_per_op_all,
        ok_fraction,
        op_latencies_us: latencies,
        faults: data.faults,
        trace_hash: data.trace_hash,
        wall,
        test_time: data.duration,
        results_json,
        history_jsonl,
        logs,
        svg,
        net_log: data.net_log,
    }
}

/// Draws op latency against invocation time: a point per completed op (green ok, red fail,
/// amber info), partitions shaded, log-scaled latency axis.
fn latency_svg<V>(
    history: &History<V>,
    partitions: &[PartitionSpan],
    duration: Duration,
) -> String {
    let (w, h, left, bottom, top, right) = (900.0, 420.0, 60.0, 40.0, 20.0, 20.0);
    let t_max = duration.as_secs_f64().max(1.0);
    let points: Vec<(f64, f64, OpType)> = history
        .pairs()
        .iter()
        .filter_map(|p| {
            let c = p.complete?;
            let lat_ms = (c.time.saturating_sub(p.invoke.time) as f64 / 1e6).max(0.1);
            Some((p.invoke.time as f64 / 1e9, lat_ms, c.kind))
        })
        .collect();
    let l_max = points.iter().map(|p| p.1).fold(10.0_f64, f64::max);
    let (ly_min, ly_max) = (0.1_f64.log10(), l_max.log10() + 0.1);
    let x = |t: f64| left + (w - left - right) * (t / t_max);
    let y = |l: f64| h - bottom - (h - bottom - top) * ((l.log10() - ly_min) / (ly_max - ly_min));
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
    );
    for p in partitions {
        let (a, b) = (x(p.start_s), x(p.end_s.unwrap_or(t_max)));
        let _ = write!(
            s,
            "<rect x=\"{a:.1}\" y=\"{top}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#f4d6d6\"/>",
            (b - a).max(1.0),
            h - top - bottom
        );
    }
    let _ = write!(
        s,
        "<line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>",
        h - bottom,
        w - right,
        h - bottom
    );
    let _ = write!(
        s,
        "<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{}\" stroke=\"black\"/>",
        h - bottom
    );
    let mut tick = 0.1;
    while tick <= 10f64.powf(ly_max) {
        let yy = y(tick);
        let _ = write!(
            s,
            "<line x1=\"{left}\" y1=\"{yy:.1}\" x2=\"{}\" y2=\"{yy:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{tick}</text>",
            w - right,
            left - 4.0,
            yy + 4.0
        );
        tick *= 10.0;
    }
    let steps = 10;
    for i in 0..=steps {
        let t = t_max * i as f64 / steps as f64;
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{t:.0}</text>",
            x(t),
            h - bottom + 15.0
        );
    }
    let _ = write!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">invocation time (s)</text>",
        (left + w - right) / 2.0,
        h - 5.0
    );
    let _ = write!(
        s,
        "<text x=\"14\" y=\"{}\" transform=\"rotate(-90 14 {})\" text-anchor=\"middle\">latency (ms, log)</text>",
        h / 2.0,
        h / 2.0
    );
    for (t, l, kind) in points {
        let color = match kind {
            OpType::Ok => "#2a9d4b",
            OpType::Fail => "#d62828",
            _ => "#f4a261",
        };
        let _ = write!(
            s,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"1.6\" fill=\"{color}\" fill-opacity=\"0.6\"/>",
            x(t),
            y(l)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// UTC `YYYYMMDDTHHMMSS.mmmZ` for result directory names.
fn timestamp() -> String {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        now.subsec_millis()
    )
}

impl Outcome {
    /// The latency of ok `f` operations at quantile `q` (one of 0, 0.5, 0.95, 0.99, 1), in
    /// milliseconds.
    pub fn op_latency_ms(&self, f: &str, q: f64) -> Option<f64> {
        let (_, qs) = self.op_latencies_us.iter().find(|(name, _)| *name == f)?;
        qs.iter().find(|(p, _)| *p == q).map(|(_, us)| *us as f64 / 1000.0)
    }

    /// Writes `results.json`, `history.jsonl`, `node-logs/`, `latency.svg` (and `net.log`)
    /// under `store/<workload>/<time>/`, and points `store/latest` and
    /// `store/<workload>/latest` at it.
    pub fn write_store(&self, store: &Path, workload: &str) -> io::Result<PathBuf> {
        let base = store.join(workload);
        let mut name = timestamp();
        let mut dir = base.join(&name);
        let mut n = 1;
        while dir.exists() {
            name = format!("{}-{n}", timestamp());
            dir = base.join(&name);
            n += 1;
        }
        std::fs::create_dir_all(dir.join("node-logs"))?;
        std::fs::write(dir.join("results.json"), &self.results_json)?;
        std::fs::write(dir.join("history.jsonl"), &self.history_jsonl)?;
        std::fs::write(dir.join("latency.svg"), &self.svg)?;
        for (node, log) in &self.logs {
            std::fs::write(dir.join("node-logs").join(format!("{node}.log")), log)?;
        }
        if !self.net_log.is_empty() {
            std::fs::write(dir.join("net.log"), self.net_log.join("\n"))?;
        }
        #[cfg(unix)]
        {
            let link = |target: &Path, at: &Path| {
                let _ = std::fs::remove_file(at);
                let _ = std::os::unix::fs::symlink(target, at);
            };
            link(Path::new(&name), &base.join("latest"));
            link(&Path::new(workload).join(&name), &store.join("latest"));
        }
        Ok(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_look_like_jepsen_ones() {
        let t = timestamp();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z') && t.as_bytes()[8] == b'T', "{t}");
    }
}
