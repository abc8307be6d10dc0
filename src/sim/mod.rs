//! The bench: a native, deterministic, Maelstrom-compatible test runner (`glomers test`).
//!
//! [`run`] takes Maelstrom's flags ([`opts::TestOpts`]), runs the workload's clients against
//! the nodes through the [`engine`], judges the history with the workload's checker, and
//! reports like Maelstrom ([`report`]). Without `--bin` the nodes are our own state machines
//! in this process on virtual time ([`inproc`]); with `--bin` they are real processes
//! ([`process`]).

pub mod check;
pub mod engine;
pub mod history;
pub mod inproc;
pub mod journal;
pub mod nemesis;
pub mod net;
pub mod opts;
pub mod process;
pub mod progress;
pub mod report;
pub mod scenario;
pub mod services;
pub mod sweep;
pub mod views;
pub mod workloads;

use self::engine::{Backend, Engine};
use self::opts::TestOpts;
use self::report::Outcome;
use self::workloads::ClientWorkload;

/// Workloads the bench can run.
pub const WORKLOADS: &[&str] = &[
    "echo",
    "unique-ids",
    "broadcast",
    "g-counter",
    "kafka",
    "txn-rw-register",
    "txn-list-append",
    "lin-kv",
    "g-set",
    "pn-counter",
];

/// Makes the in-process node `i` of a run (for testing other state machines, e.g.
/// deliberately broken ones, against the bench).
pub type NodeFactory<'a> = &'a dyn Fn(usize) -> Box<dyn crate::node::Machine>;

/// Runs one test and returns its outcome (the report is not printed): our own nodes
/// in-process, or `--bin` as real processes.
pub fn run(opts: &TestOpts) -> Result<Outcome, String> {
    check_workload(opts)?;
    match &opts.bin {
        None => {
            if crate::workload::machine(&opts.workload, Vec::new(), 0).is_none() {
                return Err(format!(
                    "no in-process node for `{}` (we have {}); pass --bin to test a binary",
                    opts.workload,
                    crate::workload::NAMES.join(", ")
                ));
            }
            let make = |i: usize| {
                let seed = opts.seed.wrapping_add(i as u64);
                crate::workload::machine(&opts.workload, opts.bin_args.clone(), seed)
                    .expect("checked above that the workload exists")
            };
            run_nodes(opts, &make)
        }
        Some(bin) => {
            let wall = std::time::Instant::now();
            let backend =
                process::Processes::spawn(bin, &opts.bin_args, &opts.nodes(), opts.log_stderr)
                    .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
            dispatch(opts, backend, wall)
        }
    }
}

/// Runs one test in-process with nodes made by `make` instead of our own workloads.
pub fn run_nodes(opts: &TestOpts, make: NodeFactory<'_>) -> Result<Outcome, String> {
    check_workload(opts)?;
    let wall = std::time::Instant::now();
    let machines = (0..opts.nodes().len()).map(make).collect();
    dispatch(opts, inproc::InProcess::new(machines), wall)
}

fn check_workload(opts: &TestOpts) -> Result<(), String> {
    if opts.workload == "lin-kv" {
        workloads::lin_kv::check_opts(opts)
    } else if WORKLOADS.contains(&opts.workload.as_str()) {
        Ok(())
    } else {
        Err(format!(
            "unknown workload `{}`; the bench knows {}",
            opts.workload,
            WORKLOADS.join(", ")
        ))
    }
}

fn dispatch<B: Backend>(
    opts: &TestOpts,
    backend: B,
    wall: std::time::Instant,
) -> Result<Outcome, String> {
    use self::workloads::*;
    match opts.workload.as_str() {
        "echo" => finish(opts, echo::EchoClient, backend, wall),
        "unique-ids" => finish(opts, unique_ids::UniqueIdsClient, backend, wall),
        "broadcast" => finish(opts, broadcast::BroadcastClient::default(), backend, wall),
        "g-counter" => finish(opts, g_counter::GCounterClient::default(), backend, wall),
        "kafka" => finish(opts, kafka::KafkaClient::new(opts), backend, wall),
        "txn-rw-register" => finish(opts, txn::TxnClient::new(opts), backend, wall),
        "txn-list-append" => finish(opts, list_append::ListAppendClient::new(opts), backend, wall),
        "lin-kv" => finish(opts, lin_kv::LinKvClient::new(opts), backend, wall),
        "g-set" => finish(opts, g_set::GSetClient::default(), backend, wall),
        "pn-counter" => finish(opts, pn_counter::PnCounterClient::default(), backend, wall),
        w => unreachable!("check_workload accepted `{w}`"),
    }
}

fn finish<W: ClientWorkload, B: Backend>(
    opts: &TestOpts,
    workload: W,
    backend: B,
    wall: std::time::Instant,
) -> Result<Outcome, String>
where
    W::Value: Send + Sync + 'static,
{
    let (data, workload, _backend) = Engine::new(opts, workload, backend).run();
    Ok(report::judge(opts, &workload, data, wall.elapsed()))
}
