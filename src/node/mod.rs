//! The node runtime: the sans-IO call contract between drivers and workloads.
//!
//! A workload ([`Workload`]) is a state machine. [`Node`] wraps one and owns everything every
//! workload needs: the `init` handshake, error replies (10, 11, 12), `msg_id`s, RPCs with replies
//! matched by `in_reply_to` and timeouts, and a timer wheel. Drivers talk to a node only through
//! [`Machine`]:
//!
//! 1. feed one input: [`Machine::handle_line`] for a received line, or
//!    [`Machine::handle_timeout`] once `now` has reached [`Machine::poll_timeout`];
//! 2. drain the output: every message the node wants sent has been appended to
//!    [`Output::msgs`] as complete `\n`-terminated lines, and log text to [`Output::log`];
//! 3. ask [`Machine::poll_timeout`] for the next deadline, and sleep until it or the next input.
//!
//! Nothing here reads a clock, does I/O or draws unseeded randomness: `now` is always passed
//! in, output goes into caller-owned buffers, and the only RNG is seeded from the node's id.

use std::fmt;
use std::time::Duration;

use hashbrown::HashMap;

use crate::proto::encode::{HeadCache, Header, ObjWriter, write_message, write_message_cached};
use crate::proto::{ErrorCode, FieldError, Msg, ParseError, Parser};
use crate::rng::{Rng, fnv1a};
use crate::time::Instant;
use crate::time::wheel::{TimerId, TimerWheel};

pub mod harness;

/// Where a node's output goes: protocol lines for stdout, text for stderr.
#[derive(Debug, Default)]
pub struct Output {
    /// Complete, `\n`-terminated JSON messages, in send order.
    pub msgs: Vec<u8>,
    /// Human-readable log lines.
    pub log: Vec<u8>,
}

impl Output {
    /// Empties both buffers, keeping their allocations.
    pub fn clear(&mut self) {
        self.msgs.clear();
        self.log.clear();
    }
}

/// What a driver runs: a node seen as bytes in, bytes out, and a deadline.
pub trait Machine {
    /// Handles one received line, `line[..len]` (no trailing newline). The bytes are
    /// clobbered by in-place parsing; leaving [`crate::proto::PADDING`] spare bytes after
    /// `len` lets the parser skip a copy.
    fn handle_line(&mut self, now: Instant, line: &mut [u8], len: usize, out: &mut Output);
    /// Fires every timer due at `now`.
    fn handle_timeout(&mut self, now: Instant, out: &mut Output);
    /// When to call [`Machine::handle_timeout`] next, if any timer is pending. Never later
    /// than the earliest timer; it may be earlier (the timer wheel wakes at a coarse slot's
    /// start to cascade it), in which case the call fires nothing.
    fn poll_timeout(&self) -> Option<Instant>;
}

/// A request the workload refuses, answered with an `error` body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    /// The error code.
    pub code: ErrorCode,
    /// Human-readable detail for the `text` field.
    pub text: String,
}

impl Reject {
    /// A rejection with any code.
    pub fn new(code: ErrorCode, text: impl Into<String>) -> Self {
        Reject { code, text: text.into() }
    }

    /// Error 10 for a request type the workload does not know.
    pub fn unsupported(kind: &str) -> Self {
        Reject::new(ErrorCode::NotSupported, format!("unsupported request type `{kind}`"))
    }
}

impl From<FieldError> for Reject {
    fn from(e: FieldError) -> Self {
        Reject::new(ErrorCode::MalformedRequest, e.to_string())
    }
}

/// The outcome of an RPC, handed to [`Workload::on_reply`].
///
/// `Err(ErrorCode::Timeout)` is produced locally when no reply came in time.
pub type Reply<'a, 't, 'i> = Result<&'a Msg<'t, 'i>, ErrorCode>;

/// A workload: the state machine behind one Maelstrom node type.
///
/// All methods receive a [`Ctx`] that carries `now` and through which the workload sends
/// messages, replies, RPCs and sets timers. None may block, do I/O or read a clock.
pub trait Workload: Sized {
    /// Timers the workload sets (a small `Copy` enum, usually).
    type Timer: Copy + fmt::Debug;
    /// What the workload remembers about an outstanding RPC; returned with its reply.
    type Call;

    /// Builds the workload when `init` arrives. `args` are the binary's command-line words
    /// (unknown ones must be ignored).
    fn init(cx: &mut Ctx<'_, Self>, args: &[String]) -> Self;

    /// Handles a request (any message that is not a reply). `Err` becomes an error reply.
    /// Unknown types must be answered with [`Reject::unsupported`].
    fn on_request(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject>;

    /// Handles the reply (or timeout) of an RPC sent with [`Ctx::rpc`].
    fn on_reply(&mut self, call: Self::Call, reply: Reply<'_, '_, '_>, cx: &mut Ctx<'_, Self>) {
        let _ = (call, reply, cx);
    }

    /// Handles a timer set with [`Ctx::set_timer`].
    fn on_timer(&mut self, timer: Self::Timer, cx: &mut Ctx<'_, Self>) {
        let _ = (timer, cx);
    }
}

/// What fires from the wheel.
#[derive(Debug)]
enum Fire<T> {
    /// A workload timer.
    Timer(T),
    /// The RPC with this `msg_id` timed out.
    RpcTimeout(u64),
}

/// An RPC awaiting its reply.
struct Pending<C> {
    call: C,
    timeout: TimerId,
}

/// Identity and shared machinery of an initialised node.
pub struct Core<W: Workload> {
    /// This node's id (`n3`); empty before init.
    id: String,
    /// The heads of messages this node sends, encoded once per destination and type.
    heads: HeadCache,
    /// All node ids, in the order `init` gave them (identical on every node).
    ids: Vec<String>,
    /// Position of `id` in `ids` (or `ids.len()` if absent).
    index: usize,
    /// Next `msg_id` to use. Invariant: greater than every id this node has sent.
    next_msg_id: u64,
    wheel: TimerWheel<Fire<W::Timer>>,
    /// Outstanding RPCs by `msg_id`. Invariant: each has exactly one live timeout timer.
    calls: HashMap<u64, Pending<W::Call>>,
    rng: Rng,
}

/// The handle a workload acts through: time, identity, output, RPCs and timers.
pub struct Ctx<'a, W: Workload> {
    now: Instant,
    core: &'a mut Core<W>,
    out: &'a mut Output,
}

impl<W: Workload> Ctx<'_, W> {
    /// The current time, as the driver passed it.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// This node's id.
    pub fn id(&self) -> &str {
        &self.core.id
    }

    /// All node ids from `init`, in the same order on every node.
    pub fn ids(&self) -> &[String] {
        &self.core.ids
    }

    /// Position of this node in [`Ctx::ids`] (`ids().len()` if it is not listed).
    pub fn index(&self) -> usize {
        self.core.index
    }

    /// The node's seeded RNG.
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.core.rng
    }

    /// Appends a line to the node's log (stderr under a real driver).
    pub fn log(&mut self, args: fmt::Arguments<'_>) {
        log_line(&mut self.out.log, &self.core.id, args);
    }

    /// Logs the command-line words a workload's tuning did not understand, if any (a node
    /// ignores them, so Maelstrom can pass anything).
    pub fn log_ignored_args(&mut self, ignored: &[String]) {
        if !ignored.is_empty() {
            self.log(format_args!("ignoring arguments {ignored:?}"));
        }
    }

    fn take_msg_id(&mut self) -> u64 {
        let id = self.core.next_msg_id;
        self.core.next_msg_id += 1;
        id
    }

    /// Replies to `req` with a body of type `kind`; `fields` writes the rest of the body.
    ///
    /// A request without `msg_id` cannot be answered (a reply needs `in_reply_to`); then this
    /// writes nothing and returns false. The reply carries no `msg_id` of its own, as
    /// Maelstrom's services and client libraries do: nothing answers a reply, and the id would
    /// only cost bytes on every reply.
    pub fn reply(
        &mut self,
        req: &Msg<'_, '_>,
        kind: &str,
        fields: impl FnOnce(&mut ObjWriter<'_>),
    ) -> bool {
        let Some(irt) = req.msg_id else { return false };
        let h = Header {
            src: &self.core.id,
            dest: req.src,
            kind,
            msg_id: None,
            in_reply_to: Some(irt),
        };
        write_message_cached(&mut self.out.msgs, &mut self.core.heads, h, fields);
        true
    }

    /// Answers request `in_reply_to` of `dest` that reached this node second-hand (another
    /// node forwarded it here): the reply goes straight to the requester, which matches it by
    /// `in_reply_to` alone, as Maelstrom's clients do.
    pub fn reply_to(
        &mut self,
        dest: &str,
        in_reply_to: u64,
        kind: &str,
        fields: impl FnOnce(&mut ObjWriter<'_>),
    ) {
        let h =
            Header { src: &self.core.id, dest, kind, msg_id: None, in_reply_to: Some(in_reply_to) };
        write_message_cached(&mut self.out.msgs, &mut self.core.heads, h, fields);
    }

    /// Replies to `req` with an `error` body.
    pub fn reply_error(&mut self, req: &Msg<'_, '_>, code: ErrorCode, text: &str) -> bool {
        self.reply(req, "error", |b| {
            b.u64("code", code.code()).str("text", text);
        })
    }

    /// Sends a one-way message (no `msg_id`, no reply expected).
    pub fn send(&mut self, dest: &str, kind: &str, fields: impl FnOnce(&mut ObjWriter<'_>)) {
        let h = Header { src: &self.core.id, dest, kind, msg_id: None, in_reply_to: None };
        write_message_cached(&mut self.out.msgs, &mut self.core.heads, h, fields);
    }

    /// Sends a request to a node or service and returns its `msg_id`.
    ///
    /// Exactly one of these follows: [`Workload::on_reply`] with the reply, or with
    /// `Err(ErrorCode::Timeout)` after `timeout`, or nothing if [`Ctx::cancel_rpc`] is called.
    pub fn rpc(
        &mut self,
        dest: &str,
        kind: &str,
        timeout: Duration,
        call: W::Call,
        fields: impl FnOnce(&mut ObjWriter<'_>),
    ) -> u64 {
        let msg_id = self.take_msg_id();
        let h = Header { src: &self.core.id, dest, kind, msg_id: Some(msg_id), in_reply_to: None };
        write_message_cached(&mut self.out.msgs, &mut self.core.heads, h, fields);
        let timeout = self.schedule(self.now + timeout, Fire::RpcTimeout(msg_id));
        let prev = self.core.calls.insert(msg_id, Pending { call, timeout });
        debug_assert!(prev.is_none(), "msg_ids are never reused");
        msg_id
    }

    /// Forgets an outstanding RPC; its reply, if it comes, is ignored.
    pub fn cancel_rpc(&mut self, msg_id: u64) -> Option<W::Call> {
        let p = self.core.calls.remove(&msg_id)?;
        self.core.wheel.cancel(p.timeout);
        Some(p.call)
    }

    /// Number of RPCs awaiting a reply.
    pub fn rpcs_in_flight(&self) -> usize {
        self.core.calls.len()
    }

    /// Sets a timer to fire at `at` (millisecond resolution, never early).
    pub fn set_timer(&mut self, at: Instant, timer: W::Timer) -> TimerId {
        self.schedule(at, Fire::Timer(timer))
    }

    /// Cancels a timer; returns it if it had not fired.
    pub fn cancel_timer(&mut self, id: TimerId) -> Option<W::Timer> {
        match self.core.wheel.cancel(id)? {
            Fire::Timer(t) => Some(t),
            Fire::RpcTimeout(_) => unreachable!("RPC timeout ids are never handed out"),
        }
    }

    /// When the timer `id` will fire, if it is still pending.
    pub fn timer_deadline(&self, id: TimerId) -> Option<Instant> {
        self.core.wheel.deadline(id).map(Instant::from_millis)
    }

    fn schedule(&mut self, at: Instant, fire: Fire<W::Timer>) -> TimerId {
        // A deadline at or before the wheel's position goes to the next tick: it fires at the
        // driver's next `handle_timeout`, which `poll_timeout` asks for at once.
        let tick = at.as_millis_ceil().max(self.core.wheel.elapsed() + 1);
        match self.core.wheel.insert(tick, fire) {
            Ok(id) => id,
            Err(_) => unreachable!("tick {tick} is after the wheel's elapsed tick"),
        }
    }
}

fn log_line(log: &mut Vec<u8>, id: &str, args: fmt::Arguments<'_>) {
    use std::io::Write;
    // Writing to a Vec cannot fail.
    let _ = writeln!(log, "[{}] {args}", if id.is_empty() { "?" } else { id });
}

/// A workload wrapped with the protocol plumbing; the unit both drivers run.
pub struct Node<W: Workload> {
    parser: Parser,
    core: Core<W>,
    /// The workload, once `init` has arrived.
    workload: Option<W>,
    args: Vec<String>,
    seed: u64,
}

impl<W: Workload> Node<W> {
    /// A node awaiting `init`. `args` are passed to [`Workload::init`]; `seed` (mixed with
    /// the node id at init) seeds the node's RNG.
    pub fn new(args: Vec<String>, seed: u64) -> Self {
        Node {
            parser: Parser::new(),
            core: Core {
                id: String::new(),
                heads: HeadCache::new(""),
                ids: Vec::new(),
                index: 0,
                next_msg_id: 1,
                wheel: TimerWheel::with_capacity(64),
                calls: HashMap::with_capacity(64),
                rng: Rng::new(seed),
            },
            workload: None,
            args,
            seed,
        }
    }

    /// The workload, once initialised (for tests and the simulator's inspection).
    pub fn workload(&self) -> Option<&W> {
        self.workload.as_ref()
    }

    // Inlined into `handle_line`, its one caller: only the request path is here, so that
    // the parser's closure (this) stays small enough to be inlined into the line handler too.
    #[inline(always)]
    fn dispatch(
        core: &mut Core<W>,
        workload: &mut Option<W>,
        args: &[String],
        seed: u64,
        now: Instant,
        msg: &Msg<'_, '_>,
        out: &mut Output,
    ) {
        match workload {
            Some(w) if msg.in_reply_to.is_none() && msg.kind != "init" => {
                let mut cx = Ctx { now, core, out };
                if let Err(rej) = w.on_request(msg, &mut cx) {
                    Self::rejected(&mut cx, msg, rej);
                }
            }
            _ => Self::dispatch_other(core, workload, args, seed, now, msg, out),
        }
    }

    /// [`Node::dispatch`] for everything but a request to an initialised node: replies to
    /// RPCs, `init`, and messages before `init`.
    #[inline(never)]
    fn dispatch_other(
        core: &mut Core<W>,
        workload: &mut Option<W>,
        args: &[String],
        seed: u64,
        now: Instant,
        msg: &Msg<'_, '_>,
        out: &mut Output,
    ) {
        let mut cx = Ctx { now, core, out };
        if let Some(irt) = msg.in_reply_to {
            let (Some(w), Some(p)) = (workload.as_mut(), cx.core.calls.remove(&irt)) else {
                // A late reply after a timeout, or a stray: nothing waits for it.
                return;
            };
            cx.core.wheel.cancel(p.timeout);
            let reply = if msg.kind == "error" {
                let code = msg.get("code").and_then(|v| v.as_u64()).unwrap_or(13);
                Err(ErrorCode::from_code(code))
            } else {
                Ok(msg)
            };
            w.on_reply(p.call, reply, &mut cx);
            return;
        }
        if msg.kind == "init" {
            Self::init(&mut cx, workload, args, seed, msg);
            return;
        }
        if workload.is_none() {
            // Before init we do not know our id; answer as the address we were sent to.
            if let Some(irt) = msg.msg_id {
                let h = Header {
                    src: msg.dest,
                    dest: msg.src,
                    kind: "error",
                    msg_id: None,
                    in_reply_to: Some(irt),
                };
                write_message(&mut cx.out.msgs, h, |b| {
                    b.u64("code", ErrorCode::TemporarilyUnavailable.code())
                        .str("text", "node not initialised: init has not arrived yet");
                });
            }
        }
        // (A request to an initialised node never comes here: `dispatch` takes it.)
    }

    /// A request the workload refused: an error reply, or a log line for a one-way message.
    #[cold]
    #[inline(never)]
    fn rejected(cx: &mut Ctx<'_, W>, msg: &Msg<'_, '_>, rej: Reject) {
        if !cx.reply_error(msg, rej.code, &rej.text) {
            cx.log(format_args!("rejected one-way `{}` from {}: {}", msg.kind, msg.src, rej.text));
        }
    }

    /// A line that is not a message the node can act on: error 12 to the sender when there
    /// is one to answer, else a log line. (Out of line: the hot path is the message.)
    #[cold]
    #[inline(never)]
    fn parse_failed(core: &Core<W>, out: &mut Output, e: ParseError<'_>) {
        match e {
            ParseError::Body { src, dest, msg_id: Some(irt), why } => {
                let from = if core.id.is_empty() { dest } else { core.id.as_str() };
                let h = Header {
                    src: from,
                    dest: src,
                    kind: "error",
                    msg_id: None,
                    in_reply_to: Some(irt),
                };
                let text = why.to_string();
                write_message(&mut out.msgs, h, |b| {
                    b.u64("code", ErrorCode::MalformedRequest.code()).str("text", &text);
                });
            }
            e => log_line(&mut out.log, &core.id, format_args!("dropped input line: {e}")),
        }
    }

    fn init(
        cx: &mut Ctx<'_, W>,
        workload: &mut Option<W>,
        args: &[String],
        seed: u64,
        msg: &Msg<'_, '_>,
    ) {
        let parsed = (|| {
            let id = msg.str("node_id")?;
            let list = msg.arr("node_ids")?;
            let mut ids = Vec::with_capacity(list.len());
            for v in list.iter() {
                ids.push(v.as_str().ok_or(FieldError::invalid("node_ids", "an array of strings"))?);
            }
            Ok::<_, FieldError>((id, ids))
        })();
        let (id, ids) = match parsed {
            Ok(p) => p,
            Err(e) => {
                // Answer as ourselves once initialised; before that, as the address we were
                // sent to (our id is what failed to parse).
                let text = e.to_string();
                let from = if cx.core.id.is_empty() { msg.dest } else { cx.core.id.as_str() };
                let h = Header {
                    src: from,
                    dest: msg.src,
                    kind: "error",
                    msg_id: None,
                    in_reply_to: msg.msg_id,
                };
                if msg.msg_id.is_some() {
                    write_message(&mut cx.out.msgs, h, |b| {
                        b.u64("code", ErrorCode::MalformedRequest.code()).str("text", &text);
                    });
                }
                return;
            }
        };
        if workload.is_some() {
            if id != cx.core.id {
                cx.log(format_args!("ignoring a second init naming this node {id}"));
            }
            cx.reply(msg, "init_ok", |_| {});
            return;
        }
        cx.core.id = id.to_owned();
        cx.core.heads = HeadCache::new(id);
        cx.core.ids = ids.iter().map(|s| (*s).to_owned()).collect();
        cx.core.index = ids.iter().position(|s| *s == id).unwrap_or(ids.len());
        cx.core.rng = Rng::new(seed ^ fnv1a(id.as_bytes()));
        *workload = Some(W::init(cx, args));
        cx.reply(msg, "init_ok", |_| {});
    }
}

impl<W: Workload> Machine for Node<W> {
    fn handle_line(&mut self, now: Instant, line: &mut [u8], len: usize, out: &mut Output) {
        let Node { parser, core, workload, args, seed } = self;
        parser.parse(line, len, |parsed| match parsed {
            Ok(msg) => Self::dispatch(core, workload, args, *seed, now, &msg, out),
            Err(e) => Self::parse_failed(core, out, e),
        });
    }

    fn handle_timeout(&mut self, now: Instant, out: &mut Output) {
        let Some(w) = self.workload.as_mut() else { return };
        let mut cx = Ctx { now, core: &mut self.core, out };
        while let Some((_, fire)) = cx.core.wheel.poll(now.as_millis()) {
            match fire {
                Fire::Timer(t) => w.on_timer(t, &mut cx),
                Fire::RpcTimeout(msg_id) => {
                    if let Some(p) = cx.core.calls.remove(&msg_id) {
                        w.on_reply(p.call, Err(ErrorCode::Timeout), &mut cx);
                    }
                }
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.core.wheel.next_deadline().map(Instant::from_millis)
    }
}

#[cfg(test)]
mod tests;
