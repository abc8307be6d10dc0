//! End-to-end throughput: a node binary fed 1,000,000 requests through a pipe, against a
//! minimal line pass-through program on the same bytes, in the same run. Two streams: echo
//! requests to `glomers-echo`, and broadcast requests (distinct values) to a one-node
//! `glomers-broadcast`, each line byte for byte what Maelstrom sends (the network's `id`
//! first; the body's own fields, then `type`, then `msg_id`).
//!
//! The pass-through is this bench binary re-executed with `GLOMERS_PASSTHROUGH` set: it reads
//! a line and writes it, with buffered I/O, which is the floor any line-oriented node pays. A
//! writer thread feeds the pre-generated input; the main thread drains stdout and counts
//! lines. Each program runs 21 times, interleaved; the report gives the best run of each,
//! the ratio of the bests (node throughput / pass-through throughput) and the median and
//! range of the ratios of paired runs. It also gives each program's CPU time (user and
//! system, from `wait4`), least of its runs: wall time on a shared machine moves with the
//! neighbours' load, and CPU time shows where the difference lies.
//!
//! The nodes enlarge their stdin and stdout pipes to 256 KiB (see `driver::PIPE_CAPACITY`),
//! which saves many wake-ups at this rate. So that the node's own work is all the ratio
//! measures, the pass-through runs twice: as written (default 64 KiB pipes), and with the
//! same 256 KiB pipes as the node. The report gives the ratio against both; the second is the
//! stricter and the one quoted.
//!
//! Run: `cargo bench --bench throughput` (add `-- --lines N` to change the count). With
//! `-- --baseline DIR`, the `glomers-echo` and `glomers-broadcast` binaries in `DIR` (another
//! build, e.g. of the main branch) run in the same interleaved rounds as a fourth program, so
//! the two builds are compared under the same load: each gets its own line of figures.

use std::io::{BufRead, BufWriter, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ECHO: &str = env!("CARGO_BIN_EXE_glomers-echo");
const BROADCAST: &str = env!("CARGO_BIN_EXE_glomers-broadcast");

fn passthrough(big_pipes: bool) {
    if big_pipes {
        for fd in [0, 1] {
            // SAFETY: F_SETPIPE_SZ takes an int and touches no memory of ours; failure (not a
            // pipe) leaves the pipe as it was.
            let _ = unsafe { libc::fcntl(fd, libc::F_SETPIPE_SZ, 256 << 10) };
        }
    }
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut out = BufWriter::with_capacity(64 << 10, std::io::stdout().lock());
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                if out.write_all(&line).is_err() {
                    return;
                }
            }
        }
    }
    let _ = out.flush();
}

/// What one run of a program cost.
#[derive(Clone, Copy)]
struct Cost {
    /// Wall time from the first byte written to the last byte read.
    wall: Duration,
    /// The program's own user and system CPU time.
    user: Duration,
    sys: Duration,
}

/// Runs `cmd` on `input`, returns its cost and the number of output lines.
// (The child is reaped by `reap`, with `wait4`, which clippy does not see.)
#[allow(clippy::zombie_processes)]
fn run(cmd: &mut Command, input: &std::sync::Arc<Vec<u8>>) -> (Cost, usize) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("piped");
    let mut stdout = child.stdout.take().expect("piped");
    let start = Instant::now();
    let data = std::sync::Arc::clone(input);
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let mut buf = vec![0u8; 1 << 20];
    let mut lines = 0;
    loop {
        match stdout.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => lines += memchr_count(&buf[..n]),
        }
    }
    writer.join().expect("writer");
    let wall = start.elapsed();
    let (user, sys) = reap(&child);
    (Cost { wall, user, sys }, lines)
}

/// Waits for `child` and returns its user and system CPU time (`wait4`'s resource usage; the
/// standard library's `wait` does not report it).
fn reap(child: &std::process::Child) -> (Duration, Duration) {
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
    let mut status = 0;
    // SAFETY: an all-zero `rusage` is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `status` and `usage` are valid for writes for the call; `pid` is our own child,
    // not yet reaped (nothing else waits for it).
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4 on our child");
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    (tv(usage.ru_utime), tv(usage.ru_stime))
}

fn memchr_count(b: &[u8]) -> usize {
    b.iter().filter(|&&c| c == b'\n').count()
}

fn main() {
    if let Some(mode) = std::env::var_os("GLOMERS_PASSTHROUGH") {
        passthrough(mode == "big");
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args
        .iter()
        .position(|a| a == "--lines")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    // `cargo test --benches` runs bench binaries with `--test`-like flags: do a tiny run.
    let n = if args.iter().any(|a| a == "--test") { 1_000 } else { n };
    let baseline = args
        .iter()
        .position(|a| a == "--baseline")
        .and_then(|i| args.get(i + 1))
        .map(std::path::PathBuf::from);
    let other = |name: &str| baseline.as_ref().map(|d| d.join(name));

    // Every line is what Maelstrom itself sends: the network's message `id` first, then
    // `src`, `dest` and `body`; a client request's body holds its own fields, then `type`,
    // then the `msg_id` the client adds.
    let init = br#"{"id":0,"src":"c0","dest":"n1","body":{"type":"init","node_id":"n1","node_ids":["n1"],"msg_id":1}}"#;
    let mut echo = Vec::with_capacity(n * 100);
    echo.extend_from_slice(init);
    echo.push(b'\n');
    for i in 0..n {
        echo.extend_from_slice(
            format!(r#"{{"id":{},"src":"c1","dest":"n1","body":{{"echo":"Please echo {}","type":"echo","msg_id":{}}}}}"#, i + 1, i % 128, i + 1)
                .as_bytes(),
        );
        echo.push(b'\n');
    }
    compare("echo", ECHO, other("glomers-echo"), n, 1, echo);

    let mut bcast = Vec::with_capacity(n * 90);
    bcast.extend_from_slice(init);
    bcast.push(b'\n');
    bcast.extend_from_slice(
        br#"{"id":1,"src":"c0","dest":"n1","body":{"topology":{"n1":[]},"type":"topology","msg_id":2}}"#,
    );
    bcast.push(b'\n');
    for i in 0..n {
        bcast.extend_from_slice(
            format!(r#"{{"id":{},"src":"c1","dest":"n1","body":{{"message":{i},"type":"broadcast","msg_id":{}}}}}"#, i + 2, i + 1).as_bytes(),
        );
        bcast.push(b'\n');
    }
    compare("broadcast", BROADCAST, other("glomers-broadcast"), n, 2, bcast);
}

/// One node program's figures over the rounds.
struct Node {
    label: String,
    path: std::path::PathBuf,
    best: Duration,
    /// Its run with the least CPU time.
    cpu: Option<Cost>,
    /// Per-round ratios against the 256 KiB pass-through run of the same round.
    paired: Vec<f64>,
}

/// Runs the pass-through (default pipes, then 256 KiB pipes), `node` and, if given, the
/// `baseline` node in [`ROUNDS`] interleaved rounds on `input` (`n` requests after `setup`
/// setup lines), and prints for each node the best time, the ratio of the bests, and the
/// spread of the per-round ratios (each round's node run against the 256 KiB pass-through run
/// of its round, so a slow spell on this shared machine hits both sides of a pair alike).
fn compare(
    name: &str,
    node: &str,
    baseline: Option<std::path::PathBuf>,
    n: usize,
    setup: usize,
    input: Vec<u8>,
) {
    let input = std::sync::Arc::new(input);
    let me = std::env::current_exe().expect("own path");
    let mut best_pass = Duration::MAX;
    let mut best_big = Duration::MAX;
    // The runs with the least CPU time (user + system) of the 256 KiB pass-through and the
    // nodes, with their user/system split.
    let mut cpu_big: Option<Cost> = None;
    let cpu = |c: &Cost| c.user + c.sys;
    let keep_least = |slot: &mut Option<Cost>, c: Cost| {
        if slot.is_none_or(|s| cpu(&c) < cpu(&s)) {
            *slot = Some(c);
        }
    };
    let mut nodes = vec![Node {
        label: name.to_owned(),
        path: node.into(),
        best: Duration::MAX,
        cpu: None,
        paired: Vec::new(),
    }];
    if let Some(path) = baseline {
        nodes.push(Node {
            label: format!("{name} (baseline {})", path.display()),
            path,
            best: Duration::MAX,
            cpu: None,
            paired: Vec::new(),
        });
    }
    for round in 0..ROUNDS {
        let (c, lines) = run(Command::new(&me).env("GLOMERS_PASSTHROUGH", "1"), &input);
        assert_eq!(lines, n + setup, "pass-through echoes every line");
        best_pass = best_pass.min(c.wall);
        let (big, lines) = run(Command::new(&me).env("GLOMERS_PASSTHROUGH", "big"), &input);
        assert_eq!(lines, n + setup, "pass-through echoes every line");
        best_big = best_big.min(big.wall);
        keep_least(&mut cpu_big, big);
        // Alternate which build goes first, so neither always follows the pass-through.
        let k = nodes.len();
        for j in 0..k {
            let node = &mut nodes[(j + round) % k];
            let (c, lines) = run(&mut Command::new(&node.path), &input);
            assert_eq!(lines, n + setup, "the node answers every line");
            node.best = node.best.min(c.wall);
            keep_least(&mut node.cpu, c);
            node.paired.push(big.wall.as_secs_f64() / c.wall.as_secs_f64());
        }
    }
    if let [node, base] = &nodes[..] {
        // The two builds head to head: each round's runs of both, back to back.
        let mut head: Vec<f64> = base.paired.iter().zip(&node.paired).map(|(b, n)| n / b).collect();
        head.sort_by(f64::total_cmp);
        println!(
            "throughput/{name}: this build against the baseline, paired rounds (its throughput / \
             the baseline's): median {:.2}, range {:.2}-{:.2}, ahead in {} of {ROUNDS}",
            head[head.len() / 2],
            head[0],
            head[head.len() - 1],
            head.iter().filter(|&&r| r > 1.0).count(),
        );
    }
    for node in &mut nodes {
        report(n, setup, &input, node, best_pass, best_big, cpu_big);
    }
}

/// Prints one node's figures against the pass-through's.
#[allow(clippy::too_many_arguments)]
fn report(
    n: usize,
    setup: usize,
    input: &[u8],
    node: &mut Node,
    best_pass: Duration,
    best_big: Duration,
    cpu_big: Option<Cost>,
) {
    let cpu = |c: &Cost| c.user + c.sys;
    let (best_node, cpu_node) = (node.best, node.cpu);
    let name = &node.label;
    let paired = &mut node.paired;
    paired.sort_by(f64::total_cmp);
    let rate = |t: Duration| n as f64 / t.as_secs_f64();
    println!(
        "throughput/{name}: {n} requests ({:.1} MB): pass-through {:.3} s ({:.2} M lines/s), \
         with 256 KiB pipes {:.3} s ({:.2} M lines/s), node {:.3} s ({:.2} M req/s), \
         ratio {:.2} (against 256 KiB pipes; {:.2} against default pipes); \
         paired rounds: median {:.2}, range {:.2}-{:.2}",
        input.len() as f64 / 1e6,
        best_pass.as_secs_f64(),
        rate(best_pass) / 1e6,
        best_big.as_secs_f64(),
        rate(best_big) / 1e6,
        best_node.as_secs_f64(),
        rate(best_node) / 1e6,
        best_big.as_secs_f64() / best_node.as_secs_f64(),
        best_pass.as_secs_f64() / best_node.as_secs_f64(),
        paired[paired.len() / 2],
        paired[0],
        paired[paired.len() - 1],
    );
    let (Some(big), Some(node)) = (cpu_big, cpu_node) else { return };
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "throughput/{name}: CPU time, least of {ROUNDS} runs: pass-through {:.0} ms \
         (user {:.0}, system {:.0}), node {:.0} ms (user {:.0}, system {:.0}): \
         {:.0} ns against {:.0} ns a line",
        ms(cpu(&big)),
        ms(big.user),
        ms(big.sys),
        ms(cpu(&node)),
        ms(node.user),
        ms(node.sys),
        cpu(&big).as_secs_f64() * 1e9 / (n + setup) as f64,
        cpu(&node).as_secs_f64() * 1e9 / (n + setup) as f64,
    );
}

/// Interleaved rounds per program. On this project's shared machine one program's CPU time for
/// the same million lines moves between 69 and 187 ms from one run to the next (neighbours'
/// load), for a run of about a tenth of a second; 21 rounds (about ten seconds in all) give
/// each program many chances at a quiet slot, so the best runs measure the programs and not
/// the neighbours, and the paired median has enough pairs to mean something.
const ROUNDS: usize = 21;
