//! The bench: a native, deterministic, Maelstrom-compatible test runner (`glomers test`).
//!
//! [`run`] takes Maelstrom's flags ([`opts::TestOpts`]), runs the workload's clients against
//! the nodes through the [`engine`], judges the history with the workload's checker, and
//! reports like Maelstrom ([`report`]). Without `--bin` the nodes are our own state machines
//! in this process on virtual time ([`inproc`]); with `--bin` they are real processes
//! ([`process`]).

pub mod engine;
pub mod history;
pub mod inproc;
pub mod nemesis;
pub mod net;
pub mod opts;
pub mod process;
pub mod report;
pub mod services;
pub mod workloads;

use self::engine::{Backend, Engine};
use self::opts::TestOpts;
use self::report::Outcome;
use self::workloads::ClientWorkload;

/// Workloads the bench can run.
pub const WORKLOADS: &[&str] =
    &["echo", "unique-ids", "broadcast", "g-counter", "kafka", "txn-rw-register"];

/// Runs one test and returns its outcome (the report is not printed).
pub fn run(opts: &TestOpts) -> Result<Outcome, String> {
    use self::workloads::*;
    match opts.workload.as_str() {
        "echo" => run_with(opts, echo::EchoClient),
        "unique-ids" => run_with(opts, unique_ids::UniqueIdsClient),
        "broadcast" => run_with(opts, broadcast::BroadcastClient::default()),
        "g-counter" => run_with(opts, g_counter::GCounterClient),
        "kafka" => run_with(opts, kafka::KafkaClient::new(opts)),
        "txn-rw-register" => run_with(opts, txn::TxnClient::new(opts)),
        w => Err(format!("unknown workload `{w}`; the bench knows {}", WORKLOADS.join(", "))),
    }
}

fn run_with<W: ClientWorkload>(opts: &TestOpts, workload: W) -> Result<Outcome, String> {
    let wall = std::time::Instant::now();
    match &opts.bin {
        None => {
            let mut machines = Vec::new();
            for (i, _) in opts.nodes().iter().enumerate() {
                let seed = opts.seed.wrapping_add(i as u64);
                let m = crate::workload::machine(&opts.workload, opts.bin_args.clone(), seed)
                    .ok_or_else(|| {
                        format!(
                            "no in-process node for `{}` (we have {}); pass --bin to test a binary",
                            opts.workload,
                            crate::workload::NAMES.join(", ")
                        )
                    })?;
                machines.push(m);
            }
            finish(opts, workload, inproc::InProcess::new(machines), wall)
        }
        Some(bin) => {
            let backend =
                process::Processes::spawn(bin, &opts.bin_args, &opts.nodes(), opts.log_stderr)
                    .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
            finish(opts, workload, backend, wall)
        }
    }
}

fn finish<W: ClientWorkload, B: Backend>(
    opts: &TestOpts,
    workload: W,
    backend: B,
    wall: std::time::Instant,
) -> Result<Outcome, String> {
    let (data, workload, _backend) = Engine::new(opts, workload, backend).run();
    Ok(report::judge(opts, &workload, data, wall.elapsed()))
}
