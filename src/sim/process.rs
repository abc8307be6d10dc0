//! Process mode: real node binaries over pipes, in real time, driven by one mio loop.
//!
//! Each node is one child process, `<canonical path of --bin> <args...>`, started in the
//! system temp directory with stdin, stdout and stderr piped, as Maelstrom does. The engine
//! calls [`Backend::wait`] with its next deadline; this backend sleeps in `epoll` until that
//! deadline or until a node prints something, and answers with the real time since the
//! nodes were spawned (so the engine's t=0 is spawn time). Nothing is assumed about a node
//! beyond the Maelstrom protocol: lines of JSON on stdin and stdout, logs on stderr.
//!
//! Policies:
//!
//! - **Input is never dropped and the loop never blocks.** [`Backend::deliver`] appends the
//!   line and a newline to the node's stdin queue and writes as much as the pipe takes; the
//!   rest goes out when the pipe is writable again. One exception, a node that stops reading:
//!   once its queue holds more than [`Limits::stdin_cap`] bytes, further messages to it are
//!   discarded, counted and reported (Maelstrom would queue them in memory forever).
//! - **A closed stdin** (EPIPE: the node exited or closed it) never stops the bench: the
//!   queue is discarded, later messages are counted as lost, and the node is reported. Rust
//!   programs ignore SIGPIPE, so the write just fails.
//! - **stdout** is read without blocking into a [`Framer`]; complete lines go to the engine,
//!   which validates them as Maelstrom does. A line longer than [`Limits::max_line`] cannot
//!   be held: the engine is handed a marker line instead, which fails its validation, so the
//!   node is reported exactly like one that printed an invalid line. Reads take at most
//!   [`READ_BUDGET`] bytes per node per turn so one chatty node cannot starve the others.
//! - **EOF on stdout** (the node exited mid-run): its unterminated last line, if any, is
//!   handed on, and the test goes on without it; its messages are lost.
//! - **stderr** goes to the node's log ([`Backend::take_logs`]), echoed to our stderr with a
//!   `[n3] ` prefix under `--log-stderr`. The log keeps the first [`Limits::log_cap`] bytes
//!   and counts the rest.
//! - **Stopping** ([`Backend::stop`]): a node that has already exited is reported as
//!   "crashed with exit status N", a fatal fault (Maelstrom's teardown throws and the test
//!   errors, exit 255); every other node is killed with SIGKILL (Maelstrom's
//!   `destroyForcibly`) and reaped. Only the child itself is killed, as in Maelstrom: a node
//!   that is a wrapper script should `exec` its real program.
//! - **Timing**: on Linux, deadlines are kept with a `timerfd` registered in the same poll,
//!   so the loop wakes within microseconds of a deadline; `epoll_wait`'s own timeout only has
//!   millisecond resolution (mio rounds it up), which would make every wake up to 1 ms late
//!   and slow the generator down at high rates. Elsewhere the millisecond timeout is used.

use std::io::{self, ErrorKind, Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use mio::unix::pipe::{Receiver, Sender};
use mio::{Events, Interest, Poll, Token};

use super::engine::{Backend, BackendFault};
use crate::driver::framer::{Frame, Framer};
use crate::time::Instant;

/// Most bytes read from one node's stdout or stderr per turn of the loop (1 MiB).
pub const READ_BUDGET: usize = 1 << 20;

/// Tokens: node `i` has `3i` (stdin), `3i + 1` (stdout), `3i + 2` (stderr).
const TIMER: Token = Token(usize::MAX);

/// Memory bounds of the process backend, per node.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Longest stdout line accepted from a node (bytes, without the newline).
    pub max_line: usize,
    /// stderr bytes kept in a node's log; the rest is counted and dropped.
    pub log_cap: usize,
    /// Bytes that may wait in a node's stdin queue before further messages are discarded.
    pub stdin_cap: usize,
}

impl Default for Limits {
    /// 64 MiB lines, 16 MiB of log and a 64 MiB stdin backlog per node.
    fn default() -> Self {
        Limits { max_line: 64 << 20, log_cap: 16 << 20, stdin_cap: 64 << 20 }
    }
}

/// Real node processes, one per node, driven by one thread.
pub struct Processes {
    poll: Poll,
    events: Events,
    /// Time zero of the run: just before the first node was spawned.
    epoch: std::time::Instant,
    nodes: Vec<NodeProc>,
    /// Complete stdout lines not yet taken by the engine.
    output: Vec<(usize, Vec<u8>)>,
    /// Reused stderr read buffer.
    scratch: Vec<u8>,
    /// Reused buffer for `--log-stderr` echoes.
    echo: Vec<u8>,
    log_stderr: bool,
    limits: Limits,
    /// Sub-millisecond wake-ups (Linux); `None` falls back to epoll's millisecond timeout.
    timer: Option<timer::Timer>,
    /// The deadline the timer is armed for.
    armed: Option<Instant>,
    /// Set by [`Backend::stop`]; `Drop` kills whatever is left otherwise.
    stopped: bool,
}

/// One node's process and its pipes.
struct NodeProc {
    name: String,
    child: Child,
    /// `None` once the pipe broke (the node exited or closed its stdin).
    stdin: Option<Sender>,
    /// `None` after EOF.
    stdout: Option<Receiver>,
    /// `None` after EOF.
    stderr: Option<Receiver>,
    /// Edge-triggered readiness, cleared on `WouldBlock`.
    stdin_ready: bool,
    stdout_ready: bool,
    stderr_ready: bool,
    framer: Framer,
    /// Bytes waiting for stdin. Invariant: `written <= queue.len()`.
    queue: Vec<u8>,
    /// Bytes of `queue` already written.
    written: usize,
    /// Messages discarded because stdin was closed or the queue was full.
    lost: u64,
    /// When and why stdin stopped taking input.
    stdin_closed: Option<(Instant, String)>,
    /// When the queue first overflowed.
    overflowed: Option<Instant>,
    /// When stdout reached EOF.
    stdout_eof: Option<Instant>,
    log: Vec<u8>,
    /// stderr bytes past the log cap.
    log_dropped: u64,
    /// The next stderr byte starts a line (for the echo prefix).
    err_at_line_start: bool,
}

impl NodeProc {
    fn backlog(&self) -> usize {
        self.queue.len() - self.written
    }
}

impl Processes {
    /// Spawns one process per node: `nodes[i]` runs `bin args...` (with the default
    /// [`Limits`]). `log_stderr` echoes node stderr to ours, line by line, prefixed.
    pub fn spawn(
        bin: &Path,
        args: &[String],
        nodes: &[String],
        log_stderr: bool,
    ) -> io::Result<Processes> {
        Processes::spawn_with(bin, args, nodes, log_stderr, Limits::default())
    }

    /// [`Processes::spawn`] with explicit memory bounds.
    pub fn spawn_with(
        bin: &Path,
        args: &[String],
        nodes: &[String],
        log_stderr: bool,
        limits: Limits,
    ) -> io::Result<Processes> {
        let exe = std::fs::canonicalize(bin)?;
        let dir = std::env::temp_dir();
        let poll = Poll::new()?;
        let timer = timer::Timer::new().ok();
        if let Some(t) = &timer {
            t.register(&poll, TIMER)?;
        }
        let mut procs = Processes {
            poll,
            events: Events::with_capacity(256),
            epoch: std::time::Instant::now(),
            nodes: Vec::with_capacity(nodes.len()),
            output: Vec::new(),
            scratch: vec![0; 64 << 10],
            echo: Vec::new(),
            log_stderr,
            limits,
            timer,
            armed: None,
            stopped: false,
        };
        for (i, name) in nodes.iter().enumerate() {
            // On error, dropping `procs` kills the nodes already started.
            let child = Command::new(&exe)
                .args(args)
                .current_dir(&dir)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()?;
            procs.adopt(i, name, child)?;
        }
        Ok(procs)
    }

    /// Takes ownership of node `i`'s child: non-blocking pipes registered with the poll.
    fn adopt(&mut self, i: usize, name: &str, mut child: Child) -> io::Result<()> {
        let pipes = child.stdin.take().zip(child.stdout.take()).zip(child.stderr.take());
        let mut proc = NodeProc {
            name: name.to_owned(),
            child,
            stdin: None,
            stdout: None,
            stderr: None,
            stdin_ready: true,
            stdout_ready: true,
            stderr_ready: true,
            framer: Framer::new(self.limits.max_line),
            queue: Vec::new(),
            written: 0,
            lost: 0,
            stdin_closed: None,
            overflowed: None,
            stdout_eof: None,
            log: Vec::new(),
            log_dropped: 0,
            err_at_line_start: true,
        };
        let Some(((stdin, stdout), stderr)) = pipes else {
            // Cannot happen: all three were configured as pipes. Kill rather than leak.
            kill_and_reap(&mut proc.child);
            return Err(io::Error::other("a spawned node has no pipes"));
        };
        let (mut stdin, mut stdout, mut stderr) =
            (Sender::from(stdin), Receiver::from(stdout), Receiver::from(stderr));
        let reg = self.poll.registry();
        let setup = (|| {
            stdin.set_nonblocking(true)?;
            stdout.set_nonblocking(true)?;
            stderr.set_nonblocking(true)?;
            reg.register(&mut stdin, Token(3 * i), Interest::WRITABLE)?;
            reg.register(&mut stdout, Token(3 * i + 1), Interest::READABLE)?;
            reg.register(&mut stderr, Token(3 * i + 2), Interest::READABLE)
        })();
        if let Err(e) = setup {
            kill_and_reap(&mut proc.child);
            return Err(e);
        }
        proc.stdin = Some(stdin);
        proc.stdout = Some(stdout);
        proc.stderr = Some(stderr);
        self.nodes.push(proc);
        Ok(())
    }

    fn now(&self) -> Instant {
        Instant::from_micros(u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX))
    }

    /// Does every I/O the readiness flags allow (bounded per node). Returns whether some
    /// ready pipe still has work (the caller must not sleep).
    fn pump(&mut self) -> bool {
        let mut more = false;
        for i in 0..self.nodes.len() {
            if self.nodes[i].stdin_ready && self.nodes[i].backlog() > 0 {
                self.flush(i);
            }
            if self.nodes[i].stdout_ready {
                self.read_stdout(i);
            }
            if self.nodes[i].stderr_ready {
                self.read_stderr(i);
            }
            let n = &self.nodes[i];
            more |= n.stdout_ready || n.stderr_ready || (n.stdin_ready && n.backlog() > 0);
        }
        more
    }

    /// Writes node `i`'s queue until it is empty or the pipe is full.
    fn flush(&mut self, i: usize) {
        let now = self.now();
        let n = &mut self.nodes[i];
        while n.written < n.queue.len() && n.stdin_ready {
            let Some(stdin) = &mut n.stdin else { return };
            match stdin.write(&n.queue[n.written..]) {
                Ok(0) => close_stdin(&self.poll, n, now, "stdin accepted no bytes".into()),
                Ok(k) => n.written += k,
                Err(e) if e.kind() == ErrorKind::WouldBlock => n.stdin_ready = false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => close_stdin(&self.poll, n, now, format!("stdin write failed: {e}")),
            }
        }
        if n.written == n.queue.len() {
            n.queue.clear();
            n.written = 0;
        } else if n.written > (1 << 20) && n.written * 2 > n.queue.len() {
            // Reclaim the written prefix so the queue does not creep.
            n.queue.drain(..n.written);
            n.written = 0;
        }
    }

    /// Reads node `i`'s stdout (up to [`READ_BUDGET`]) and queues its complete lines.
    fn read_stdout(&mut self, i: usize) {
        let now = self.now();
        let mut budget = READ_BUDGET;
        let max_line = self.limits.max_line;
        let n = &mut self.nodes[i];
        while n.stdout_ready {
            if budget == 0 {
                return; // Still ready: the next turn goes on.
            }
            let Some(stdout) = &mut n.stdout else {
                n.stdout_ready = false;
                return;
            };
            let spare = n.framer.spare();
            let want = spare.len().min(budget);
            match stdout.read(&mut spare[..want]) {
                Ok(0) => {
                    n.stdout_ready = false;
                    n.stdout_eof = Some(now);
                    if let Some(mut s) = n.stdout.take() {
                        // Best effort: the fd is closed on drop, which also unregisters it.
                        let _ = self.poll.registry().deregister(&mut s);
                    }
                    if let Some(frame) = n.framer.finish() {
                        push_frame(&mut self.output, i, frame, max_line);
                    }
                }
                Ok(k) => {
                    budget = budget.saturating_sub(k);
                    n.framer.commit(k);
                    while let Some(frame) = n.framer.next_line() {
                        push_frame(&mut self.output, i, frame, max_line);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => n.stdout_ready = false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    // An unreadable stdout is as good as closed.
                    let _ = writeln!(n.log, "[glomers: reading stdout failed: {e}]");
                    n.stdout_ready = false;
                    n.stdout_eof = Some(now);
                    if let Some(mut s) = n.stdout.take() {
                        let _ = self.poll.registry().deregister(&mut s);
                    }
                }
            }
        }
    }

    /// Reads node `i`'s stderr (up to [`READ_BUDGET`]) into its log, echoing if asked.
    fn read_stderr(&mut self, i: usize) {
        let mut budget = READ_BUDGET;
        let n = &mut self.nodes[i];
        while n.stderr_ready {
            if budget == 0 {
                return;
            }
            let Some(stderr) = &mut n.stderr else {
                n.stderr_ready = false;
                return;
            };
            match stderr.read(&mut self.scratch) {
                Ok(0) => {
                    n.stderr_ready = false;
                    if let Some(mut s) = n.stderr.take() {
                        let _ = self.poll.registry().deregister(&mut s);
                    }
                }
                Ok(k) => {
                    budget = budget.saturating_sub(k);
                    let chunk = &self.scratch[..k];
                    let room = self.limits.log_cap.saturating_sub(n.log.len());
                    let keep = room.min(k);
                    n.log.extend_from_slice(&chunk[..keep]);
                    n.log_dropped += (k - keep) as u64;
                    if self.log_stderr {
                        echo_lines(&mut self.echo, &n.name, &mut n.err_at_line_start, chunk);
                        // Our stderr is best effort: failing to echo must not stop the test.
                        let _ = io::stderr().write_all(&self.echo);
                        self.echo.clear();
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => n.stderr_ready = false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = writeln!(n.log, "[glomers: reading stderr failed: {e}]");
                    n.stderr_ready = false;
                    if let Some(mut s) = n.stderr.take() {
                        let _ = self.poll.registry().deregister(&mut s);
                    }
                }
            }
        }
    }

    /// Sleeps in epoll for at most `timeout` (`None`: until something happens) and records
    /// which pipes became ready.
    fn poll_once(&mut self, timeout: Option<Duration>, deadline: Option<Instant>) {
        // A precise wake-up for a deadline that epoll's millisecond timeout would overshoot.
        if let (Some(timer), Some(at)) = (&self.timer, deadline) {
            if timeout.is_some_and(|t| !t.is_zero()) && self.armed != Some(at) {
                let now = self.now();
                if timer.arm(at.saturating_since(now)).is_ok() {
                    self.armed = Some(at);
                }
            }
        }
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            // EINTR: the caller loops.
            Err(e) if e.kind() == ErrorKind::Interrupted => return,
            // Anything else (ENOMEM) is transient at best: back off a little rather than spin;
            // the caller loops and the engine's deadlines stay in force.
            Err(_) => {
                std::thread::sleep(Duration::from_millis(1));
                return;
            }
        }
        for ev in self.events.iter() {
            let t = ev.token();
            if t == TIMER {
                self.armed = None;
                if let Some(timer) = &self.timer {
                    timer.clear();
                }
                continue;
            }
            let Some(n) = self.nodes.get_mut(t.0 / 3) else { continue };
            match t.0 % 3 {
                0 => n.stdin_ready = true,
                1 => n.stdout_ready = true,
                _ => n.stderr_ready = true,
            }
        }
    }

    /// Kills and reaps every node still running; returns the faults.
    fn shutdown(&mut self) -> Vec<BackendFault> {
        // Collect what is already readable (a crashed node's last stderr words).
        self.poll_once(Some(Duration::ZERO), None);
        self.pump();
        let now = self.now();
        let mut faults = Vec::new();
        let mut exited = Vec::with_capacity(self.nodes.len());
        for n in &mut self.nodes {
            let status = n.child.try_wait().ok().flatten();
            if status.is_none() {
                // Already gone (ESRCH) is fine: the wait below reaps it.
                let _ = n.child.kill();
            }
            exited.push(status);
        }
        for n in &mut self.nodes {
            // A SIGKILLed child exits at once; the wait only reaps it.
            let _ = n.child.wait();
        }
        // The nodes are gone: whatever they wrote to stderr is readable now.
        for n in &mut self.nodes {
            n.stderr_ready = n.stderr.is_some();
            n.stdout_ready = false;
        }
        self.pump();
        self.output.clear();
        for (i, status) in exited.into_iter().enumerate() {
            let n = &mut self.nodes[i];
            let lost = match n.lost {
                0 => String::new(),
                1 => "; 1 message to it was lost".to_owned(),
                k => format!("; {k} messages to it were lost"),
            };
            if let Some(status) = status {
                faults.push(BackendFault {
                    node: i,
                    at: n.stdout_eof.unwrap_or(now),
                    reason: format!("crashed with {}{lost}{}", describe(status), last_line(&n.log)),
                    fatal: true,
                });
                continue;
            }
            if let Some(t) = n.stdout_eof {
                faults.push(BackendFault {
                    node: i,
                    at: t,
                    reason: "closed its stdout but kept running".into(),
                    fatal: false,
                });
            }
            if let Some(t) = n.overflowed {
                faults.push(BackendFault {
                    node: i,
                    at: t,
                    reason: format!(
                        "stopped reading stdin: its queue passed {} bytes{lost}",
                        self.limits.stdin_cap
                    ),
                    fatal: false,
                });
            } else if let Some((t, why)) = &n.stdin_closed {
                faults.push(BackendFault {
                    node: i,
                    at: *t,
                    reason: format!("{why}{lost}"),
                    fatal: false,
                });
            }
        }
        for n in &mut self.nodes {
            if n.log_dropped > 0 {
                let note = format!("\n[glomers: {} more bytes of stderr dropped]\n", n.log_dropped);
                n.log.extend_from_slice(note.as_bytes());
                n.log_dropped = 0;
            }
        }
        self.stopped = true;
        faults
    }
}

impl Backend for Processes {
    fn is_virtual(&self) -> bool {
        false
    }

    fn deliver(&mut self, now: Instant, node: usize, line: &[u8]) {
        let cap = self.limits.stdin_cap;
        let n = &mut self.nodes[node];
        if n.stdin.is_none() {
            n.lost += 1;
            return;
        }
        if n.backlog() + line.len() + 1 > cap && n.backlog() > 0 {
            n.lost += 1;
            n.overflowed.get_or_insert(now);
            return;
        }
        n.queue.extend_from_slice(line);
        n.queue.push(b'\n');
        if n.stdin_ready {
            self.flush(node);
        }
    }

    fn next_timer(&self) -> Option<Instant> {
        None
    }

    fn fire_timers(&mut self, _: Instant) {}

    fn wait(&mut self, until: Option<Instant>) -> Instant {
        let mut polled = false;
        loop {
            let more = self.pump();
            let now = self.now();
            let due = until.is_some_and(|u| now >= u);
            if !self.output.is_empty() || (polled && due) {
                return now;
            }
            let timeout = if more || due { Some(Duration::ZERO) } else { until.map(|u| u - now) };
            self.poll_once(timeout, until);
            polled = true;
        }
    }

    fn take_output(&mut self, sink: &mut Vec<(usize, Vec<u8>)>) {
        sink.append(&mut self.output);
    }

    fn take_logs(&mut self, logs: &mut [Vec<u8>]) {
        for (n, log) in self.nodes.iter_mut().zip(logs.iter_mut()) {
            log.append(&mut n.log);
        }
    }

    fn stop(&mut self) -> Vec<BackendFault> {
        if self.stopped {
            return Vec::new();
        }
        self.shutdown()
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        if !self.stopped {
            for n in &mut self.nodes {
                kill_and_reap(&mut n.child);
            }
        }
    }
}

fn kill_and_reap(child: &mut Child) {
    // Errors mean the child is already dead or reaped; either way nothing is left to do.
    let _ = child.kill();
    let _ = child.wait();
}

/// Gives up on node `n`'s stdin: drops the pipe and counts the unwritten messages as lost.
fn close_stdin(poll: &Poll, n: &mut NodeProc, now: Instant, why: String) {
    if let Some(mut s) = n.stdin.take() {
        let _ = poll.registry().deregister(&mut s);
    }
    n.lost += memchr::memchr_iter(b'\n', &n.queue[n.written..]).count() as u64;
    n.queue.clear();
    n.written = 0;
    n.stdin_ready = false;
    n.stdin_closed.get_or_insert((now, why));
}

/// Queues a framed stdout line for the engine. An over-long line becomes a marker that is
/// not JSON, so the engine reports the node as it would for any invalid line.
fn push_frame(output: &mut Vec<(usize, Vec<u8>)>, node: usize, frame: Frame<'_>, max: usize) {
    match frame {
        Frame::Line { buf, len } => output.push((node, buf[..len].to_vec())),
        Frame::Skipped { dropped } => output.push((
            node,
            format!("<a stdout line of {dropped} bytes, over the bench's bound of {max}>")
                .into_bytes(),
        )),
    }
}

/// Appends `chunk` to `out` with `[name] ` at the start of every line.
fn echo_lines(out: &mut Vec<u8>, name: &str, at_line_start: &mut bool, chunk: &[u8]) {
    for piece in chunk.split_inclusive(|&b| b == b'\n') {
        if *at_line_start {
            out.push(b'[');
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"] ");
        }
        out.extend_from_slice(piece);
        *at_line_start = piece.last() == Some(&b'\n');
    }
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(s)) => format!("signal {s}"),
        (None, None) => status.to_string(),
    }
}

/// `"; last stderr line: ..."` for a crash report, or nothing.
fn last_line(log: &[u8]) -> String {
    let Some(line) = log.trim_ascii_end().rsplit(|&b| b == b'\n').next() else {
        return String::new();
    };
    if line.is_empty() {
        return String::new();
    }
    let line = &line[..line.len().min(300)];
    format!("; last stderr line: {}", String::from_utf8_lossy(line).trim_end())
}

/// Precise wake-ups: a `timerfd` registered in the poll (Linux only).
#[cfg(target_os = "linux")]
mod timer {
    use std::fs::File;
    use std::io::{self, Read};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::time::Duration;

    use mio::unix::SourceFd;
    use mio::{Interest, Poll, Token};

    /// A one-shot monotonic timer whose expiry makes its fd readable.
    pub(super) struct Timer {
        file: File,
    }

    impl Timer {
        pub(super) fn new() -> io::Result<Timer> {
            // SAFETY: a plain system call with constant arguments; it returns a new
            // descriptor or -1 and touches no memory of ours.
            let fd = unsafe {
                libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC)
            };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `fd` was just created and nothing else owns it.
            let owned = unsafe { OwnedFd::from_raw_fd(fd) };
            Ok(Timer { file: File::from(owned) })
        }

        pub(super) fn register(&self, poll: &Poll, token: Token) -> io::Result<()> {
            poll.registry().register(
                &mut SourceFd(&self.file.as_raw_fd()),
                token,
                Interest::READABLE,
            )
        }

        /// Arms the timer to expire once, `after` from now (re-arming replaces the old expiry).
        pub(super) fn arm(&self, after: Duration) -> io::Result<()> {
            // A zero expiry would disarm the timer: fire after a nanosecond instead.
            let after = after.max(Duration::from_nanos(1));
            let spec = libc::itimerspec {
                it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 },
                it_value: libc::timespec {
                    tv_sec: libc::time_t::try_from(after.as_secs()).unwrap_or(libc::time_t::MAX),
                    // Below 1e9, so it fits every `c_long`.
                    tv_nsec: after.subsec_nanos().into(),
                },
            };
            // SAFETY: the descriptor is ours and open; `spec` lives across the call; a null
            // old-value pointer is allowed.
            let r = unsafe {
                libc::timerfd_settime(self.file.as_raw_fd(), 0, &spec, std::ptr::null_mut())
            };
            if r < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
        }

        /// Consumes an expiry so the fd is no longer readable.
        pub(super) fn clear(&self) {
            let mut ticks = [0u8; 8];
            // WouldBlock (nothing to consume) is fine.
            let _ = (&self.file).read(&mut ticks);
        }
    }
}

/// Elsewhere: no precise timer; epoll's (or kqueue's) timeout is used alone.
#[cfg(not(target_os = "linux"))]
mod timer {
    use std::io;
    use std::time::Duration;

    use mio::{Poll, Token};

    /// Never constructed.
    pub(super) enum Timer {}

    impl Timer {
        pub(super) fn new() -> io::Result<Timer> {
            Err(io::Error::from(io::ErrorKind::Unsupported))
        }
        pub(super) fn register(&self, _: &Poll, _: Token) -> io::Result<()> {
            match *self {}
        }
        pub(super) fn arm(&self, _: Duration) -> io::Result<()> {
            match *self {}
        }
        pub(super) fn clear(&self) {
            match *self {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `script` under `/bin/sh -c` as each of `nodes`.
    fn sh(script: &str, nodes: &[&str], limits: Limits) -> Processes {
        let names: Vec<String> = nodes.iter().map(|n| (*n).to_owned()).collect();
        let args = ["-c".to_owned(), script.to_owned()];
        Processes::spawn_with(Path::new("/bin/sh"), &args, &names, false, limits)
            .expect("/bin/sh starts")
    }

    /// Waits (up to 10 s) until `done` holds, collecting output lines.
    fn wait_for(
        p: &mut Processes,
        out: &mut Vec<(usize, Vec<u8>)>,
        mut done: impl FnMut(&Processes, &[(usize, Vec<u8>)]) -> bool,
    ) {
        let give_up = p.now() + Duration::from_secs(10);
        while !done(p, out) {
            let now = p.now();
            assert!(now < give_up, "timed out; got {} lines", out.len());
            p.wait(Some(now + Duration::from_millis(50)));
            p.take_output(out);
        }
    }

    fn text(line: &[u8]) -> &str {
        std::str::from_utf8(line).expect("test output is UTF-8")
    }

    #[test]
    fn lines_go_both_ways_and_stderr_is_logged() {
        let script = r#"while IFS= read -r l; do echo "$l"; echo "saw $l" >&2; done"#;
        let mut p = sh(script, &["n0", "n1"], Limits::default());
        p.deliver(p.now(), 0, b"{\"to\":0}");
        p.deliver(p.now(), 1, b"{\"to\":1}");
        p.deliver(p.now(), 1, b"{\"again\":1}");
        let mut out = Vec::new();
        wait_for(&mut p, &mut out, |_, o| o.len() == 3);
        out.sort();
        let got: Vec<(usize, &str)> = out.iter().map(|(n, l)| (*n, text(l))).collect();
        assert_eq!(got, [(0, "{\"to\":0}"), (1, "{\"again\":1}"), (1, "{\"to\":1}")]);
        wait_for(&mut p, &mut out, |p, _| {
            p.nodes[0].log.ends_with(b"\n") && p.nodes[1].log.ends_with(b"saw {\"again\":1}\n")
        });
        assert!(p.stop().is_empty(), "killed nodes are not faults");
        let mut logs = vec![Vec::new(), Vec::new()];
        p.take_logs(&mut logs);
        assert_eq!(text(&logs[0]), "saw {\"to\":0}\n");
        assert_eq!(text(&logs[1]), "saw {\"to\":1}\nsaw {\"again\":1}\n");
    }

    #[test]
    fn a_node_that_exits_is_a_fatal_crash_and_writing_to_it_is_harmless() {
        let mut p = sh("read l; echo 'last words' >&2; exit 3", &["n0"], Limits::default());
        p.deliver(p.now(), 0, b"{}");
        let mut out = Vec::new();
        wait_for(&mut p, &mut out, |p, _| p.nodes[0].stdout_eof.is_some());
        // The pipe is broken now (EPIPE): every write fails, none may bring the bench down.
        let big = vec![b'x'; 10_000];
        for _ in 0..100 {
            p.deliver(p.now(), 0, &big);
        }
        let faults = p.stop();
        assert_eq!(faults.len(), 1, "{faults:?}");
        let f = &faults[0];
        assert!(f.fatal);
        assert!(f.reason.starts_with("crashed with exit status 3"), "{}", f.reason);
        assert!(f.reason.contains("last stderr line: last words"), "{}", f.reason);
        assert!(f.reason.contains("to it were lost"), "{}", f.reason);
    }

    #[test]
    fn an_over_long_line_becomes_an_invalid_marker_and_framing_recovers() {
        let limits = Limits { max_line: 1000, ..Limits::default() };
        let script = "head -c 5000 /dev/zero | tr '\\0' x; echo; echo '{\"ok\":1}'; exec sleep 30";
        let mut p = sh(script, &["n0"], limits);
        let mut out = Vec::new();
        wait_for(&mut p, &mut out, |_, o| o.len() == 2);
        assert_eq!(
            text(&out[0].1),
            "<a stdout line of 5000 bytes, over the bench's bound of 1000>"
        );
        assert_eq!(text(&out[1].1), "{\"ok\":1}");
        assert!(p.stop().is_empty());
    }

    #[test]
    fn the_log_keeps_its_cap_and_counts_the_rest() {
        let limits = Limits { log_cap: 100, ..Limits::default() };
        let script = "head -c 1000 /dev/zero | tr '\\0' e >&2; echo done; exec sleep 30";
        let mut p = sh(script, &["n0"], limits);
        let mut out = Vec::new();
        wait_for(&mut p, &mut out, |p, o| o.len() == 1 && p.nodes[0].log_dropped == 900);
        assert!(p.stop().is_empty());
        let mut logs = vec![Vec::new()];
        p.take_logs(&mut logs);
        let want = format!("{}\n[glomers: 900 more bytes of stderr dropped]\n", "e".repeat(100));
        assert_eq!(text(&logs[0]), want);
    }

    #[test]
    fn a_slow_reader_gets_everything_in_order_and_deliver_never_blocks() {
        // The node reads nothing for 2 s: the pipe fills and the rest must queue.
        let mut p = sh("sleep 2; exec cat", &["n0"], Limits::default());
        let started = std::time::Instant::now();
        let payload = "y".repeat(1000);
        for k in 0..4000 {
            p.deliver(p.now(), 0, format!("{k} {payload}").as_bytes());
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "4 MB to a node that is not reading took {:?}: deliver blocked",
            started.elapsed()
        );
        assert!(p.nodes[0].backlog() > 1 << 20, "most of it is queued");
        let mut out = Vec::new();
        wait_for(&mut p, &mut out, |_, o| o.len() == 4000);
        for (k, (_, line)) in out.iter().enumerate() {
            assert!(text(line).starts_with(&format!("{k} y")), "line {k} out of order");
        }
        assert!(p.stop().is_empty());
    }

    #[test]
    fn a_node_that_stops_reading_is_capped_and_reported() {
        let limits = Limits { stdin_cap: 10_000, ..Limits::default() };
        let mut p = sh("exec sleep 30", &["n0"], limits);
        let line = vec![b'z'; 99];
        for _ in 0..5000 {
            p.deliver(p.now(), 0, &line);
        }
        assert!(p.nodes[0].backlog() <= 10_000);
        let faults = p.stop();
        assert_eq!(faults.len(), 1, "{faults:?}");
        assert!(!faults[0].fatal);
        assert!(faults[0].reason.starts_with("stopped reading stdin"), "{}", faults[0].reason);
    }

    #[test]
    fn echo_prefixes_every_line_across_chunks() {
        let mut out = Vec::new();
        let mut start = true;
        echo_lines(&mut out, "n3", &mut start, b"one\ntw");
        echo_lines(&mut out, "n3", &mut start, b"o\n\nthree");
        assert_eq!(text(&out), "[n3] one\n[n3] two\n[n3] \n[n3] three");
        assert!(!start);
    }

    #[test]
    fn missing_binaries_are_errors() {
        let names = ["n0".to_owned()];
        assert!(Processes::spawn(Path::new("/nonexistent/node"), &[], &names, false).is_err());
        // A file that is not executable.
        let dir = std::env::temp_dir();
        let f = dir.join(format!("glomers-not-executable-{}", std::process::id()));
        std::fs::write(&f, "not a program").expect("temp dir is writable");
        assert!(Processes::spawn(&f, &[], &names, false).is_err());
        let _ = std::fs::remove_file(&f);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn wait_wakes_close_to_its_deadline() {
        // epoll alone rounds each 1.1 ms wait up to 2 ms: every wake-up at least 0.9 ms late.
        // A busy machine only adds delay, so the fastest tenth of the wake-ups tells the two
        // apart even when other tests compete for the cores.
        let mut p = sh("exec sleep 30", &["n0"], Limits::default());
        let mut late = Vec::new();
        for _ in 0..200 {
            let until = p.now() + Duration::from_micros(1100);
            let woke = p.wait(Some(until));
            assert!(woke >= until, "wait returned early with no output");
            late.push(woke.as_micros() - until.as_micros());
        }
        late.sort_unstable();
        assert!(late[20] < 450, "10th percentile lateness {} us (median {})", late[20], late[100]);
        assert!(p.stop().is_empty());
    }
}
