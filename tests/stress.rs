//! Process-level stress: the node binaries under bursts, a stalled reader, a closed stdout,
//! EOF mid-line, a 64 MiB line and stop/continue signals, with peak RSS measured.
//!
//! Peak RSS is the kernel's high-water mark of the node's resident set (`ru_maxrss` from
//! `wait4`, the same figure as `VmHWM` in `/proc/<pid>/status`), so it covers the whole life
//! of the process. Every test prints what it measured (`cargo test --test stress --
//! --nocapture` shows it).
//!
//! The default run stays well under a minute (the test profile is optimised, so the
//! million-message tests run too), and the slowest variants are `#[ignore]`d:
//! `cargo test --test stress -- --ignored --nocapture`.
//!
//! What bounds memory (see `glomers::driver`): the framer's input buffer (the longest line
//! seen, at most the 128 MiB line bound plus a read chunk), the output backlog (reading stops
//! above `OUT_HIGH_WATER`, 4 MiB), the output of one input line or timer round, the parser's
//! buffers (about the longest line), and the workload's own state.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use glomers::driver::OUT_HIGH_WATER;

const ECHO: &str = env!("CARGO_BIN_EXE_glomers-echo");
const BROADCAST: &str = env!("CARGO_BIN_EXE_glomers-broadcast");

const MIB: u64 = 1 << 20;

fn init(id: &str) -> String {
    format!(
        r#"{{"src":"c0","dest":"{id}","body":{{"type":"init","msg_id":1,"node_id":"{id}","node_ids":["{id}"]}}}}"#
    )
}

fn spawn(bin: &str) -> Child {
    Command::new(bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn node binary")
}

/// How a node process ended.
struct Ended {
    /// Exit status, or `-signal` if a signal killed it.
    code: i32,
    stderr: String,
}

/// Waits for `child` to exit.
fn reap(mut child: Child) -> Ended {
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    let status = child.wait().expect("wait for the node");
    let code = status.code().unwrap_or_else(|| {
        use std::os::unix::process::ExitStatusExt;
        -status.signal().unwrap_or(0)
    });
    Ended { code, stderr }
}

/// A field of `/proc/<pid>/status` in bytes (`VmRSS`, `VmHWM`), or 0 once the process is gone.
fn proc_status(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// The node's current resident set.
fn rss_now(pid: u32) -> u64 {
    proc_status(pid, "VmRSS")
}

/// The node's peak resident set so far: the kernel's high-water mark since `exec`. (Not
/// `wait4`'s `ru_maxrss`, which a child inherits from the parent it was forked from.) Read
/// while the node is still alive, which every test arranges by keeping its stdin open.
fn peak_rss(pid: u32) -> u64 {
    let hwm = proc_status(pid, "VmHWM");
    assert!(hwm > 0, "the node is alive when its peak is read");
    hwm
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB as f64)
}

/// An echo request whose payload is `pad` bytes of `x`.
fn echo_req(out: &mut Vec<u8>, i: u64, pad: &str) {
    writeln!(
        out,
        "{{\"src\":\"c1\",\"dest\":\"n0\",\"body\":{{\"type\":\"echo\",\"msg_id\":{i},\"echo\":\"{pad}\"}}}}"
    )
    .unwrap();
}

/// Streams `init` then `n` echo requests into the node, from a thread that returns stdin
/// (still open) when done.
fn echo_writer(child: &mut Child, n: u64, pad: usize) -> std::thread::JoinHandle<ChildStdin> {
    let mut stdin = child.stdin.take().unwrap();
    std::thread::spawn(move || {
        let pad = "x".repeat(pad);
        let mut buf = Vec::with_capacity(1 << 20);
        buf.extend_from_slice(init("n0").as_bytes());
        buf.push(b'\n');
        for i in 0..n {
            echo_req(&mut buf, i, &pad);
            if buf.len() >= 1 << 20 {
                stdin.write_all(&buf).expect("the node reads all input");
                buf.clear();
            }
        }
        stdin.write_all(&buf).expect("the node reads all input");
        stdin
    })
}

/// Reads the node's replies to `n` echo requests and checks each, in order.
fn read_echo_replies(reader: &mut impl BufRead, n: u64, mut each: impl FnMut(u64)) {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.contains("init_ok"), "{line}");
    for i in 0..n {
        each(i);
        line.clear();
        reader.read_line(&mut line).unwrap();
        let want = format!(",\"in_reply_to\":{i},\"echo\":\"");
        assert!(line.contains(&want) && line.ends_with("\"}}\n"), "reply {i}: {line:.200}");
    }
}

/// Checks that nothing follows the replies once stdin is closed.
fn expect_end(reader: &mut impl BufRead) {
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    assert!(rest.is_empty(), "nothing after the last reply: {rest:.200}");
}

/// Runs `n` echo requests with payload `pad` through one node, the reader calling `each`
/// before every reply. Returns the node's peak RSS and the wall time.
fn echo_burst(n: u64, pad: usize, each: impl FnMut(u64, u32)) -> (u64, Duration) {
    let started = Instant::now();
    let mut child = spawn(ECHO);
    let pid = child.id();
    let writer = echo_writer(&mut child, n, pad);
    let mut each = each;
    let mut reader = BufReader::with_capacity(1 << 16, child.stdout.take().unwrap());
    read_echo_replies(&mut reader, n, |i| each(i, pid));
    let stdin = writer.join().unwrap();
    let peak = peak_rss(pid);
    drop(stdin);
    expect_end(&mut reader);
    let ended = reap(child);
    assert_eq!(ended.code, 0, "stderr: {}", ended.stderr);
    (peak, started.elapsed())
}

/// The bound the driver documents for a backlog of short replies: the output high-water mark
/// plus the input buffer and one line's output (both well under 1 MiB here), plus the
/// process's own baseline (binary, stack, allocator arenas; about 2 MiB, see
/// `idle_baseline`), with 4 MiB of slack for allocator rounding.
const STALL_BOUND: u64 = OUT_HIGH_WATER as u64 + 6 * MIB;

#[test]
fn idle_baseline() {
    // A node that has only been initialised: what every figure below starts from.
    let (peak, _) = echo_burst(1000, 10, |_, _| {});
    println!("echo node, 1,000 small requests: peak RSS {}", mib(peak));
    assert!(peak < 8 * MIB, "{}", mib(peak));
}

#[test]
fn a_reader_stalled_for_seconds_bounds_memory_and_loses_nothing() {
    // 40,000 replies of 4 KiB: 160 MiB of output, far past the 4 MiB high-water mark. The
    // reader stalls for seconds right away while the writer keeps writing; the node must stop
    // reading at the high-water mark (the writer then blocks on the pipe), hold its memory
    // there, and deliver every reply once the reader resumes.
    let n = 40_000;
    let mut during = Vec::new();
    let (peak, took) = echo_burst(n, 4000, |i, pid| {
        if i == 0 {
            // At least 3 s, and until the backlog has reached the high-water mark (a debug
            // build on a busy machine may take longer to get there), then 1 s more.
            let start = Instant::now();
            let mut full = None;
            while full.is_none_or(|t: Instant| t.elapsed() < Duration::from_secs(1))
                || start.elapsed() < Duration::from_secs(3)
            {
                std::thread::sleep(Duration::from_millis(100));
                let rss = rss_now(pid);
                during.push(rss);
                if full.is_none() && (rss > OUT_HIGH_WATER as u64 || start.elapsed().as_secs() > 20)
                {
                    full = Some(Instant::now());
                }
            }
        }
    });
    let plateau = during.iter().copied().max().unwrap_or(0);
    println!(
        "stalled reader: RSS during the {:.1} s stall {} .. {}, peak {} (bound {}), {n} replies in {:.1?}",
        during.len() as f64 / 10.0,
        mib(during[0]),
        mib(plateau),
        mib(peak),
        mib(STALL_BOUND),
        took
    );
    assert!(plateau > OUT_HIGH_WATER as u64, "the backlog reached the mark: {}", mib(plateau));
    assert!(peak <= STALL_BOUND, "peak {} > {}", mib(peak), mib(STALL_BOUND));
}

#[test]
#[ignore = "slow: 20 s of stall; run with --ignored"]
fn a_reader_stalled_for_twenty_seconds_stays_at_the_bound() {
    let n = 100_000;
    let (peak, took) = echo_burst(n, 4000, |i, _| {
        if i == 0 || i == 50_000 {
            std::thread::sleep(Duration::from_secs(10));
        }
    });
    println!("20 s of stalls: peak {} (bound {}), {took:.1?}", mib(peak), mib(STALL_BOUND));
    assert!(peak <= STALL_BOUND, "peak {}", mib(peak));
}

#[test]
fn a_burst_of_a_million_requests_loses_nothing() {
    let n = 1_000_000;
    let (peak, took) = echo_burst(n, 8, |_, _| {});
    println!("1,000,000 echo requests: peak RSS {}, {took:.1?}", mib(peak));
    assert!(peak <= STALL_BOUND, "peak {}", mib(peak));
}

#[test]
fn a_stdout_closed_mid_burst_ends_the_node_cleanly() {
    // The reader takes a few replies and goes away while the writer keeps going and the node
    // holds a backlog: the node must exit 0 (EPIPE is the end, not an error) and say nothing
    // alarming.
    let mut child = spawn(ECHO);
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let pad = "y".repeat(1000);
        stdin.write_all(format!("{}\n", init("n0")).as_bytes()).unwrap();
        let mut buf = Vec::new();
        for i in 0..200_000 {
            buf.clear();
            echo_req(&mut buf, i, &pad);
            if stdin.write_all(&buf).is_err() {
                return i; // the node is gone: EPIPE
            }
        }
        200_000
    });
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    for _ in 0..100 {
        line.clear();
        reader.read_line(&mut line).unwrap();
    }
    drop(reader);
    let written = writer.join().unwrap();
    let ended = reap(child);
    println!("closed stdout: the node took {written} requests, then exited {}", ended.code);
    assert_eq!(ended.code, 0, "stderr: {}", ended.stderr);
    assert!(
        !ended.stderr.contains("panicked") && !ended.stderr.contains("error"),
        "{}",
        ended.stderr
    );
    assert!(written < 200_000, "the node stopped reading after stdout closed");
}

#[test]
fn stdin_eof_mid_line_handles_the_fragment_and_exits() {
    // A complete request cut off before its newline is still a request; a truncated one is
    // logged and skipped. Either way the node flushes what it owes and exits 0.
    for (tail, answered) in [
        (r#"{"src":"c1","dest":"n0","body":{"type":"echo","msg_id":7,"echo":"last"}}"#, true),
        (r#"{"src":"c1","dest":"n0","body":{"type":"echo","msg_id":7,"echo":"la"#, false),
    ] {
        let mut child = spawn(ECHO);
        let mut stdin = child.stdin.take().unwrap();
        let mut input = format!("{}\n", init("n0")).into_bytes();
        for i in 0..1000 {
            echo_req(&mut input, 100 + i, "z");
        }
        input.extend_from_slice(tail.as_bytes());
        stdin.write_all(&input).unwrap();
        drop(stdin);
        let mut out = String::new();
        child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        let ended = reap(child);
        assert_eq!(ended.code, 0, "stderr: {}", ended.stderr);
        assert_eq!(out.lines().count(), 1001 + usize::from(answered), "{tail}");
        assert_eq!(out.contains(r#""in_reply_to":7,"echo":"last""#), answered);
        if !answered {
            assert!(ended.stderr.contains("not valid JSON"), "{}", ended.stderr);
        }
    }
}

#[test]
fn a_64_mib_line_round_trips() {
    // Half the 128 MiB line bound. The reply is read while the node writes it.
    let len = 64 << 20;
    let payload: String = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    let req = format!(
        "{}\n{{\"src\":\"c1\",\"dest\":\"n0\",\"body\":{{\"type\":\"echo\",\"msg_id\":2,\"echo\":\"{payload}\"}}}}\n",
        init("n0")
    );
    let started = Instant::now();
    let mut child = spawn(ECHO);
    let pid = child.id();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        stdin.write_all(req.as_bytes()).unwrap();
        stdin
    });
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.contains("init_ok"));
    line.clear();
    reader.read_line(&mut line).unwrap();
    let stdin = writer.join().unwrap();
    let peak = peak_rss(pid);
    drop(stdin);
    let ended = reap(child);
    assert_eq!(ended.code, 0, "stderr: {}", ended.stderr);
    let prefix = r#"{"src":"n0","dest":"c1","body":{"type":"echo_ok","in_reply_to":2,"echo":""#;
    assert!(line.starts_with(prefix), "{:.200}", line);
    assert_eq!(line.len(), prefix.len() + len + "\"}}\n".len());
    assert!(line[prefix.len()..prefix.len() + len] == payload, "the payload came back intact");
    println!("64 MiB line: round trip in {:.1?}, peak RSS {}", started.elapsed(), mib(peak));
    // The input buffer (the line) plus the output of that one line (the reply), plus the
    // process's baseline; the parser works in place in the line buffer.
    assert!(peak <= 2 * len as u64 + 16 * MIB, "peak {}", mib(peak));
}

#[test]
fn stop_continue_and_ignored_signals_during_writes_lose_nothing() {
    // SIGSTOP/SIGCONT make Linux return EINTR from epoll_wait even without handlers
    // (signal(7)); SIGWINCH and SIGURG are ignored by default. Sent all through a burst, with
    // the node blocked on a slow reader part of the time.
    let n = 100_000;
    let mut child = spawn(ECHO);
    let pid = child.id() as libc::pid_t;
    let writer = echo_writer(&mut child, n, 100);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let signaller = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut sent = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for sig in [libc::SIGSTOP, libc::SIGCONT, libc::SIGWINCH, libc::SIGURG] {
                    // SAFETY: kill(2) on our own child, which is not reaped before `stop`.
                    unsafe { libc::kill(pid, sig) };
                    sent += 1;
                    std::thread::sleep(Duration::from_micros(300));
                }
            }
            // Never leave it stopped.
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGCONT) };
            sent
        })
    };
    let mut reader = BufReader::with_capacity(4096, child.stdout.take().unwrap());
    read_echo_replies(&mut reader, n, |i| {
        if i % 10_000 == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let stdin = writer.join().unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = signaller.join().unwrap();
    drop(stdin);
    expect_end(&mut reader);
    let ended = reap(child);
    println!("{sent} signals during {n} requests: all replies in order, exit {}", ended.code);
    assert_eq!(ended.code, 0, "stderr: {}", ended.stderr);
    assert!(sent > 100, "signals were sent: {sent}");
}

/// A one-node broadcast session's input: `init`, `topology`, the broadcasts of `0..n`, and a
/// `read` (`msg_id` `n + 2`) when `read` is set.
fn broadcast_session(n: u64, read: bool) -> Vec<u8> {
    let mut buf = Vec::with_capacity(n as usize * 80);
    writeln!(buf, "{}", init("n0")).unwrap();
    writeln!(
        buf,
        r#"{{"src":"c1","dest":"n0","body":{{"type":"topology","msg_id":1,"topology":{{"n0":[]}}}}}}"#
    )
    .unwrap();
    for i in 0..n {
        writeln!(
            buf,
            r#"{{"src":"c1","dest":"n0","body":{{"type":"broadcast","msg_id":{},"message":{i}}}}}"#,
            i + 2
        )
        .unwrap();
    }
    if read {
        writeln!(buf, r#"{{"src":"c1","dest":"n0","body":{{"type":"read","msg_id":{}}}}}"#, n + 2)
            .unwrap();
    }
    buf
}

/// What a broadcast session measured.
struct Session {
    /// The node's peak RSS.
    peak: u64,
    /// Replies the reader had taken when the writer had written everything: far fewer than
    /// all of them if the node held the writer back (it stopped reading while its output
    /// waited), nearly all if the node buffered the replies instead.
    taken_when_written: u64,
    /// Values in the read's reply (0 without a read).
    read: u64,
    took: Duration,
}

/// Runs a one-node broadcast session of `n` values, written as fast as the pipe takes them
/// (then a read of all, if `read`); the reader calls `each(k, pid)` before the `k`-th reply.
fn broadcast_session_run(n: u64, read: bool, mut each: impl FnMut(u64, u32)) -> Session {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let started = Instant::now();
    let mut child = spawn(BROADCAST);
    let pid = child.id();
    let mut stdin = child.stdin.take().unwrap();
    let taken = Arc::new(AtomicU64::new(0));
    let written = Arc::new(AtomicBool::new(false));
    let taken_when_written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (taken, written, at) = (taken.clone(), written.clone(), taken_when_written.clone());
        std::thread::spawn(move || {
            let input = broadcast_session(n, read);
            for chunk in input.chunks(64 << 10) {
                stdin.write_all(chunk).expect("the node reads all input");
            }
            at.store(taken.load(Ordering::SeqCst), Ordering::SeqCst);
            written.store(true, Ordering::SeqCst);
            stdin
        })
    };
    let mut reader = BufReader::with_capacity(1 << 16, child.stdout.take().unwrap());
    let mut line = String::new();
    let mut acked = 0;
    let mut values = 0;
    let total = 2 + n + u64::from(read);
    for k in 0..total {
        each(k, pid);
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "the node ended after {k} replies");
        taken.store(k + 1, Ordering::SeqCst);
        if line.contains(r#""type":"broadcast_ok""#) {
            acked += 1;
        } else if line.contains(r#""type":"read_ok""#) {
            let start = line.find(r#""messages":["#).expect("messages") + 12;
            values = line[start..line.rfind(']').unwrap()].split(',').count() as u64;
        }
    }
    let stdin = writer.join().unwrap();
    assert!(written.load(Ordering::SeqCst));
    let peak = peak_rss(pid);
    drop(stdin);
    expect_end(&mut reader);
    let ended = reap(child);
    assert_eq!(ended.code, 0, "stderr: {}", ended.stderr);
    assert_eq!(acked, n, "every broadcast acknowledged");
    let taken_when_written = taken_when_written.load(Ordering::SeqCst);
    Session { peak, taken_when_written, read: values, took: started.elapsed() }
}

#[test]
fn a_broadcast_node_fed_a_million_values_while_its_reader_stalls_5_s_peaks_under_24_mib() {
    // The reader takes nothing for 5 s while the writer sends a million broadcasts as fast as
    // the pipe takes them. The node must stop reading once 4 MiB of replies wait (the writer
    // then blocks on the full pipe), and lose nothing once the reader resumes. (With the old
    // 64 MiB mark the node read all the input and buffered 75 MB of replies: 77 MiB peak.)
    let n = 1_000_000;
    let s = broadcast_session_run(n, true, |k, _| {
        if k == 0 {
            std::thread::sleep(Duration::from_secs(5));
        }
    });
    println!(
        "broadcast, 1,000,000 values, reader stalled 5 s: peak RSS {} in {:.1?}; the writer \
         finished after the reader had taken {} replies; the read returned {} values",
        mib(s.peak),
        s.took,
        s.taken_when_written,
        s.read
    );
    assert_eq!(s.read, n, "the read returns every value");
    assert!(s.taken_when_written > n / 2, "the node held the writer back");
    assert!(s.peak <= 24 * MIB, "peak {}", mib(s.peak));
}

#[test]
fn a_slow_reader_then_a_read_of_a_million_values_peaks_under_16_mib() {
    // A client that writes a million broadcasts as fast as the pipe takes them and reads the
    // replies as they come, but more slowly than the node writes them (at most a million
    // lines a second, as a scripting-language client would), then reads all the values: the
    // read's reply alone is 6.9 MB.
    let n = 1_000_000;
    let s = broadcast_session_run(n, true, |k, _| {
        if k % 1000 == 999 {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    println!(
        "broadcast, 1,000,000 values to a slow reader, then a read of all: peak RSS {} in \
         {:.1?}; the writer finished after the reader had taken {} replies",
        mib(s.peak),
        s.took,
        s.taken_when_written,
    );
    assert_eq!(s.read, n, "the read returns every value");
    assert!(s.taken_when_written > n / 2, "the reader was slower: the node held the writer back");
    assert!(s.peak <= 16 * MIB, "peak {}", mib(s.peak));
}

#[test]
fn a_broadcast_node_holds_a_million_values_in_16_mib() {
    // One node, a topology, then a million broadcasts from one client, then a read that must
    // return all of them. The client keeps at most WINDOW requests unanswered, as real
    // clients do (Maelstrom's wait for each reply): this measures what the node's state costs
    // (a bit a value in the seen set; a one-node cluster keeps no ring), not an output backlog.
    const WINDOW: u64 = 10_000;
    let n: u64 = 1_000_000;
    let started = Instant::now();
    let mut child = spawn(BROADCAST);
    let pid = child.id();
    let mut stdin = child.stdin.take().unwrap();
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let seen = answered.clone();
    let writer = std::thread::spawn(move || {
        let mut buf = Vec::with_capacity(1 << 20);
        writeln!(buf, "{}", init("n0")).unwrap();
        writeln!(
            buf,
            r#"{{"src":"c1","dest":"n0","body":{{"type":"topology","msg_id":1,"topology":{{"n0":[]}}}}}}"#
        )
        .unwrap();
        for i in 0..n {
            writeln!(
                buf,
                r#"{{"src":"c1","dest":"n0","body":{{"type":"broadcast","msg_id":{},"message":{i}}}}}"#,
                i + 2
            )
            .unwrap();
            if buf.len() >= 64 << 10 {
                stdin.write_all(&buf).unwrap();
                buf.clear();
                while i + 1 > seen.load(std::sync::atomic::Ordering::Relaxed) + WINDOW {
                    std::thread::yield_now();
                }
            }
        }
        writeln!(buf, r#"{{"src":"c1","dest":"n0","body":{{"type":"read","msg_id":{}}}}}"#, n + 2)
            .unwrap();
        stdin.write_all(&buf).unwrap();
        stdin
    });
    let mut reader = BufReader::with_capacity(1 << 16, child.stdout.take().unwrap());
    let mut line = String::new();
    let mut acked = 0;
    // The read is the last request; its reply the last line.
    let read = loop {
        line.clear();
        if reader.read_line(&mut line).unwrap() == 0 {
            panic!("the node ended before answering the read ({acked} broadcasts acknowledged)");
        }
        if line.contains(r#""type":"broadcast_ok""#) {
            acked += 1;
            answered.store(acked, std::sync::atomic::Ordering::Relaxed);
        } else if line.contains(&format!(r#""in_reply_to":{}"#, n + 2)) {
            break std::mem::take(&mut line);
        }
    };
    let stdin = writer.join().unwrap();
    let peak = peak_rss(pid);
    drop(stdin);
    let ended = reap(child);
    assert_eq!(ended.code, 0, "stderr: {}", ended.stderr);
    assert_eq!(acked, n, "every broadcast acknowledged");
    assert!(read.contains(r#""type":"read_ok""#), "{read:.200}");
    let start = read.find(r#""messages":["#).expect("messages") + 12;
    let values = read[start..read.rfind(']').unwrap()].split(',').count() as u64;
    assert_eq!(values, n, "the read returns every value");
    println!("broadcast, 1,000,000 values: peak RSS {} in {:.1?}", mib(peak), started.elapsed());
    assert!(peak <= 16 * MIB, "peak {}", mib(peak));
}
