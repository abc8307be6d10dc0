//! The real-world driver: one thread, mio readiness on stdin and stdout, a node in between.
//!
//! The loop reads stdin without blocking into a [`framer::Framer`], hands each line to the
//! node with the current time, fires due timers, and writes the node's output to stdout
//! without blocking. Its policies:
//!
//! - **Input lines** are bounded by [`framer::DEFAULT_MAX_LINE`] (128 MiB); a longer line is
//!   logged to stderr and skipped.
//! - **Output is never dropped.** When stdout would block, the bytes stay queued and the loop
//!   waits for WRITABLE. While the output buffer holds more than [`OUT_HIGH_WATER`] bytes
//!   (queued bytes plus any already-written prefix not yet reclaimed: those pages are resident
//!   too) the loop stops reading stdin (timers still run), resuming below [`OUT_LOW_WATER`].
//!   Memory is therefore bounded by the input buffer, plus the high-water mark, plus the output
//!   of one input line or timer round. The marks are small (4 MiB and 2 MiB) because the
//!   pipes already buffer (256 KiB each way) and a reader that keeps up never lets the backlog
//!   near them; a stalled reader then costs 4 MiB, not a growing buffer. A buffer that one
//!   large output (a long line's reply) grew past [`OUT_SHRINK_ABOVE`] is given back once it
//!   has been written.
//! - **Pipes** on stdin and stdout are grown to [`PIPE_CAPACITY`] (256 KiB) when smaller, so
//!   the node and its peer process block on each other less often.
//! - **Timeouts** come from the node's timer wheel ([`Machine::poll_timeout`]).
//! - **stdin EOF**: the final unterminated line (if any) is handled, output is flushed, and
//!   the process exits 0. **A closed stdout** (EPIPE) ends the process with status 0.
//! - **Fallback:** if stdin or stdout cannot be registered with epoll (a regular file), that
//!   side uses plain blocking calls, which never block long on regular files. On that path
//!   timers fire between reads.

pub mod framer;

use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use self::framer::{DEFAULT_MAX_LINE, Frame, Framer};
use crate::node::{Machine, Output};
use crate::time::Instant;

/// Stop reading stdin while the output buffer spans more than this (4 MiB): about 70,000
/// short replies, sixteen times the pipe. Throughput does not need more (a reader that keeps
/// up keeps the backlog near zero), and a stalled reader costs no more than this.
pub const OUT_HIGH_WATER: usize = 4 << 20;
/// Resume reading stdin once the output buffer spans less than this (2 MiB): half the
/// high-water mark, so a paused node goes back to work as soon as the reader has taken the
/// first half (which `flush` then reclaims) rather than idling until the buffer is empty.
pub const OUT_LOW_WATER: usize = 2 << 20;
/// An output buffer with more capacity than this (16 MiB, from one large output) is shrunk to
/// [`OUT_HIGH_WATER`] once everything in it has been written.
pub const OUT_SHRINK_ABOVE: usize = 16 << 20;

const STDIN: Token = Token(0);
const STDOUT: Token = Token(1);

/// Driver settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Longest accepted input line in bytes.
    pub max_line: usize,
    /// Output backlog at which reading pauses.
    pub out_high_water: usize,
    /// Output backlog at which reading resumes.
    pub out_low_water: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_line: DEFAULT_MAX_LINE,
            out_high_water: OUT_HIGH_WATER,
            out_low_water: OUT_LOW_WATER,
        }
    }
}

/// How the driver ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Exit {
    /// stdin reached EOF and all output was written.
    Eof,
    /// stdout was closed by the reader.
    StdoutClosed,
}

/// Runs `machine` on this process's stdin and stdout until EOF. Returns how it ended;
/// errors are unexpected I/O failures (not EOF or EPIPE).
pub fn run(machine: &mut dyn Machine, config: &Config) -> io::Result<Exit> {
    // Duplicates so that dropping our handles never closes the process's fds 0 and 1.
    let stdin = dup_fd(io::stdin().as_fd())?;
    let stdout = dup_fd(io::stdout().as_fd())?;
    Driver::new(machine, config, stdin, stdout)?.run()
}

fn dup_fd(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<OwnedFd> {
    fd.try_clone_to_owned()
}

/// Convenience for the node binaries: run a workload on stdio and exit.
///
/// Ignores command-line words it does not know (they are passed to the workload), and exits
/// with status 0 on EOF or a closed stdout, 1 on an unexpected I/O error.
pub fn main_for<W: crate::node::Workload>() -> ! {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seed = std::env::var("GLOMERS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut node = crate::node::Node::<W>::new(args, seed);
    match run(&mut node, &Config::default()) {
        Ok(_) => std::process::exit(0),
        Err(e) => {
            eprintln!("glomers: I/O error: {e}");
            std::process::exit(1)
        }
    }
}

struct Driver<'m> {
    machine: &'m mut dyn Machine,
    config: Config,
    poll: Poll,
    stdin: std::fs::File,
    stdout: std::fs::File,
    /// stdin is registered with epoll (a pipe, socket or tty); otherwise reads may block.
    stdin_polled: bool,
    /// Edge-triggered readiness: stdin may have data (cleared on WouldBlock).
    stdin_ready: bool,
    /// Edge-triggered readiness: stdout may accept data (cleared on WouldBlock).
    stdout_ready: bool,
    stdin_eof: bool,
    /// Reading is paused because the output backlog crossed the high-water mark.
    paused: bool,
    framer: Framer,
    out: Output,
    /// Bytes of `out.msgs` already written. Invariant: `written <= out.msgs.len()`.
    written: usize,
    epoch: std::time::Instant,
}

impl<'m> Driver<'m> {
    fn new(
        machine: &'m mut dyn Machine,
        config: &Config,
        stdin: OwnedFd,
        stdout: OwnedFd,
    ) -> io::Result<Self> {
        let poll = Poll::new()?;
        grow_pipe(&stdin);
        grow_pipe(&stdout);
        let stdin_polled = set_nonblocking(&stdin)
            && poll
                .registry()
                .register(&mut SourceFd(&stdin.as_raw_fd()), STDIN, Interest::READABLE)
                .is_ok();
        if !stdin_polled {
            set_blocking(&stdin);
        }
        let stdout_polled = set_nonblocking(&stdout)
            && poll
                .registry()
                .register(&mut SourceFd(&stdout.as_raw_fd()), STDOUT, Interest::WRITABLE)
                .is_ok();
        if !stdout_polled {
            set_blocking(&stdout);
        }
        Ok(Driver {
            machine,
            config: config.clone(),
            poll,
            stdin: std::fs::File::from(stdin),
            stdout: std::fs::File::from(stdout),
            stdin_polled,
            stdin_ready: true,
            stdout_ready: true,
            stdin_eof: false,
            paused: false,
            framer: Framer::new(config.max_line),
            out: Output::default(),
            written: 0,
            epoch: std::time::Instant::now(),
        })
    }

    fn now(&self) -> Instant {
        Instant::from_micros(u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX))
    }

    fn backlog(&self) -> usize {
        self.out.msgs.len() - self.written
    }

    /// Bytes the output buffer spans: the backlog plus the written prefix `flush` has not
    /// reclaimed yet. This, not the backlog, is what is resident, so flow control uses it.
    fn out_extent(&self) -> usize {
        self.out.msgs.len()
    }

    fn run(mut self) -> io::Result<Exit> {
        let mut events = Events::with_capacity(16);
        loop {
            self.read_input()?;
            self.fire_timers();
            if self.flush()? {
                return Ok(Exit::StdoutClosed);
            }
            if self.stdin_eof && self.backlog() == 0 {
                return Ok(Exit::Eof);
            }
            // Work is left on our side without waiting: loop again at once.
            let can_read = self.stdin_ready && !self.stdin_eof && !self.paused;
            let can_write = self.stdout_ready && self.backlog() > 0;
            let timeout = if can_read || can_write {
                Some(Duration::ZERO)
            } else if self.stdin_eof {
                // Only flushing remains; timers no longer matter.
                None
            } else {
                self.machine.poll_timeout().map(|at| at.saturating_since(self.now()))
            };
            if !self.stdin_polled && !self.stdin_eof && !self.paused {
                // Blocking stdin: never sleep in epoll; the next read provides the wait.
                self.stdin_ready = true;
                if !can_write {
                    continue;
                }
            }
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            for ev in &events {
                match ev.token() {
                    STDIN => self.stdin_ready = true,
                    STDOUT => self.stdout_ready = true,
                    _ => {}
                }
            }
        }
    }

    /// Reads and handles input until stdin would block, hits EOF, or output backs up.
    fn read_input(&mut self) -> io::Result<()> {
        while self.stdin_ready && !self.stdin_eof {
            if self.paused {
                if self.out_extent() > self.config.out_low_water {
                    return Ok(());
                }
                self.paused = false;
            }
            if self.out_extent() > self.config.out_high_water {
                self.paused = true;
                return Ok(());
            }
            let spare = self.framer.spare();
            match self.stdin.read(spare) {
                Ok(0) => {
                    self.stdin_eof = true;
                    let now = self.now();
                    if let Some(frame) = self.framer.finish() {
                        handle_frame(self.machine, now, frame, &mut self.out);
                    }
                    self.drain_log();
                }
                Ok(n) => {
                    self.framer.commit(n);
                    let now = self.now();
                    while let Some(frame) = self.framer.next_line() {
                        handle_frame(self.machine, now, frame, &mut self.out);
                    }
                    self.drain_log();
                    // Keep output moving while input streams in.
                    if self.stdout_ready && self.backlog() >= 64 << 10 && self.flush()? {
                        return Ok(());
                    }
                    if !self.stdin_polled {
                        // Blocking fallback: one read per turn so timers get a chance.
                        return Ok(());
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.stdin_ready = false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    // A broken stdin is the end of input.
                    let _ = writeln!(io::stderr(), "glomers: stdin read failed: {e}; stopping");
                    self.stdin_eof = true;
                }
            }
        }
        Ok(())
    }

    fn fire_timers(&mut self) {
        if self.stdin_eof {
            return;
        }
        let now = self.now();
        if self.machine.poll_timeout().is_some_and(|at| at <= now) {
            self.machine.handle_timeout(now, &mut self.out);
            self.drain_log();
        }
    }

    /// Writes queued output until done or stdout would block. Returns true if stdout is
    /// closed (the process should end).
    fn flush(&mut self) -> io::Result<bool> {
        while self.backlog() > 0 && self.stdout_ready {
            match self.stdout.write(&self.out.msgs[self.written..]) {
                Ok(0) => return Ok(true),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.stdout_ready = false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::BrokenPipe => return Ok(true),
                Err(e) => return Err(e),
            }
        }
        if self.written == self.out.msgs.len() {
            self.out.msgs.clear();
            self.written = 0;
            if self.out.msgs.capacity() > OUT_SHRINK_ABOVE {
                self.out.msgs.shrink_to(self.config.out_high_water);
            }
        } else if self.written > (1 << 20) && self.written * 2 > self.out.msgs.len() {
            // Reclaim the written prefix so the buffer does not creep.
            self.out.msgs.drain(..self.written);
            self.written = 0;
        }
        Ok(false)
    }

    fn drain_log(&mut self) {
        if !self.out.log.is_empty() {
            // stderr is best effort: a failure to log must not stop the node.
            let _ = io::stderr().write_all(&self.out.log);
            self.out.log.clear();
        }
    }
}

fn handle_frame(machine: &mut dyn Machine, now: Instant, frame: Frame<'_>, out: &mut Output) {
    match frame {
        Frame::Line { buf, len } => machine.handle_line(now, buf, len, out),
        Frame::Skipped { dropped } => {
            let _ = writeln!(
                out.log,
                "dropped an input line of {dropped} bytes: longer than the line bound"
            );
        }
    }
}

/// Pipe capacity the driver asks for on stdin and stdout: 256 KiB.
pub const PIPE_CAPACITY: usize = 256 << 10;

/// Grows `fd`'s buffer to [`PIPE_CAPACITY`] if it is a smaller pipe (Linux only; a no-op
/// elsewhere, on anything but a pipe, or when the kernel refuses).
///
/// A default pipe holds 64 KiB, well under a millisecond of traffic at full speed, so a node
/// and its peer process take turns blocking on it: every turn is a wake-up and a context
/// switch, and on a loaded machine those dominated the throughput bench. Four times the
/// default was as good as 1 MiB there. The size is kept modest because the kernel charges
/// pipe capacity to the user (`/proc/sys/fs/pipe-user-pages-soft`, 64 MiB by default): 50
/// nodes at 2 x 256 KiB stay at 25 MiB of it. A larger pipe is never shrunk.
fn grow_pipe(fd: &OwnedFd) {
    #[cfg(target_os = "linux")]
    {
        let want = libc::c_int::try_from(PIPE_CAPACITY).unwrap_or(libc::c_int::MAX);
        // SAFETY: F_GETPIPE_SZ and F_SETPIPE_SZ take no pointer and touch no memory of ours;
        // on a descriptor that is not a pipe they fail (EBADF/EINVAL) and nothing changes.
        unsafe {
            let have = libc::fcntl(fd.as_raw_fd(), libc::F_GETPIPE_SZ);
            if have > 0 && have < want {
                let _ = libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, want);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = fd;
}

fn set_nonblocking(fd: &OwnedFd) -> bool {
    set_flag(fd, true)
}

fn set_blocking(fd: &OwnedFd) {
    set_flag(fd, false);
}

/// Sets or clears O_NONBLOCK through a mio pipe handle on a duplicate of `fd`.
fn set_flag(fd: &OwnedFd, nonblocking: bool) -> bool {
    let Ok(dup) = fd.try_clone() else { return false };
    // The receiver owns (and closes) only our duplicate; O_NONBLOCK lives on the shared open
    // file description, so it applies to `fd` too.
    let pipe = mio::unix::pipe::Receiver::from(dup);
    pipe.set_nonblocking(nonblocking).is_ok()
}
