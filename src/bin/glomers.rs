//! `glomers`: the bench CLI. `glomers test -w broadcast --node-count 25 ...` runs a
//! Maelstrom-compatible test (in-process by default, or real binaries with `--bin`).

use std::io::Write;
use std::process::ExitCode;

use glomers::sim::opts::TestOpts;

const USAGE: &str = "\
usage: glomers test [maelstrom test flags] [--seed N] [--loss P] [--store DIR | --no-store] [--quiet]
       glomers test --bin ./node [args...]   (run real binaries, as Maelstrom does)
       glomers sweep [flags] --seeds A..B [--faults]
                                        (run many seeds, report failures; --faults lets each
                                         seed pick latency, partitions and message loss)

Flags (same names and defaults as `maelstrom test`):
  -w, --workload W        echo | unique-ids | broadcast | g-counter | kafka | txn-rw-register |
                          lin-kv (needs --concurrency a multiple of 2n, as in Maelstrom)
  --bin FILE              node binary; words after it (or after --) are its arguments
  --node-count N          N nodes named n0..n{N-1} (without it: Maelstrom's five, n1..n5)
  --time-limit S          seconds of client operations (60)
  --rate R                operations per second over all clients (5)
  --concurrency C         worker threads: C or Kn (1n)
  --latency MS            server-to-server latency (0)
  --latency-dist D        constant | uniform | exponential
  --nemesis partition     random partitions
  --nemesis-interval S    mean seconds between partition changes (10)
  --topology T            grid | line | tree | tree2 | tree3 | tree4 | total
  --availability A        total | a fraction of ops that must succeed
  --consistency-models M  read-uncommitted | read-committed | ...
  --max-txn-length N, --max-writes-per-key N, --key-count N
  --log-stderr, --log-net-send, --log-net-recv
Ours:
  --seed N                the one seed of the whole run (0)
  --loss P                drop each server-to-server message with probability P
  --search-budget N       lin-kv: states the linearizability search may explore per key
                          before that key's verdict is unknown (10000000)
  --store DIR             results directory root (store); --no-store writes nothing
Exit status: 0 valid, 1 invalid, 2 unknown, 254 bad arguments, 255 the test could not run.
";

/// Prints to stdout; a closed stdout (`| head`) ends the program quietly instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {
        if writeln!(std::io::stdout().lock(), $($arg)*).is_err() {
            std::process::exit(0);
        }
    };
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test" | "sweep") if wants_help(&args[1..]) => {
            out!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some("test") => test(&args[1..]),
        Some("sweep") => sweep(&args[1..]),
        Some("-h" | "--help" | "help") | None => {
            out!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("glomers: unknown command `{other}`\n\n{USAGE}");
            ExitCode::from(254)
        }
    }
}

/// Whether `-h`/`--help` comes before the node's own words (after `--bin FILE` or `--`, a
/// `--help` belongs to the node).
fn wants_help(args: &[String]) -> bool {
    args.iter().take_while(|a| *a != "--bin" && *a != "--").any(|a| a == "-h" || a == "--help")
}

fn test(args: &[String]) -> ExitCode {
    let opts = match TestOpts::parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("glomers test: {e}\n\n{USAGE}");
            return ExitCode::from(254);
        }
    };
    match glomers::sim::run(&opts) {
        Ok(outcome) => {
            out!("{}", outcome.summary.trim_end());
            if let Some(store) = &opts.store {
                match outcome.write_store(store, &opts.workload) {
                    Ok(dir) => out!("  results        {}", dir.display()),
                    Err(e) => eprintln!("glomers: could not write results: {e}"),
                }
            }
            out!(
                "{}",
                match outcome.valid {
                    glomers::sim::workloads::Validity::True => "Everything looks good!",
                    glomers::sim::workloads::Validity::False => "Analysis invalid!",
                    glomers::sim::workloads::Validity::Unknown =>
                        "Errors occurred during analysis, but no anomalies found.",
                }
            );
            ExitCode::from(outcome.exit_code as u8)
        }
        Err(e) => {
            eprintln!("glomers test: {e}");
            ExitCode::from(255)
        }
    }
}

/// `glomers sweep --seeds A..B [--faults] <test flags>`: runs every seed in-process, prints
/// one line per failure with the command that reproduces it, and exits 1 if any failed. With
/// `--faults` each seed also picks the scenario's faults (see `sim::scenario`).
fn sweep(args: &[String]) -> ExitCode {
    let mut rest = Vec::new();
    let mut seeds = 0..100u64;
    let mut faults = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--faults" {
            faults = true;
        } else if a == "--seeds" {
            let Some(range) = it.next().and_then(|r| {
                let (a, b) = r.split_once("..")?;
                Some(a.parse().ok()?..b.parse().ok()?)
            }) else {
                eprintln!("glomers sweep: --seeds wants A..B");
                return ExitCode::from(254);
            };
            seeds = range;
        } else {
            rest.push(a.clone());
        }
    }
    rest.push("--no-store".into());
    rest.push("--quiet".into());
    let base = match TestOpts::parse(&rest) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("glomers sweep: {e}");
            return ExitCode::from(254);
        }
    };
    let (mut failed, mut total) = (0, 0);
    let mut worst_mpo: f64 = 0.0;
    for seed in seeds {
        let opts = if faults {
            glomers::sim::scenario::with_faults(&base, seed)
        } else {
            TestOpts { seed, ..base.clone() }
        };
        total += 1;
        match glomers::sim::run(&opts) {
            Ok(o) if o.valid == glomers::sim::workloads::Validity::True => {
                worst_mpo = worst_mpo.max(o.msgs_per_op_servers);
            }
            Ok(o) => {
                failed += 1;
                out!("seed {seed}: {} -> {}", o.valid, opts.command_line());
            }
            Err(e) => {
                failed += 1;
                out!("seed {seed}: error {e}");
            }
        }
    }
    out!("{total} seeds, {failed} failed; worst servers msgs-per-op {worst_mpo:.3}");
    if failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
