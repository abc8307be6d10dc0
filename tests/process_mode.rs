//! End to end: the bench in process mode (`--bin`) against real node processes.
//!
//! Our own binaries must pass; tiny broken nodes, written in POSIX sh at test time, must be
//! rejected the way Maelstrom rejects them (invalid: exit 1; test error: exit 255). The sh node
//! is run as `/bin/sh <script> <mode>`, which also checks that arguments reach the node.

use std::path::PathBuf;
use std::process::Command;

use glomers::sim::opts::TestOpts;
use glomers::sim::report::Outcome;
use glomers::sim::workloads::Validity;

/// A Maelstrom echo node in POSIX sh. `$1` picks a behaviour: `good`; `wrong` (echoes the
/// wrong payload); `garbage` (prints a non-JSON line after `init_ok`); `mute` (never answers
/// `init`); `exit` (exits with status 3 right after `init_ok`).
const SH_ECHO: &str = r#"
mode=$1
echo "sh echo node starting in mode $mode" >&2
while IFS= read -r line; do
  rest=${line#*\"src\":\"}; src=${rest%%\"*}
  rest=${line#*\"dest\":\"}; dest=${rest%%\"*}
  rest=${line#*\"type\":\"}; type=${rest%%\"*}
  rest=${line#*\"msg_id\":}; msg_id=${rest%%[!0-9]*}
  case $type in
    init)
      [ "$mode" = mute ] && continue
      printf '{"src":"%s","dest":"%s","body":{"type":"init_ok","in_reply_to":%s}}\n' \
        "$dest" "$src" "$msg_id"
      case $mode in
        garbage) echo 'this is not json' ;;
        exit) echo "exiting on purpose" >&2; exit 3 ;;
      esac ;;
    echo)
      rest=${line#*\"echo\":\"}; payload=${rest%%\"*}
      [ "$mode" = wrong ] && payload="not what you sent"
      printf '{"src":"%s","dest":"%s","body":{"type":"echo_ok","in_reply_to":%s,"echo":"%s"}}\n' \
        "$dest" "$src" "$msg_id" "$payload" ;;
  esac
done
"#;

/// Writes the sh node into a fresh temp directory (one per test) and returns its path.
fn sh_node(test: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("glomers-process-mode-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir is writable");
    let path = dir.join("echo-node.sh");
    std::fs::write(&path, SH_ECHO).expect("temp dir is writable");
    path
}

fn opts(words: &str) -> TestOpts {
    let args: Vec<String> = words.split_whitespace().map(str::to_owned).collect();
    TestOpts::parse(&args).expect("test flags parse")
}

/// Runs the sh echo node in `mode` for `secs` seconds.
fn run_sh(test: &str, mode: &str, secs: u64) -> Outcome {
    let script = sh_node(test);
    let o = opts(&format!(
        "-w echo --bin /bin/sh {} {mode} --node-count 2 --time-limit {secs} --rate 20 --no-store --quiet",
        script.display()
    ));
    let out = glomers::sim::run(&o).expect("the sh node starts");
    let _ = std::fs::remove_dir_all(script.parent().expect("script is in a directory"));
    out
}

fn faults(o: &Outcome) -> String {
    o.faults.iter().map(|f| format!("{} at {:.3}: {}\n", f.node, f.time_s, f.reason)).collect()
}

#[test]
fn our_echo_binary_is_valid() {
    let o = opts(&format!(
        "-w echo --bin {} --node-count 1 --time-limit 3 --rate 100 --no-store --quiet",
        env!("CARGO_BIN_EXE_glomers-echo")
    ));
    let out = glomers::sim::run(&o).expect("echo starts");
    assert_eq!(out.exit_code, 0, "{}", out.summary);
    assert!(out.faults.is_empty(), "{}", faults(&out));
    assert!(out.op_count > 150, "about 300 ops in 3 s at rate 100: {}", out.summary);
    assert!(out.test_time.as_secs_f64() < 4.0, "real time, no lag: {}", out.summary);
}

#[test]
fn our_unique_ids_binary_survives_partitions_with_total_availability() {
    let o = opts(&format!(
        "-w unique-ids --bin {} --node-count 3 --time-limit 5 --rate 500 --nemesis partition \
         --nemesis-interval 1 --availability total --no-store --quiet",
        env!("CARGO_BIN_EXE_glomers-unique-ids")
    ));
    let out = glomers::sim::run(&o).expect("unique-ids starts");
    assert_eq!(out.exit_code, 0, "{}", out.summary);
    assert_eq!(out.ok_fraction, 1.0, "{}", out.summary);
    assert!(out.op_count > 1500, "about 2500 ops in 5 s at rate 500: {}", out.summary);
    assert!(out.faults.is_empty(), "{}", faults(&out));
}

#[test]
fn a_correct_sh_node_is_valid() {
    let out = run_sh("good", "good", 2);
    assert_eq!(out.exit_code, 0, "{}", out.summary);
    assert!(out.faults.is_empty(), "{}", faults(&out));
}

#[test]
fn a_wrong_payload_is_invalid_through_the_cli() {
    let script = sh_node("wrong");
    let run = Command::new(env!("CARGO_BIN_EXE_glomers"))
        .args(["test", "-w", "echo", "--bin", "/bin/sh"])
        .arg(&script)
        .args(["wrong", "--node-count", "1", "--time-limit", "2", "--rate", "20"])
        .args(["--no-store", "--quiet"])
        .output()
        .expect("the glomers binary runs");
    let _ = std::fs::remove_dir_all(script.parent().expect("script is in a directory"));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("Analysis invalid!"), "{stdout}");
}

#[test]
fn help_prints_usage_and_a_bad_flag_exits_254() {
    let glomers = || Command::new(env!("CARGO_BIN_EXE_glomers"));
    for args in [&["test", "--help"][..], &["sweep", "-h"], &["--help"]] {
        let run = glomers().args(args).output().expect("the glomers binary runs");
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert_eq!(run.status.code(), Some(0), "{args:?}");
        assert!(stdout.starts_with("usage: glomers test"), "{args:?}: {stdout}");
    }
    let run = glomers().args(["test", "--no-such-flag"]).output().expect("runs");
    assert_eq!(run.status.code(), Some(254));
    assert!(String::from_utf8_lossy(&run.stderr).contains("--no-such-flag"));
}

#[test]
fn sweep_runs_seeds_on_several_threads_and_reports_them_in_seed_order() {
    let dir =
        std::env::temp_dir().join(format!("glomers-process-mode-{}-sweep", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir is writable");
    let sweep = |args: &str| {
        let run = Command::new(env!("CARGO_BIN_EXE_glomers"))
            .arg("sweep")
            .args(args.split_whitespace())
            .current_dir(&dir)
            .output()
            .expect("the glomers binary runs");
        (run.status.code(), String::from_utf8_lossy(&run.stdout).into_owned())
    };
    // In-process: the same report on one thread and on three; words after `--` go to the
    // node, and the sweep writes no results directory.
    let flags = "--seeds 0..6 -w broadcast --node-count 3 --time-limit 3 --rate 20 -- frugal";
    let (one, three) = (sweep(&format!("--jobs 1 {flags}")), sweep(&format!("--jobs=3 {flags}")));
    assert_eq!(one.0, Some(0), "{}", one.1);
    assert!(one.1.starts_with("6 seeds, 0 failed (1 job); servers msgs-per-op mean"), "{}", one.1);
    assert_eq!(one.1.replace("(1 job)", "(3 jobs)"), three.1);
    assert!(!dir.join("store").exists(), "a sweep must not write results");
    // Process mode sweeps too; failures come one line each, in seed order.
    let script = dir.join("echo-node.sh");
    std::fs::write(&script, SH_ECHO).expect("temp dir is writable");
    let process = |mode: &str| {
        sweep(&format!(
            "--jobs 2 --seeds 3..6 -w echo --node-count 2 --time-limit 1 --rate 20 --bin /bin/sh {} {mode}",
            script.display()
        ))
    };
    let (code, out) = process("good");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("3 seeds, 0 failed (2 jobs)"), "{out}");
    let (code, out) = process("wrong");
    assert_eq!(code, Some(1), "{out}");
    let seeds: Vec<&str> = out.lines().filter_map(|l| l.split(':').next()).collect();
    assert_eq!(seeds[..3], ["seed 3", "seed 4", "seed 5"], "{out}");
    assert!(out.contains("seed 4: false -> cargo run --release -- test -w echo"), "{out}");
    assert!(out.contains("3 seeds, 3 failed (2 jobs)"), "{out}");
    assert_eq!(sweep("--jobs 0 --seeds 0..1 -w echo").0, Some(254));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_non_json_line_is_a_node_fault_and_ops_time_out() {
    let out = run_sh("garbage", "garbage", 1);
    assert_eq!(out.exit_code, 1, "{}", out.summary);
    assert_eq!(out.valid, Validity::False);
    assert_eq!(out.ok_fraction, 0.0, "nothing is read from the nodes after the bad line");
    let f = faults(&out);
    assert_eq!(out.faults.len(), 2, "one per node: {f}");
    assert!(f.contains("invalid stdout line (not JSON") && f.contains("this is not json"), "{f}");
}

#[test]
fn a_node_that_never_answers_init_aborts_the_test() {
    let out = run_sh("mute", "mute", 1);
    assert_eq!(out.exit_code, 255, "{}", out.summary);
    assert!(out.summary.contains("TEST ABORTED") && out.summary.contains("no init_ok"));
    assert_eq!(out.op_count, 0);
}

#[test]
fn a_node_that_exits_after_init_is_a_crash() {
    let out = run_sh("exit", "exit", 1);
    assert_eq!(out.exit_code, 255, "{}", out.summary);
    assert!(out.summary.contains("TEST ABORTED"), "{}", out.summary);
    let f = faults(&out);
    assert_eq!(out.faults.len(), 2, "both nodes crashed: {f}");
    assert!(f.contains("crashed with exit status 3"), "{f}");
    assert!(f.contains("last stderr line: exiting on purpose"), "stderr is captured: {f}");
}

#[test]
fn a_missing_binary_is_an_error() {
    let o = opts("-w echo --bin /nonexistent/glomers-node --node-count 1 --no-store --quiet");
    let err = glomers::sim::run(&o).err().expect("nothing to run");
    assert!(err.contains("cannot start"), "{err}");
}

/// Every other workload's real binary, once, in real time, with faults (short runs: the final
/// phase adds 10 s of quiet to broadcast, g-counter and kafka).
#[test]
fn every_other_binary_passes_in_process_mode() {
    let bin = |w: &str| match w {
        "broadcast" => env!("CARGO_BIN_EXE_glomers-broadcast"),
        "g-counter" => env!("CARGO_BIN_EXE_glomers-g-counter"),
        "kafka" => env!("CARGO_BIN_EXE_glomers-kafka"),
        _ => env!("CARGO_BIN_EXE_glomers-txn-rw-register"),
    };
    for (w, flags) in [
        (
            "broadcast",
            "--node-count 5 --time-limit 4 --rate 20 --latency 20 --nemesis partition --nemesis-interval 1",
        ),
        (
            "g-counter",
            "--node-count 3 --time-limit 4 --rate 50 --latency 10 --nemesis partition --nemesis-interval 1",
        ),
        (
            "kafka",
            "--node-count 2 --concurrency 2n --time-limit 4 --rate 300 --latency 10 --nemesis partition --nemesis-interval 1",
        ),
        (
            "txn-rw-register",
            "--node-count 2 --concurrency 2n --time-limit 4 --rate 300 --latency 10 --nemesis partition \
             --nemesis-interval 1 --consistency-models read-committed --availability total",
        ),
    ] {
        let o = opts(&format!("-w {w} --bin {} {flags} --no-store --quiet", bin(w)));
        let out = glomers::sim::run(&o).expect("the binary starts");
        assert_eq!(out.exit_code, 0, "{w}: {}", out.summary);
        assert!(out.faults.is_empty(), "{w}: {}", faults(&out));
    }
}
