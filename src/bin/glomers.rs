//! `glomers`: the bench CLI. `glomers test -w broadcast --node-count 25 ...` runs a
//! Maelstrom-compatible test (in-process by default, or real binaries with `--bin`);
//! `glomers check -w W FILE` judges a stored history again; `glomers serve` shows the results
//! store in a browser.

use std::io::Write;
use std::process::ExitCode;

use glomers::sim::opts::TestOpts;

const USAGE: &str = "\
usage: glomers test [maelstrom test flags] [--seed N] [--loss P] [--store DIR | --no-store] [--quiet]
       glomers test --bin ./node [args...]   (run real binaries, as Maelstrom does)
       glomers sweep [flags] --seeds A..B [--faults] [--jobs N]
                                        (run many seeds, report failures; --faults lets each
                                         seed pick latency, partitions and message loss;
                                         --jobs: threads, default every core in-process,
                                         1 with --bin)
       glomers check -w W FILE [--consistency-models M] [--availability A] [--store DIR]
                     [--search-budget N] [--initial-value V] [--format edn|jsonl]
                                        (judge a stored history again, with the same checker,
                                         report and exit status as test: Maelstrom's
                                         store/<test>/<time>/history.edn, a Jepsen history in one
                                         EDN vector (for lin-kv also a plain register history
                                         as Knossos reads it, starting at --initial-value, nil
                                         by default), or our history.jsonl; --format overrides
                                         the file's extension; nothing is written unless
                                         --store is given)
       glomers serve [--store DIR] [--port N] [--bind ADDR] [--threads N]
                                        (a web UI over the results store: every run, newest
                                         first, coloured by verdict; each run's report,
                                         plots, diagram, timeline, logs and files)

Flags (same names and defaults as `maelstrom test`):
  -w, --workload W        echo | unique-ids | broadcast | g-counter | pn-counter | g-set | kafka
                          | txn-rw-register | txn-list-append | lin-kv (lin-kv needs
                          --concurrency a multiple of 2n, as in Maelstrom)
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
  --consistency-models M  read-uncommitted | read-committed | ... (strict-serializable)
  --max-txn-length N, --max-writes-per-key N, --key-count N
  --log-stderr, --log-net-send, --log-net-recv
Ours:
  --seed N                the one seed of the whole run (0)
  --loss P                drop each server-to-server message with probability P
  --search-budget N       lin-kv: states the linearizability search may explore per key
                          before that key's verdict is unknown (10000000)
  --store DIR             results directory root (store); --no-store writes nothing
  --diagram-from S, --diagram-to S
                          messages.svg draws messages sent in this window of test time
  --diagram-messages N    messages.svg draws at most the first N of them (10000)
  --quiet                 no progress bar (it shows only when stderr is a terminal)
Serve:
  --store DIR             the results store to show (store)
  --port N                port (8080; 0 picks a free one)
  --bind ADDR             address to listen on (127.0.0.1; another one opens the store
                          to the network)
  --threads N             requests served at once (4)
Exit status: 0 valid, 1 invalid, 2 unknown, 254 bad arguments, 255 the test could not run
(check: the history could not be read; the error names the line).
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
        Some("test" | "sweep" | "serve" | "check") if wants_help(&args[1..]) => {
            out!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some("test") => test(&args[1..]),
        Some("check") => check(&args[1..]),
        Some("sweep") => sweep(&args[1..]),
        Some("serve") => serve(&args[1..]),
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
        Ok(outcome) => report(&outcome, &opts),
        Err(e) => {
            eprintln!("glomers test: {e}");
            ExitCode::from(255)
        }
    }
}

/// Prints an outcome's summary, stores it if asked, and returns its exit status.
fn report(outcome: &glomers::sim::report::Outcome, opts: &TestOpts) -> ExitCode {
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

/// `glomers check -w W FILE`: judges a stored history; 255 when it cannot be read.
fn check(args: &[String]) -> ExitCode {
    let opts = match glomers::sim::check::CheckOpts::parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("glomers check: {e}\n\n{USAGE}");
            return ExitCode::from(254);
        }
    };
    match glomers::sim::check::run(&opts) {
        Ok(outcome) => report(&outcome, &opts.test),
        Err(e) => {
            eprintln!("glomers check: {e}");
            ExitCode::from(255)
        }
    }
}

/// `glomers serve`: binds, prints the address, and serves until killed.
fn serve(args: &[String]) -> ExitCode {
    let opts = match glomers::serve::ServeOpts::parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("glomers serve: {e}\n\n{USAGE}");
            return ExitCode::from(254);
        }
    };
    let server = match glomers::serve::Server::bind(&opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("glomers serve: {e}");
            return ExitCode::from(254);
        }
    };
    match server.local_addr() {
        Ok(addr) => out!("glomers serve: http://{addr}/ showing {}", server.root.display()),
        Err(e) => eprintln!("glomers serve: {e}"),
    }
    match server.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("glomers serve: {e}");
            ExitCode::from(255)
        }
    }
}

/// `glomers sweep --seeds A..B [--faults] [--jobs N] <test flags>`: runs every seed (on N
/// threads; by default every core in-process, one in process mode), prints one line per
/// failure with the command that reproduces it, in seed order, and exits 1 if any failed.
/// With `--faults` each seed also picks the scenario's faults (see `sim::scenario`).
fn sweep(args: &[String]) -> ExitCode {
    let mut rest = Vec::new();
    let mut seeds = 0..100u64;
    let mut faults = false;
    let mut jobs = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--" {
            // Everything after `--` belongs to the node.
            rest.push(a.clone());
            rest.extend(it.by_ref().cloned());
        } else if a == "--faults" {
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
        } else if a == "--jobs" || a.starts_with("--jobs=") {
            let v = a.strip_prefix("--jobs=").map(str::to_owned).or_else(|| it.next().cloned());
            match v.and_then(|v| v.parse::<usize>().ok()).filter(|&n| n > 0) {
                Some(n) => jobs = Some(n),
                None => {
                    eprintln!("glomers sweep: --jobs wants a number of threads, at least 1");
                    return ExitCode::from(254);
                }
            }
        } else {
            rest.push(a.clone());
        }
    }
    // `--no-store` and `--quiet` are switches, so they may follow a trailing `--bin FILE`; they
    // go before any `--`, after which every word is the node's.
    let at = rest.iter().position(|a| a == "--").unwrap_or(rest.len());
    rest.splice(at..at, ["--no-store".to_owned(), "--quiet".to_owned()]);
    let base = match TestOpts::parse(&rest) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("glomers sweep: {e}");
            return ExitCode::from(254);
        }
    };
    let jobs = jobs.unwrap_or_else(|| glomers::sim::sweep::default_jobs(&base));
    let opts = glomers::sim::sweep::SweepOpts { base, seeds, faults, jobs };
    let count = opts.seeds.end.saturating_sub(opts.seeds.start);
    let mut bar = glomers::sim::progress::Bar::new(!args.iter().any(|a| a == "--quiet"));
    let mut verdicts = [0u64; 3]; // valid, invalid, unknown or error
    let mut done = 0u64;
    let totals = glomers::sim::sweep::run(&opts, |r| {
        done += 1;
        match &r.result {
            Ok(f) if f.valid == glomers::sim::workloads::Validity::True => verdicts[0] += 1,
            Ok(f) => {
                verdicts
                    [if f.valid == glomers::sim::workloads::Validity::False { 1 } else { 2 }] += 1;
                bar.finish();
                out!("seed {}: {} -> {}", r.seed, f.valid, r.command);
            }
            Err(e) => {
                verdicts[2] += 1;
                bar.finish();
                out!("seed {}: error {e}", r.seed);
            }
        }
        if bar.is_on() {
            let line = format!(
                "{} {done}/{count} seeds: {} valid, {} invalid, {} unknown; {:.1} s",
                glomers::sim::progress::gauge(done as f64 / count.max(1) as f64, 24),
                verdicts[0],
                verdicts[1],
                verdicts[2],
                bar.elapsed()
            );
            bar.draw(&line);
        }
    });
    bar.finish();
    let latency = match totals.worst_stable_latency_ms {
        Some((med, max)) => format!("; worst stable latency median {med} ms, max {max} ms"),
        None => String::new(),
    };
    out!(
        "{} seeds, {} failed ({jobs} job{}); servers msgs-per-op mean {:.3}, worst {:.3}{latency}",
        totals.total,
        totals.failed,
        if jobs == 1 { "" } else { "s" },
        totals.mean_msgs_per_op(),
        totals.worst_msgs_per_op,
    );
    if totals.failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
