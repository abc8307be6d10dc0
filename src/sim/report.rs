//! The verdict and the console report: Maelstrom's checkers composed into one verdict
//! ([`decide`]), the human summary printed after a run ([`console`]), and the results
//! directory `store/<workload>/<time>/` ([`Outcome::write_store`], which hands the files to
//! [`super::views`]).
//!
//! A history alone (`glomers check`) is judged the same way ([`judge_history`]); the report
//! then shows what a history cannot tell (messages, node output, partitions) as not available.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::engine::{NodeFault, RunData};
use super::history::{History, OpType};
use super::net::NetStats;
use super::opts::{Availability, TestOpts};
use super::views::{self, RunViews};
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
    /// The results JSON (`results.json`).
    pub results_json: String,
    /// The results in Maelstrom's EDN shape (`results.edn`).
    pub results_edn: String,
    /// What the views are drawn from, when the run is stored.
    pub views: RunViews,
}

/// Jepsen's stats for one function: completions by kind.
#[derive(Serialize, Default, Clone, Copy, Debug)]
pub struct FStats {
    /// Completions.
    pub count: usize,
    /// Ok completions.
    pub ok_count: usize,
    /// Failed completions.
    pub fail_count: usize,
    /// Indefinite completions.
    pub info_count: usize,
}

/// The verdict of a run and the numbers behind it, decided from the history and the
/// network totals alone.
#[derive(Debug)]
pub struct Verdict {
    /// The verdict: the workload checker's, the stats check's and the availability check's
    /// (unknown if the run was aborted).
    pub valid: Validity,
    /// Process exit status: 0 valid, 1 invalid, 2 unknown, 255 the test could not run.
    pub exit_code: i32,
    /// The workload checker's result.
    pub check: Check,
    /// Completions by function, in order of first completion.
    pub stats: Vec<(&'static str, FStats)>,
    /// Functions the stats check ignores (kafka's `crash`).
    pub stats_exempt: Vec<&'static str>,
    /// Every function succeeded at least once (or is exempt).
    pub stats_valid: Validity,
    /// Client operations invoked.
    pub op_count: usize,
    /// Ok completions.
    pub ok_count: usize,
    /// `ok_count / op_count` (1 without operations).
    pub ok_fraction: f64,
    /// The `--availability` check.
    pub availability_valid: Validity,
    /// Servers msgs-per-op.
    pub msgs_per_op_servers: f64,
    /// All msgs-per-op.
    pub msgs_per_op_all: f64,
    /// Latency quantiles (0, 0.5, 0.95, 0.99, 1) of ok operations by function, in µs.
    pub op_latencies_us: Vec<(&'static str, Vec<(f64, u64)>)>,
    /// Seconds the workload's checker took.
    pub check_seconds: f64,
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

/// Decides the verdict of a run: the workload's checker, Jepsen's stats check (every
/// function must succeed once), Maelstrom's availability check, and the network figures.
pub fn decide<W: ClientWorkload>(
    opts: &TestOpts,
    workload: &W,
    data: &RunData<W::Value>,
) -> Verdict {
    decide_from(opts, workload, data, None)
}

/// [`decide`], for a run or for a history alone read from `source`.
fn decide_from<W: ClientWorkload>(
    opts: &TestOpts,
    workload: &W,
    data: &RunData<W::Value>,
    source: Option<&HistorySource>,
) -> Verdict {
    let history = &data.history;
    let checking = std::time::Instant::now();
    let check = workload.check(history, opts);
    let check_seconds = checking.elapsed().as_secs_f64();
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
    let stats_exempt: Vec<&'static str> =
        stats.iter().map(|(f, _)| *f).filter(|f| workload.stats_exempt(f)).collect();
    let stats_valid =
        Validity::from_bool(stats.iter().all(|(f, s)| s.ok_count > 0 || stats_exempt.contains(f)));
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
    Verdict {
        valid,
        exit_code,
        check,
        stats,
        stats_exempt,
        stats_valid,
        op_count,
        ok_count,
        ok_fraction,
        availability_valid,
        msgs_per_op_servers: per_op(data.net.servers.msg_count),
        msgs_per_op_all: per_op(data.net.all.msg_count),
        op_latencies_us: op_latencies(history),
        check_seconds,
    }
}

/// The console report printed after a run (Maelstrom's summary, plus what the bench adds:
/// node faults, partitions, the trace hash, what the views left out, and the command that
/// reproduces a failure).
pub fn console<V>(
    opts: &TestOpts,
    v: &Verdict,
    data: &RunData<V>,
    wall: Duration,
    left_out: &[String],
) -> String {
    console_from(opts, v, data, wall, left_out, None)
}

/// [`console`], for a run or for a history alone read from `source`.
fn console_from<V>(
    opts: &TestOpts,
    v: &Verdict,
    data: &RunData<V>,
    wall: Duration,
    left_out: &[String],
    source: Option<&HistorySource>,
) -> String {
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
                data.history.ops.len(),
                src.processes
            );
        }
    }
    if let Some(why) = &data.aborted {
        let _ = writeln!(s, "  TEST ABORTED: {why}");
    }
    let _ = writeln!(s, "  valid?         {}", v.valid);
    for line in &v.check.summary {
        let _ = writeln!(s, "  {line}");
    }
    let _ = writeln!(
        s,
        "  availability   {:.4} ({}/{} ok){}",
        v.ok_fraction,
        v.ok_count,
        v.op_count,
        match opts.availability {
            None => String::new(),
            Some(_) => format!(" -> {}", v.availability_valid),
        }
    );
    let st: Vec<String> = v
        .stats
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
        "  stats          {} -> {}{}",
        st.join("; "),
        v.stats_valid,
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
            v.msgs_per_op_servers,
            v.msgs_per_op_all,
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
        for (f, q) in &v.op_latencies_us {
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
    for line in left_out {
        let _ = writeln!(s, "  views          {line}");
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
                src.read_seconds, v.check_seconds
            );
        }
    }
    if v.valid != Validity::True && source.is_none() {
        let _ = writeln!(s, "  reproduce:     {}", opts.command_line());
    }
    s
}

/// Judges a run: decides the verdict, writes the console report and the results (JSON and
/// EDN), and keeps what the views are drawn from for [`Outcome::write_store`].
pub fn judge<W: ClientWorkload>(
    opts: &TestOpts,
    workload: &W,
    data: RunData<W::Value>,
    wall: Duration,
) -> Outcome
where
    W::Value: Send + Sync + 'static,
{
    judge_from(opts, workload, data, wall, None)
}

/// Judges a history alone, read from `source`, as [`judge`] judges a run.
pub fn judge_history<W: ClientWorkload>(
    opts: &TestOpts,
    workload: &W,
    history: History<W::Value>,
    source: &HistorySource,
    wall: Duration,
) -> Outcome
where
    W::Value: Send + Sync + 'static,
{
    judge_from(opts, workload, RunData::from_history(history), wall, Some(source))
}

fn judge_from<W: ClientWorkload>(
    opts: &TestOpts,
    workload: &W,
    mut data: RunData<W::Value>,
    wall: Duration,
    source: Option<&HistorySource>,
) -> Outcome
where
    W::Value: Send + Sync + 'static,
{
    let v = decide_from(opts, workload, &data, source);
    let nodes = opts.nodes();
    let logs = nodes.iter().cloned().zip(std::mem::take(&mut data.logs)).collect();
    let facts = views::results::RunFacts {
        workload: &opts.workload,
        seed: opts.seed,
        command: source.map_or_else(|| opts.command_line(), |src| src.command.clone()),
        history: source,
        net: &data.net,
        partitions: &data.partitions,
        faults: &data.faults,
        trace_hash: data.trace_hash,
        test_seconds: data.duration.as_secs_f64(),
        wall_seconds: wall.as_secs_f64(),
        aborted: &data.aborted,
    };
    let results_json = views::results::json(&v, &facts);
    let results_edn = views::results::edn(&v, &facts);
    let title = format!(
        "{} ({} nodes, {} s, rate {}, latency {} ms{}, seed {})",
        opts.workload,
        nodes.len(),
        opts.time_limit,
        opts.rate,
        opts.latency,
        if opts.partition { ", partitions" } else { "" },
        opts.seed
    );
    let left_out = if opts.store.is_some() {
        views::left_out(&data.journal, &data.history)
    } else {
        Vec::new()
    };
    let summary = console_from(opts, &v, &data, wall, &left_out, source);
    let RunData {
        history,
        net,
        faults,
        trace_hash,
        duration,
        journal,
        partitions,
        nemesis_ops,
        net_log,
        ..
    } = data;
    let views = RunViews {
        ops: Box::new(history),
        nemesis: nemesis_ops,
        journal,
        partitions,
        duration,
        nodes,
        logs,
        net_log,
        title,
    };
    Outcome {
        valid: v.valid,
        exit_code: v.exit_code,
        summary,
        net,
        op_count: v.op_count,
        msgs_per_op_servers: v.msgs_per_op_servers,
        msgs_per_op_all: v.msgs_per_op_all,
        ok_fraction: v.ok_fraction,
        op_latencies_us: v.op_latencies_us,
        workload: v.check,
        faults,
        trace_hash,
        wall,
        test_time: duration,
        results_json,
        results_edn,
        views,
    }
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

    /// Writes the run's directory `store/<workload>/<time>/` with every view
    /// ([`super::views::write_all`]), and points `store/latest` and
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
        std::fs::create_dir_all(&dir)?;
        views::write_all(&dir, &self.views, &self.results_json, &self.results_edn)?;
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
