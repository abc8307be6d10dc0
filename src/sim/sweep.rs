//! Seed sweeps (`glomers sweep`): one test over a range of seeds, run on several threads and
//! reported in seed order.
//!
//! Seeds are independent runs, so [`run`] hands them to `jobs` worker threads from one queue
//! (the next unclaimed seed) and reports each result as soon as every earlier seed has been
//! reported: the output is the same, line for line, whatever finishes first. Workers run at
//! most [`AHEAD_PER_JOB`] seeds per job ahead of the report; a slow seed holds the others
//! back rather than letting finished results pile up without bound.

use std::collections::BTreeMap;
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::sync::{Condvar, Mutex};

use super::opts::TestOpts;
use super::report::Outcome;
use super::scenario;
use super::workloads::Validity;

/// How many seeds per job the workers may run ahead of the report.
pub const AHEAD_PER_JOB: u64 = 4;

/// What a sweep runs.
#[derive(Clone, Debug)]
pub struct SweepOpts {
    /// The test every seed runs (its own `seed` is replaced).
    pub base: TestOpts,
    /// The seeds, `A..B`.
    pub seeds: Range<u64>,
    /// Whether each seed also picks its faults ([`scenario::with_faults`]).
    pub faults: bool,
    /// Worker threads (at least 1).
    pub jobs: usize,
}

impl SweepOpts {
    /// The options seed `seed` runs with.
    pub fn for_seed(&self, seed: u64) -> TestOpts {
        if self.faults {
            scenario::with_faults(&self.base, seed)
        } else {
            TestOpts { seed, ..self.base.clone() }
        }
    }
}

/// The number of worker threads a sweep uses unless told otherwise: every available core
/// in-process; one in process mode, where each run is real time and its figures would
/// suffer from sharing the cores with other runs (and each run holds `--node-count`
/// processes and three pipes each).
pub fn default_jobs(base: &TestOpts) -> usize {
    if base.bin.is_some() { 1 } else { std::thread::available_parallelism().map_or(1, |n| n.get()) }
}

/// What one seed's run came to.
#[derive(Clone, Debug)]
pub struct SeedRun {
    /// The seed.
    pub seed: u64,
    /// The command that reproduces it.
    pub command: String,
    /// The verdict and figures, or why the run could not happen.
    pub result: Result<Figures, String>,
}

/// The figures a sweep keeps of a run.
#[derive(Clone, Debug)]
pub struct Figures {
    /// The verdict.
    pub valid: Validity,
    /// Servers msgs-per-op.
    pub msgs_per_op: f64,
    /// Client operations invoked.
    pub op_count: usize,
    /// Median and maximum stable latency in ms, for workloads that report them (broadcast).
    pub stable_latency_ms: Option<(u64, u64)>,
}

impl Figures {
    fn of(o: &Outcome) -> Figures {
        Figures {
            valid: o.valid,
            msgs_per_op: o.msgs_per_op_servers,
            op_count: o.op_count,
            stable_latency_ms: stable_latency(&o.workload.json),
        }
    }
}

/// The 0.5 and 1 quantiles of a checker result's `stable_latencies`, if it has them.
fn stable_latency(json: &str) -> Option<(u64, u64)> {
    use simd_json::prelude::*;
    let mut bytes = json.as_bytes().to_vec();
    let v = simd_json::to_owned_value(&mut bytes).ok()?;
    let q = v.get("stable_latencies")?.as_array()?;
    let at = |p: f64| {
        q.iter().find(|e| e.get_idx(0).and_then(|x| x.as_f64()) == Some(p))?.get_idx(1)?.as_u64()
    };
    Some((at(0.5)?, at(1.0)?))
}

/// Totals over a sweep.
#[derive(Clone, Debug, Default)]
pub struct Totals {
    /// Seeds run.
    pub total: usize,
    /// Seeds that were not valid, or could not run.
    pub failed: usize,
    /// Valid runs.
    pub valid: usize,
    /// The sum of the valid runs' msgs-per-op (see [`Totals::mean_msgs_per_op`]).
    pub sum_msgs_per_op: f64,
    /// The highest msgs-per-op of a valid run.
    pub worst_msgs_per_op: f64,
    /// The highest median and maximum stable latency of a valid run (ms), if reported.
    pub worst_stable_latency_ms: Option<(u64, u64)>,
}

impl Totals {
    fn add(&mut self, run: &SeedRun) {
        self.total += 1;
        match &run.result {
            Ok(f) if f.valid == Validity::True => {
                self.valid += 1;
                self.sum_msgs_per_op += f.msgs_per_op;
                self.worst_msgs_per_op = self.worst_msgs_per_op.max(f.msgs_per_op);
                if let Some((med, max)) = f.stable_latency_ms {
                    let (m0, x0) = self.worst_stable_latency_ms.unwrap_or((0, 0));
                    self.worst_stable_latency_ms = Some((m0.max(med), x0.max(max)));
                }
            }
            _ => self.failed += 1,
        }
    }

    /// The mean msgs-per-op of the valid runs (0 if none).
    pub fn mean_msgs_per_op(&self) -> f64 {
        if self.valid == 0 { 0.0 } else { self.sum_msgs_per_op / self.valid as f64 }
    }
}

/// Runs every seed of `opts` on `opts.jobs` threads, calls `report` once per seed in seed
/// order, and returns the totals.
pub fn run(opts: &SweepOpts, mut report: impl FnMut(&SeedRun)) -> Totals {
    let mut totals = Totals::default();
    let work = |seed: u64| {
        let test = opts.for_seed(seed);
        let result = match catch_unwind(AssertUnwindSafe(|| super::run(&test))) {
            Ok(Ok(outcome)) => Ok(Figures::of(&outcome)),
            Ok(Err(e)) => Err(e),
            Err(panic) => Err(format!("the run panicked: {}", panic_text(&*panic))),
        };
        SeedRun { seed, command: test.command_line(), result }
    };
    in_seed_order(opts.seeds.clone(), opts.jobs, &work, &mut |_, r: SeedRun| {
        totals.add(&r);
        report(&r);
    });
    totals
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

/// The queue the workers share: the next seed to claim and the next seed to report.
struct Queue {
    next: u64,
    reported: u64,
}

/// Runs `work` for every seed on `jobs` threads and calls `report` for each seed in seed
/// order, as soon as it and every earlier seed are done. `work` must not panic (wrap it in
/// `catch_unwind`, as [`run`] does): a missing result would stall the report.
pub fn in_seed_order<T: Send>(
    seeds: Range<u64>,
    jobs: usize,
    work: &(dyn Fn(u64) -> T + Sync),
    report: &mut dyn FnMut(u64, T),
) {
    let jobs = jobs.max(1);
    if jobs == 1 {
        for seed in seeds {
            report(seed, work(seed));
        }
        return;
    }
    let ahead = AHEAD_PER_JOB * jobs as u64;
    let queue = Mutex::new(Queue { next: seeds.start, reported: seeds.start });
    let moved = Condvar::new();
    let end = seeds.end;
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel::<(u64, T)>();
        for _ in 0..jobs {
            let tx = tx.clone();
            let (queue, moved) = (&queue, &moved);
            s.spawn(move || {
                loop {
                    let seed = {
                        let mut q = queue.lock().unwrap_or_else(|e| e.into_inner());
                        while q.next < end && q.next >= q.reported + ahead {
                            q = moved.wait(q).unwrap_or_else(|e| e.into_inner());
                        }
                        if q.next >= end {
                            return;
                        }
                        q.next += 1;
                        q.next - 1
                    };
                    if tx.send((seed, work(seed))).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let mut done: BTreeMap<u64, T> = BTreeMap::new();
        let mut next = seeds.start;
        for (seed, result) in rx {
            done.insert(seed, result);
            while let Some(r) = done.remove(&next) {
                report(next, r);
                next += 1;
            }
            queue.lock().unwrap_or_else(|e| e.into_inner()).reported = next;
            moved.notify_all();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    #[test]
    fn results_come_in_seed_order_whatever_finishes_first() {
        // Early seeds take longest, so the workers finish them last.
        let work = |seed: u64| {
            std::thread::sleep(Duration::from_millis(20 - seed % 20));
            seed * 10
        };
        for jobs in [1, 2, 3, 8] {
            let mut seen = Vec::new();
            in_seed_order(5..45, jobs, &work, &mut |seed, r| seen.push((seed, r)));
            let want: Vec<(u64, u64)> = (5..45).map(|s| (s, s * 10)).collect();
            assert_eq!(seen, want, "jobs {jobs}");
        }
        let mut none = 0;
        in_seed_order(3..3, 4, &work, &mut |_, _| none += 1);
        assert_eq!(none, 0);
    }

    #[test]
    fn workers_run_in_parallel_but_never_far_ahead_of_the_report() {
        let started = AtomicU64::new(0);
        let running = AtomicU64::new(0);
        let most_running = AtomicU64::new(0);
        let reported = AtomicU64::new(0);
        let most_ahead = AtomicU64::new(0);
        let work = |seed: u64| {
            started.fetch_add(1, Ordering::SeqCst);
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most_running.fetch_max(now, Ordering::SeqCst);
            let ahead = seed - reported.load(Ordering::SeqCst);
            most_ahead.fetch_max(ahead, Ordering::SeqCst);
            // Seed 0 is slow: everyone else waits for it to be reported.
            std::thread::sleep(Duration::from_millis(if seed == 0 { 300 } else { 5 }));
            running.fetch_sub(1, Ordering::SeqCst);
        };
        in_seed_order(0..100, 3, &work, &mut |seed, ()| reported.store(seed + 1, Ordering::SeqCst));
        assert_eq!(started.load(Ordering::SeqCst), 100);
        assert!(most_running.load(Ordering::SeqCst) >= 2, "the seeds ran one at a time");
        let ahead = most_ahead.load(Ordering::SeqCst);
        assert!(ahead < AHEAD_PER_JOB * 3, "a worker ran {ahead} seeds ahead of the report");
    }

    #[test]
    fn a_sweep_reports_every_seed_with_its_command_and_totals() {
        let base = TestOpts {
            workload: "broadcast".into(),
            node_count: Some(3),
            time_limit: 3,
            rate: 20.0,
            store: None,
            quiet: true,
            ..TestOpts::default()
        };
        let sweep = |jobs| {
            let o = SweepOpts { base: base.clone(), seeds: 10..16, faults: false, jobs };
            let mut lines = Vec::new();
            let totals = run(&o, |r| {
                let f = r.result.as_ref().expect("runs");
                lines.push(format!("{} {} {:.6} {}", r.seed, f.valid, f.msgs_per_op, r.command));
            });
            (lines, totals)
        };
        let (one, t1) = sweep(1);
        let (three, t3) = sweep(3);
        assert_eq!(one, three, "the report does not depend on the number of jobs");
        assert_eq!((t1.total, t1.failed, t1.valid), (6, 0, 6));
        assert_eq!(t1.mean_msgs_per_op(), t3.mean_msgs_per_op());
        assert!(one[0].starts_with("10 true ") && one[0].contains("--seed 10"), "{}", one[0]);
        let (med, max) = t1.worst_stable_latency_ms.expect("broadcast reports latencies");
        assert!(med <= max);
    }
}
