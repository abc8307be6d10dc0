//! The test engine: one event loop that runs a Maelstrom test over any [`Backend`].
//!
//! The engine owns the clock, the network, the services, the worker threads and their
//! clients, the nemesis and the history. A backend only moves lines in and out of nodes:
//! [`super::inproc::InProcess`] runs our state machines on virtual time that jumps from
//! event to event (deterministic: one seed, one history); [`super::process::Processes`] runs
//! real binaries over pipes in real time. Everything else is shared, so both modes judge a
//! node the same way.
//!
//! Phases, as in Maelstrom: `init` to every node (a fresh client each, 10 s to answer); the
//! workload's setup request (broadcast's `topology`); the main phase of `--time-limit`
//! seconds (client operations staggered at `--rate` and handed round the threads as Jepsen's
//! generator does, partitions if asked); then, for workloads with a final phase, heal, 10 s
//! of quiet, and the final operations. Where timing follows Jepsen 0.3.7 (the generator and
//! interpreter Maelstrom 0.2.x runs), the comment names the function it follows.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use hashbrown::HashMap;

use super::history::{History, Op, OpType};
use super::journal::Journal;
use super::nemesis::{self, NemesisOp, NemesisValue, Shape};
use super::net::{Addr, Net, NetStats};
use super::opts::TestOpts;
use super::services::{self, Services};
use super::workloads::{ClientWorkload, RpcResult, Step};
use crate::proto::encode::{write_str, write_u64};
use crate::proto::{ErrorCode, Kind, PADDING, Parser, Val};
use crate::rng::{Rng, fnv1a};
use crate::time::Instant;

/// What a backend must do: move lines into and out of the nodes.
pub trait Backend {
    /// Whether time is virtual (the engine jumps to the next event) or real.
    fn is_virtual(&self) -> bool;
    /// Delivers one line (no newline) to node `node` at `now`.
    fn deliver(&mut self, now: Instant, node: usize, line: &[u8]);
    /// The earliest pending node timer (virtual backends only).
    fn next_timer(&self) -> Option<Instant>;
    /// Fires node timers due at `now` (virtual backends only).
    fn fire_timers(&mut self, now: Instant);
    /// Waits until `until` (or forever if `None`) or until a node produces output, and
    /// returns the current time. Virtual backends return `until` at once.
    fn wait(&mut self, until: Option<Instant>) -> Instant;
    /// Moves every complete output line produced so far into `sink` as `(node, line)`.
    fn take_output(&mut self, sink: &mut Vec<(usize, Vec<u8>)>);
    /// Appends each node's log output (stderr) to `logs[node]`.
    fn take_logs(&mut self, logs: &mut [Vec<u8>]);
    /// Stops every node and reports what went wrong with them during the run (a node that
    /// had already exited, a node that stopped reading its input, ...).
    fn stop(&mut self) -> Vec<BackendFault>;
}

/// A problem a backend saw with one node, reported by [`Backend::stop`].
#[derive(Clone, Debug)]
pub struct BackendFault {
    /// The node (index into the test's node list).
    pub node: usize,
    /// When it was seen, on the backend's clock (the one [`Backend::wait`] returns).
    pub at: Instant,
    /// What went wrong.
    pub reason: String,
    /// Maelstrom fails the whole test for this (a node process that exited before teardown
    /// "crashed with exit status"): the run is reported as aborted (exit status 255).
    pub fatal: bool,
}

/// Something the engine has scheduled.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    /// A destination's consumer delivers the message it holds.
    Deliver(Addr),
    /// The generator emits the next operation.
    Generate,
    /// A client gives up waiting for the reply to `msg_id`.
    ClientTimeout { client: usize, msg_id: u64 },
    /// The next nemesis operation (start or stop a partition).
    Nemesis,
    /// The main phase's time limit.
    TimeLimit,
    /// The quiet period after healing is over.
    QuietOver,
    /// The final phase's cap (kafka) is reached.
    FinalLimit,
    /// A worker thread's deferred final-phase operation is due.
    FinalOp(usize),
}

/// What a client is for.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Role {
    /// Sends `init` to this node.
    Init(usize),
    /// Sends the setup request to this node.
    Setup(usize),
    /// Worker thread.
    Worker(usize),
}

#[derive(Debug)]
struct Client {
    role: Role,
    open: bool,
    next_msg_id: u64,
    /// The request this client waits for.
    pending: Option<u64>,
}

#[derive(Debug)]
struct Running<V> {
    f: &'static str,
    value: V,
    is_final: bool,
}

#[derive(Debug)]
struct Thread<V> {
    node: usize,
    process: usize,
    client: Option<usize>,
    running: Option<Running<V>>,
    /// In the final phase: no more operations for this thread.
    finished: bool,
    /// In the final phase: an operation waiting for its start time ([`Ev::FinalOp`]).
    deferred: Option<(&'static str, V)>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Phase {
    Init,
    Setup,
    Main,
    /// Main phase over; waiting for in-flight operations.
    Draining,
    Quiet,
    Final,
    Done,
}

/// A node whose stdout Maelstrom would stop reading (or whose process failed).
#[derive(Clone, Debug, serde::Serialize)]
pub struct NodeFault {
    /// The node.
    pub node: String,
    /// Seconds since the main phase began (negative during init).
    pub time_s: f64,
    /// What went wrong.
    pub reason: String,
}

/// A partition interval for reports.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PartitionSpan {
    /// Start, in seconds of test time.
    pub start_s: f64,
    /// End, in seconds (the heal).
    pub end_s: Option<f64>,
    /// The shape.
    pub shape: Shape,
}

/// Everything a run produced, before checking.
pub struct RunData<V> {
    /// The client history.
    pub history: History<V>,
    /// Network journal totals.
    pub net: NetStats,
    /// Node faults seen.
    pub faults: Vec<NodeFault>,
    /// Partitions.
    pub partitions: Vec<PartitionSpan>,
    /// The nemesis's history entries (written into the history files, never judged).
    pub nemesis_ops: Vec<NemesisOp>,
    /// Per-node stderr.
    pub logs: Vec<Vec<u8>>,
    /// Hash of every delivery (time, destination, bytes): equal for equal runs.
    pub trace_hash: u64,
    /// Test time from the start of the main phase to the end.
    pub duration: Duration,
    /// Lines for `--log-net-send`/`--log-net-recv`.
    pub net_log: Vec<String>,
    /// The run was aborted (init failed, ...): why.
    pub aborted: Option<String>,
    /// The messages the space-time diagram draws (empty unless results are stored).
    pub journal: Journal,
}

impl<V> RunData<V> {
    /// The data of a run known only by its history (for judging a stored history again):
    /// no network totals, partitions, logs or journal.
    pub fn from_history(history: History<V>) -> RunData<V> {
        let duration = Duration::from_nanos(history.ops.last().map_or(0, |o| o.time));
        RunData {
            history,
            net: NetStats::default(),
            faults: Vec::new(),
            partitions: Vec::new(),
            nemesis_ops: Vec::new(),
            logs: Vec::new(),
            trace_hash: 0,
            duration,
            net_log: Vec::new(),
            aborted: None,
            journal: Journal::default(),
        }
    }
}

/// The engine state for one run.
pub struct Engine<'o, W: ClientWorkload, B: Backend> {
    opts: &'o TestOpts,
    workload: W,
    backend: B,
    nodes: Vec<String>,
    net: Net,
    services: Services,
    events: BinaryHeap<Reverse<(Instant, u64, Ev)>>,
    seq: u64,
    now: Instant,
    /// Start of the main phase (history time 0).
    t0: Instant,
    phase: Phase,
    rng_gen: Rng,
    rng_nemesis: Rng,
    clients: Vec<Client>,
    threads: Vec<Thread<W::Value>>,
    /// An operation is due but every thread is busy.
    gen_waiting: bool,
    /// When the generator emits its next operation (Jepsen's `Stagger` `next-time`).
    gen_target: Instant,
    /// The main phase's cutoff: `t0 + --time-limit` (Jepsen's `TimeLimit` `cutoff`).
    limit: Instant,
    /// When the nemesis acts next, while partitions are on.
    nemesis_next: Option<Instant>,
    /// Jepsen's context `next-thread-index`: where the search for a free thread starts. It
    /// counts the worker threads plus the nemesis thread (index `threads.len()`), as
    /// Jepsen's translation table does whether or not a nemesis runs.
    next_thread: usize,
    history: History<W::Value>,
    /// Which nodes' stdout is dead (an invalid line was printed).
    dead: Vec<bool>,
    faults: Vec<NodeFault>,
    partitions: Vec<PartitionSpan>,
    nemesis_ops: Vec<NemesisOp>,
    nemesis_on: bool,
    logs: Vec<Vec<u8>>,
    names: HashMap<String, Addr>,
    parser: Parser,
    scratch: Vec<u8>,
    req: Vec<u8>,
    outbox: Vec<(usize, Vec<u8>)>,
    trace: u64,
    pending_setup: usize,
    net_log: Vec<String>,
    aborted: Option<String>,
    final_cap_hit: bool,
    /// Completions so far: ok, fail, info (for the progress bar).
    done_counts: [u64; 3],
}

impl<'o, W: ClientWorkload, B: Backend> Engine<'o, W, B> {
    /// Prepares a run of `workload` over `backend` (which must already run `opts.nodes()`).
    pub fn new(opts: &'o TestOpts, workload: W, backend: B) -> Self {
        let nodes = opts.nodes();
        let mut root = Rng::new(opts.seed ^ fnv1a(opts.workload.as_bytes()));
        let net_rng = root.fork();
        let services = Services::new(root.fork());
        let rng_gen = root.fork();
        let rng_nemesis = root.fork();
        let mut names = HashMap::new();
        for (i, n) in nodes.iter().enumerate() {
            names.insert(n.clone(), Addr::Node(i));
        }
        for (i, s) in services::NAMES.iter().enumerate() {
            names.insert((*s).to_owned(), Addr::Service(i));
        }
        let threads = (0..opts.threads())
            .map(|t| Thread {
                node: t % nodes.len(),
                process: t,
                client: None,
                running: None,
                finished: false,
                deferred: None,
            })
            .collect();
        let mut net = Net::new(nodes.len(), opts.latency, opts.latency_dist, opts.loss, net_rng);
        net.journal = Journal::new(opts.diagram, opts.store.is_some());
        Engine {
            net,
            logs: vec![Vec::new(); nodes.len()],
            dead: vec![false; nodes.len()],
            nodes,
            opts,
            workload,
            backend,
            services,
            events: BinaryHeap::new(),
            seq: 0,
            now: Instant::ZERO,
            t0: Instant::ZERO,
            phase: Phase::Init,
            rng_gen,
            rng_nemesis,
            clients: Vec::new(),
            threads,
            gen_waiting: false,
            gen_target: Instant::ZERO,
            limit: Instant::ZERO,
            nemesis_next: None,
            next_thread: 0,
            history: History::default(),
            faults: Vec::new(),
            partitions: Vec::new(),
            nemesis_ops: Vec::new(),
            nemesis_on: false,
            names,
            parser: Parser::new(),
            scratch: Vec::new(),
            req: Vec::new(),
            outbox: Vec::new(),
            trace: 0,
            pending_setup: 0,
            net_log: Vec::new(),
            aborted: None,
            final_cap_hit: false,
            done_counts: [0; 3],
        }
    }

    fn schedule(&mut self, at: Instant, ev: Ev) {
        self.seq += 1;
        self.events.push(Reverse((at, self.seq, ev)));
    }

    fn secs(&self, t: Instant) -> f64 {
        (t.as_micros() as f64 - self.t0.as_micros() as f64) / 1e6
    }

    fn open_client(&mut self, role: Role) -> usize {
        let k = self.clients.len();
        self.clients.push(Client { role, open: true, next_msg_id: 1, pending: None });
        self.names.insert(format!("c{k}"), Addr::Client(k));
        k
    }

    fn close_client(&mut self, k: usize) {
        self.clients[k].open = false;
        self.clients[k].pending = None;
        self.names.remove(&format!("c{k}"));
    }

    /// Sends a request from client `k` to `node`: type `kind`, fields already in `self.req`
    /// (each written with its leading comma, as [`super::workloads::fields`] does).
    fn client_send(&mut self, k: usize, node: usize, kind: &str, timeout: Duration) {
        let msg_id = self.clients[k].next_msg_id;
        self.clients[k].next_msg_id += 1;
        self.clients[k].pending = Some(msg_id);
        let id = self.net.alloc_id();
        let mut line = Vec::with_capacity(64 + self.req.len());
        line.extend_from_slice(b"{\"id\":");
        write_u64(&mut line, id);
        line.extend_from_slice(b",\"src\":\"c");
        write_u64(&mut line, k as u64);
        line.extend_from_slice(b"\",\"dest\":");
        write_str(&mut line, &self.nodes[node]);
        // The body in Maelstrom's order: a typed RPC's own fields, then `type`, then the
        // `msg_id` the client adds; `init` is built with `type` first.
        line.extend_from_slice(b",\"body\":{");
        let fields = self.req.strip_prefix(b",").unwrap_or(&self.req);
        if kind == "init" {
            line.extend_from_slice(b"\"type\":\"init\"");
            line.extend_from_slice(&self.req);
        } else {
            line.extend_from_slice(fields);
            if !fields.is_empty() {
                line.push(b',');
            }
            line.extend_from_slice(b"\"type\":");
            write_str(&mut line, kind);
        }
        line.extend_from_slice(b",\"msg_id\":");
        write_u64(&mut line, msg_id);
        line.extend_from_slice(b"}}");
        if self.opts.log_net_send {
            let t = self.secs(self.now);
            self.net_log.push(format!("{t:.6} send {}", String::from_utf8_lossy(&line)));
        }
        if let Some(at) = self.net.send(self.now, id, Addr::Client(k), Addr::Node(node), line) {
            self.schedule(at, Ev::Deliver(Addr::Node(node)));
        }
        self.schedule(self.now + timeout, Ev::ClientTimeout { client: k, msg_id });
    }

    /// Runs the whole test.
    pub fn run(mut self) -> (RunData<W::Value>, W, B) {
        self.start_init();
        self.event_loop();
        for f in self.backend.stop() {
            let node = self.nodes[f.node].clone();
            if f.fatal && self.aborted.is_none() {
                self.aborted = Some(format!("node {node} {}", f.reason));
            }
            self.faults.push(NodeFault { node, time_s: self.secs(f.at), reason: f.reason });
        }
        self.backend.take_logs(&mut self.logs);
        if let Some(last) = self.partitions.last_mut() {
            if last.end_s.is_none() {
                last.end_s = Some((self.now.as_micros() as f64 - self.t0.as_micros() as f64) / 1e6);
            }
        }
        let data = RunData {
            history: self.history,
            net: self.net.stats,
            faults: self.faults,
            partitions: self.partitions,
            nemesis_ops: self.nemesis_ops,
            logs: self.logs,
            trace_hash: self.trace,
            duration: self.now.saturating_since(self.t0),
            net_log: self.net_log,
            aborted: self.aborted,
            journal: std::mem::take(&mut self.net.journal),
        };
        (data, self.workload, self.backend)
    }

    fn start_init(&mut self) {
        self.now = self.backend.wait(Some(Instant::ZERO)).max(Instant::ZERO);
        for i in 0..self.nodes.len() {
            let k = self.open_client(Role::Init(i));
            self.req.clear();
            let w = &mut super::workloads::fields(&mut self.req);
            w.str("node_id", &self.nodes[i]);
            w.arr("node_ids", |a| {
                for n in &self.nodes {
                    a.str(n);
                }
            });
            self.client_send(k, i, "init", Duration::from_secs(10));
        }
        self.pending_setup = self.nodes.len();
    }

    fn abort(&mut self, why: String) {
        if self.aborted.is_none() {
            self.aborted = Some(why);
        }
        self.phase = Phase::Done;
    }

    fn start_setup(&mut self) {
        self.phase = Phase::Setup;
        self.pending_setup = 0;
        for i in 0..self.nodes.len() {
            let k = self.open_client(Role::Setup(i));
            self.req.clear();
            if let Some(kind) = self.workload.setup(i, &self.nodes, self.opts, &mut self.req) {
                self.pending_setup += 1;
                self.client_send(k, i, kind, Duration::from_secs(5));
            }
        }
        if self.pending_setup == 0 {
            self.start_main();
        }
    }

    fn start_main(&mut self) {
        self.phase = Phase::Main;
        self.t0 = self.now;
        self.net.journal.start_main(self.t0);
        self.limit = self.t0 + Duration::from_secs(self.opts.time_limit);
        if self.opts.rate > 0.0 {
            self.gen_target = self.now;
            self.schedule(self.now, Ev::Generate);
        } else {
            // Maelstrom's `core.clj` runs `(gen/sleep time-limit)` when the rate is 0: the
            // phase lasts exactly the time limit.
            self.schedule(self.limit, Ev::TimeLimit);
        }
        if self.opts.partition {
            self.nemesis_next = Some(self.now);
            self.schedule(self.now, Ev::Nemesis);
        }
    }

    /// Jepsen's interpreter marks a thread busy for every operation it dispatches
    /// (`context/busy-thread` in `generator/context.clj`), which also advances the context's
    /// `next-thread-index` by one, modulo every thread including the nemesis.
    fn busy_thread(&mut self) {
        self.next_thread = (self.next_thread + 1) % (self.threads.len() + 1);
    }

    /// Ends the main phase the way Jepsen's `time-limit` does (`TimeLimit` in
    /// `generator.clj`): the generator is exhausted as soon as the soonest operation it would
    /// emit next (the client stagger's `next-time`, or the nemesis's) is at or past the cutoff.
    /// The interpreter asks right after each dispatch, so this is decided when the last
    /// operation before the cutoff is emitted, not at the cutoff itself. A client operation
    /// that waits for a free thread (`:pending`) does not count until a thread frees: `any`
    /// (`soonest-op-map`) prefers any operation to a pending one, so while every client
    /// thread is busy the nemesis's next operation alone decides, and one due past the cutoff
    /// ends the phase early (kafka with latency and partitions, whose few threads are mostly
    /// busy, ends its main phase seconds early in Maelstrom too).
    fn maybe_end_main(&mut self) {
        if self.phase != Phase::Main || self.opts.rate <= 0.0 {
            return;
        }
        let client = (!self.gen_waiting).then_some(self.gen_target);
        let soonest = match (client, self.nemesis_next) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if soonest.is_some_and(|t| t >= self.limit) {
            self.phase = Phase::Draining;
            self.check_drained();
        }
    }

    fn event_loop(&mut self) {
        let mut bar = super::progress::Bar::new(!self.opts.quiet);
        while self.phase != Phase::Done {
            let next_ev = self.events.peek().map(|Reverse((t, _, _))| *t);
            let next_timer = self.backend.next_timer();
            let next = match (next_ev, next_timer) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if self.phase != Phase::Init && self.phase != Phase::Setup {
                // A hard stop far past any legitimate end (final phases end within seconds).
                let horizon = self.t0 + Duration::from_secs(self.opts.time_limit + 180);
                if self.now > horizon {
                    self.abort("the test ran 180 s past its time limit without finishing".into());
                    break;
                }
            }
            if self.backend.is_virtual() {
                let Some(t) = next else {
                    self.abort("nothing left to happen: the run is stuck".into());
                    break;
                };
                self.now = self.now.max(t);
            } else {
                self.now = self.now.max(self.backend.wait(next));
            }
            self.route_output();
            if next_timer.is_some_and(|t| t <= self.now) {
                self.backend.fire_timers(self.now);
                self.route_output();
            }
            while let Some(Reverse((t, _, _))) = self.events.peek() {
                if *t > self.now {
                    break;
                }
                let Some(Reverse((_, _, ev))) = self.events.pop() else { break };
                self.handle(ev);
                self.route_output();
                if self.phase == Phase::Done {
                    break;
                }
            }
            if bar.is_on() && bar.due() {
                let line = self.progress_line(bar.elapsed());
                bar.draw(&line);
            }
        }
        bar.finish();
    }

    /// The progress bar's line: test time against the test's length, operations so far and
    /// how they completed.
    fn progress_line(&self, wall: f64) -> String {
        let total =
            self.opts.time_limit as f64 + if self.workload.final_phase() { 10.0 } else { 0.0 };
        let t = if self.phase == Phase::Init || self.phase == Phase::Setup {
            0.0
        } else {
            self.secs(self.now)
        };
        let [ok, fail, info] = self.done_counts;
        format!(
            "{} {t:.1} / {total:.0} s test time, {}: {} ops ({ok} ok, {fail} fail, {info} info), {} msgs, {wall:.1} s wall",
            super::progress::gauge(t / total.max(1.0), 24),
            format!("{:?}", self.phase).to_lowercase(),
            self.history.invocations(),
            self.net.stats.all.msg_count,
        )
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Deliver(dest) => self.deliver(dest),
            Ev::Generate => self.generate(),
            Ev::ClientTimeout { client, msg_id } => {
                if self.clients[client].pending == Some(msg_id) {
                    self.clients[client].pending = None;
                    self.client_result(client, RpcResult::Timeout);
                }
            }
            Ev::Nemesis => self.nemesis(),
            Ev::TimeLimit => {
                if self.phase == Phase::Main {
                    self.phase = Phase::Draining;
                    self.check_drained();
                }
            }
            Ev::QuietOver => self.start_final(),
            Ev::FinalLimit => {
                self.final_cap_hit = true;
                for t in &mut self.threads {
                    t.finished = true;
                    t.deferred = None;
                }
                self.check_final_done();
            }
            Ev::FinalOp(t) => {
                if self.phase == Phase::Final && !self.threads[t].finished {
                    if let Some((f, v)) = self.threads[t].deferred.take() {
                        self.invoke(t, f, v, true);
                    }
                }
            }
        }
    }

    fn nemesis(&mut self) {
        self.nemesis_next = None;
        if self.phase != Phase::Main {
            return;
        }
        if self.now >= self.limit {
            // Woken at or past the cutoff (real time): the operation is stamped now and
            // dropped, which ends the phase, as in `generate`.
            self.nemesis_next = Some(self.now);
            self.maybe_end_main();
            return;
        }
        self.busy_thread();
        let t = self.secs(self.now);
        if self.nemesis_on {
            self.net.heal();
            self.nemesis_on = false;
            if let Some(p) = self.partitions.last_mut() {
                p.end_s = Some(t);
            }
            self.record_stop();
        } else {
            let shape = *self.rng_nemesis.pick(&nemesis::SHAPES);
            let g = nemesis::grudge(shape, self.nodes.len(), &mut self.rng_nemesis);
            self.record_start(shape, &g);
            self.net.set_partition(g);
            self.nemesis_on = true;
            self.partitions.push(PartitionSpan { start_s: t, end_s: None, shape });
        }
        let gap = self.rng_nemesis.unit() * 2.0 * self.opts.nemesis_interval;
        let at = self.now + Duration::from_secs_f64(gap);
        self.nemesis_next = Some(at);
        self.schedule(at, Ev::Nemesis);
        self.maybe_end_main();
    }

    /// Heals before the final phase. With the nemesis on, Maelstrom's final generator
    /// always issues `:stop-partition`, whether or not a partition is on.
    fn heal(&mut self) {
        if self.nemesis_on {
            self.net.heal();
            self.nemesis_on = false;
            let t = self.secs(self.now);
            if let Some(p) = self.partitions.last_mut() {
                p.end_s = Some(t);
            }
        }
        if self.opts.partition {
            self.record_stop();
        }
    }

    /// Records a nemesis invocation and its completion, at the same instant (the bench's
    /// nemesis acts at once).
    fn record_nemesis(&mut self, f: &'static str, invoke: NemesisValue, complete: NemesisValue) {
        let time = self.now.saturating_since(self.t0).as_nanos() as u64;
        let before = self.history.ops.len();
        for (invocation, value) in [(true, invoke), (false, complete)] {
            self.nemesis_ops.push(NemesisOp { before, time, invocation, f, value });
        }
    }

    fn record_stop(&mut self) {
        self.record_nemesis("stop-partition", NemesisValue::Nil, NemesisValue::Healed);
    }

    /// `blocked[dest][src]`: `dest` drops what `src` sends, so `dest`'s grudge holds `src`.
    fn record_start(&mut self, shape: Shape, blocked: &[Vec<bool>]) {
        let grudge = blocked
            .iter()
            .enumerate()
            .map(|(d, row)| {
                let srcs = row
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| **b)
                    .map(|(s, _)| self.nodes[s].clone())
                    .collect();
                (self.nodes[d].clone(), srcs)
            })
            .collect();
        self.record_nemesis(
            "start-partition",
            NemesisValue::Spec(shape),
            NemesisValue::Isolated(grudge),
        );
    }

    fn generate(&mut self) {
        if self.phase != Phase::Main {
            return;
        }
        if self.now >= self.limit {
            // In real time the wake-up for an operation due before the cutoff can come after
            // it. Jepsen stamps the operation with the time it is asked for, and `time-limit`
            // drops an operation stamped at or past the cutoff, ending the phase.
            self.gen_waiting = false;
            self.gen_target = self.now;
            self.maybe_end_main();
            return;
        }
        match self.free_thread() {
            Some(t) => self.emit(t),
            None => {
                self.gen_waiting = true;
                self.maybe_end_main();
            }
        }
    }

    /// The thread Jepsen gives the next operation (`some-free-process` in
    /// `generator/context.clj`): the first free worker at or after `next-thread-index`,
    /// wrapping around to the lowest free one. Successive operations therefore go round the
    /// threads (and so round the nodes, thread `t` being bound to node `t mod n`) instead of
    /// landing on random ones.
    fn free_thread(&self) -> Option<usize> {
        let free = |t: &usize| self.threads[*t].running.is_none();
        (self.next_thread..self.threads.len())
            .find(free)
            .or_else(|| (0..self.threads.len()).find(free))
    }

    /// Emits the next main-phase operation on free thread `t` and schedules the next one.
    fn emit(&mut self, t: usize) {
        self.gen_waiting = false;
        self.workload.set_clock(self.now.saturating_since(self.t0));
        if let Some((f, value)) = self.workload.next_op(t, &mut self.rng_gen) {
            self.invoke(t, f, value, false);
        }
        // Jepsen's `stagger` (`Stagger` in `generator.clj`, as 0.3.7 has it): the next
        // operation is due a uniform random gap in [0, 2/rate) after the time this one was
        // actually emitted, so a wait for a free thread (or, in real time, a late wake-up)
        // shifts the rest of the schedule instead of being caught up.
        let gap = Duration::from_secs_f64(self.rng_gen.unit() * 2.0 / self.opts.rate);
        self.gen_target = self.now + gap;
        self.schedule(self.gen_target, Ev::Generate);
        self.maybe_end_main();
    }

    fn invoke(&mut self, t: usize, f: &'static str, value: W::Value, is_final: bool) {
        self.busy_thread();
        let time = self.now.saturating_since(self.t0).as_nanos() as u64;
        let process = self.threads[t].process;
        self.history.push(Op {
            index: 0,
            time,
            process,
            kind: OpType::Invoke,
            f,
            value: value.clone(),
            error: None,
            is_final,
        });
        self.threads[t].running = Some(Running { f, value, is_final });
        self.req.clear();
        let running = self.threads[t].running.as_ref().expect("just set");
        let step = self.workload.begin(t, running.f, &running.value, &mut self.req);
        self.step(t, step);
    }

    /// Acts on a workload step for thread `t`.
    fn step(&mut self, t: usize, step: Step<W::Value>) {
        match step {
            Step::Send(kind) => {
                let k = match self.threads[t].client {
                    Some(k) => k,
                    None => {
                        let k = self.open_client(Role::Worker(t));
                        self.threads[t].client = Some(k);
                        k
                    }
                };
                let node = self.threads[t].node;
                let timeout = self.workload.rpc_timeout();
                self.client_send(k, node, kind, timeout);
            }
            Step::Done(done) => {
                let running =
                    self.threads[t].running.take().expect("a step belongs to a running op");
                let time = self.now.saturating_since(self.t0).as_nanos() as u64;
                let process = self.threads[t].process;
                self.history.push(Op {
                    index: 0,
                    time,
                    process,
                    kind: done.kind,
                    f: running.f,
                    value: done.value,
                    error: done.error,
                    is_final: running.is_final,
                });
                self.done_counts[match done.kind {
                    OpType::Ok => 0,
                    OpType::Fail => 1,
                    _ => 2,
                }] += 1;
                if done.kind == OpType::Info {
                    self.threads[t].process += self.threads.len();
                    if !self.workload.reusable_client() {
                        if let Some(k) = self.threads[t].client.take() {
                            self.close_client(k);
                        }
                        self.workload.client_closed(t);
                    }
                }
                self.thread_free(t);
            }
        }
    }

    fn thread_free(&mut self, t: usize) {
        match self.phase {
            // A pending operation takes the thread that frees, unless it would now start at
            // or past the cutoff, which `time-limit` drops, ending the phase.
            Phase::Main if self.gen_waiting && self.now >= self.limit => {
                self.gen_waiting = false;
                self.gen_target = self.now;
                self.maybe_end_main();
            }
            Phase::Main if self.gen_waiting => self.emit(t),
            Phase::Draining => self.check_drained(),
            Phase::Final => self.final_next(t),
            _ => {}
        }
    }

    fn check_drained(&mut self) {
        if self.threads.iter().any(|t| t.running.is_some()) {
            return;
        }
        if self.workload.final_phase() {
            self.heal();
            self.phase = Phase::Quiet;
            self.schedule(self.now + Duration::from_secs(10), Ev::QuietOver);
        } else {
            self.phase = Phase::Done;
        }
    }

    fn start_final(&mut self) {
        self.phase = Phase::Final;
        if let Some(cap) = self.workload.final_phase_limit() {
            self.schedule(self.now + cap, Ev::FinalLimit);
        }
        for t in 0..self.threads.len() {
            self.final_next(t);
        }
        self.check_final_done();
    }

    fn final_next(&mut self, t: usize) {
        if self.threads[t].running.is_some() || self.threads[t].deferred.is_some() {
            return;
        }
        if !self.threads[t].finished {
            self.workload.set_clock(self.now.saturating_since(self.t0));
            match self.workload.next_final(t, &mut self.rng_gen) {
                Some((f, v)) => {
                    let delay = self.workload.final_delay(t);
                    if delay.is_zero() {
                        self.invoke(t, f, v, true);
                    } else {
                        self.threads[t].deferred = Some((f, v));
                        self.schedule(self.now + delay, Ev::FinalOp(t));
                    }
                    return;
                }
                None => self.threads[t].finished = true,
            }
        }
        self.check_final_done();
    }

    fn check_final_done(&mut self) {
        if self.phase == Phase::Final
            && self.threads.iter().all(|t| t.finished && t.running.is_none())
        {
            self.phase = Phase::Done;
        }
    }

    /// A reply (or timeout) for client `k`'s pending request.
    fn client_result(&mut self, k: usize, result: RpcResult<'_, '_, '_>) {
        match self.clients[k].role {
            Role::Init(node) => {
                let ok = matches!(&result, RpcResult::Reply(m) if m.kind == "init_ok");
                self.close_client(k);
                if !ok {
                    let why = match result {
                        RpcResult::Timeout => "no init_ok within 10 s".to_owned(),
                        RpcResult::Error { code, text } => format!("init failed: {code}: {text}"),
                        RpcResult::Reply(m) => format!("init answered with {}", m.kind),
                    };
                    self.abort(format!("node {}: {why}", self.nodes[node]));
                    return;
                }
                self.pending_setup -= 1;
                if self.pending_setup == 0 {
                    self.start_setup();
                }
            }
            Role::Setup(node) => {
                let ok = match &result {
                    RpcResult::Reply(m) => {
                        let kind = format!("{}_ok", m.kind.trim_end_matches("_ok"));
                        super::workloads::check_schema(m, &kind, &[]).is_ok()
                    }
                    _ => false,
                };
                if !ok {
                    let why = match result {
                        RpcResult::Timeout => "no reply within 5 s".to_owned(),
                        RpcResult::Error { code, text } => format!("{code}: {text}"),
                        RpcResult::Reply(m) => format!("malformed {} reply", m.kind),
                    };
                    self.abort(format!("setup of node {} failed: {why}", self.nodes[node]));
                    return;
                }
                self.pending_setup -= 1;
                if self.pending_setup == 0 {
                    self.start_main();
                }
            }
            Role::Worker(t) => {
                let Some(running) = self.threads[t].running.take() else { return };
                self.req.clear();
                let step =
                    self.workload.on_reply(t, running.f, &running.value, result, &mut self.req);
                self.threads[t].running = Some(running);
                self.step(t, step);
            }
        }
    }

    fn deliver(&mut self, dest: Addr) {
        let (packet, next) = self.net.deliver(self.now, dest);
        if let Some(at) = next {
            self.schedule(at, Ev::Deliver(dest));
        }
        let Some(p) = packet else { return };
        let mut h = self.trace ^ self.now.as_micros();
        h = h.wrapping_mul(0x0100_0000_01b3) ^ fnv1a(&p.line);
        self.trace = h.rotate_left(17);
        if self.opts.log_net_recv {
            let t = self.secs(self.now);
            self.net_log.push(format!("{t:.6} recv {}", String::from_utf8_lossy(&p.line)));
        }
        match dest {
            // A node whose stdout is dead still gets its input, as in Maelstrom.
            Addr::Node(i) => self.backend.deliver(self.now, i, &p.line),
            Addr::Service(s) => {
                self.scratch.clear();
                self.services.handle(s, &p.line, &mut self.scratch);
                if !self.scratch.is_empty() {
                    let reply = std::mem::take(&mut self.scratch);
                    self.route_line(dest, &reply);
                    self.scratch = reply;
                }
            }
            Addr::Client(k) => self.client_receive(k, p.line),
        }
    }

    fn client_receive(&mut self, k: usize, mut line: Vec<u8>) {
        if !self.clients.get(k).is_some_and(|c| c.open) {
            return;
        }
        let Some(pending) = self.clients[k].pending else { return };
        let len = line.len();
        line.resize(len + PADDING, b' ');
        let mut parser = std::mem::take(&mut self.parser);
        parser.parse(&mut line, len, |m| {
            let Ok(msg) = m else { return };
            if msg.in_reply_to != Some(pending) {
                return;
            }
            self.clients[k].pending = None;
            let result = if msg.kind == "error" {
                let code = msg.get("code").and_then(|c| c.as_u64()).unwrap_or(13);
                let text = msg.get("text").and_then(|c| c.as_str()).unwrap_or("").to_owned();
                RpcResult::Error { code: ErrorCode::from_code(code), text }
            } else {
                RpcResult::Reply(&msg)
            };
            self.client_result(k, result);
        });
        self.parser = parser;
    }

    /// Routes everything nodes have printed.
    fn route_output(&mut self) {
        let mut out = std::mem::take(&mut self.outbox);
        self.backend.take_output(&mut out);
        for (node, line) in out.drain(..) {
            if !self.dead[node] {
                self.route_line(Addr::Node(node), &line);
            }
        }
        self.outbox = out;
    }

    fn node_fault(&mut self, node: usize, reason: String) {
        self.dead[node] = true;
        let t = self.secs(self.now);
        self.faults.push(NodeFault { node: self.nodes[node].clone(), time_s: t, reason });
    }

    /// Validates one line printed by `from` (a node or service) as Maelstrom does, and sends it.
    fn route_line(&mut self, from: Addr, raw: &[u8]) {
        let line = raw.trim_ascii();
        let mut copy = std::mem::take(&mut self.scratch);
        copy.clear();
        copy.extend_from_slice(line);
        let len = copy.len();
        copy.resize(len + PADDING, b' ');
        let mut parser = std::mem::take(&mut self.parser);
        let names = &self.names;
        let verdict: Result<(Addr, Addr), String> = parser.parse_value(&mut copy, len, |v| {
            let v = v.map_err(|e| format!("not JSON: {e}"))?.ok_or("empty line")?;
            let (src, dest) = envelope(v)?;
            let src = *names.get(src).ok_or_else(|| format!("unknown src `{src}`"))?;
            let dest = *names.get(dest).ok_or_else(|| format!("unknown dest `{dest}`"))?;
            Ok((src, dest))
        });
        self.parser = parser;
        self.scratch = copy;
        let (src, dest) = match verdict {
            Ok(v) => v,
            Err(why) => {
                if let Addr::Node(i) = from {
                    let excerpt: String =
                        String::from_utf8_lossy(&line[..line.len().min(200)]).into_owned();
                    self.node_fault(i, format!("invalid stdout line ({why}); Maelstrom stops reading this node: {excerpt}"));
                }
                return;
            }
        };
        let id = self.net.alloc_id();
        let mut framed = Vec::with_capacity(line.len() + 16);
        framed.extend_from_slice(b"{\"id\":");
        write_u64(&mut framed, id);
        let rest = &line[1..];
        if rest.trim_ascii_start().first() != Some(&b'}') {
            framed.push(b',');
        }
        framed.extend_from_slice(rest);
        if self.opts.log_net_send {
            let t = self.secs(self.now);
            self.net_log.push(format!("{t:.6} send {}", String::from_utf8_lossy(&framed)));
        }
        if let Some(at) = self.net.send(self.now, id, src, dest, framed) {
            self.schedule(at, Ev::Deliver(dest));
        }
    }
}

/// Checks a printed message against Maelstrom's closed top-level schema: only `src` and
/// `dest` (strings), `body` (an object; missing or null passes, as in Maelstrom) and an
/// optional integer `id`. Returns `(src, dest)`.
fn envelope<'i>(v: Val<'_, 'i>) -> Result<(&'i str, &'i str), String> {
    let top = v.as_object().ok_or("not a JSON object")?;
    let (mut src, mut dest) = (None, None);
    for (k, val) in top.iter() {
        match k {
            "src" => src = Some(val.as_str().ok_or("`src` is not a string")?),
            "dest" => dest = Some(val.as_str().ok_or("`dest` is not a string")?),
            "body" if val.as_object().is_some() || val.is_null() => {}
            "body" => return Err("`body` is not an object".into()),
            "id" if val.kind() == Kind::Int => {}
            other => return Err(format!("unexpected top-level key `{other}`")),
        }
    }
    Ok((src.ok_or("missing `src`")?, dest.ok_or("missing `dest`")?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::inproc::InProcess;
    use crate::sim::workloads::broadcast::BroadcastClient;
    use crate::sim::workloads::echo::EchoClient;

    fn opts(workload: &str, nodes: usize, rate: f64, seed: u64) -> TestOpts {
        TestOpts {
            workload: workload.into(),
            node_count: Some(nodes),
            time_limit: 5,
            rate,
            seed,
            store: None,
            quiet: true,
            ..TestOpts::default()
        }
    }

    fn machines(o: &TestOpts) -> InProcess {
        let n = o.nodes().len();
        InProcess::new(
            (0..n)
                .map(|i| {
                    crate::workload::machine(&o.workload, Vec::new(), i as u64).expect("a node")
                })
                .collect(),
        )
    }

    #[test]
    fn operations_go_round_the_threads_as_jepsen_hands_them_out() {
        // Echo answers at once, so every thread is free whenever an operation is due: the
        // k-th operation starts its search at index k mod 6 (five workers and the nemesis
        // thread), and index 5 wraps round to thread 0.
        let o = opts("echo", 5, 50.0, 3);
        let (data, _, _) = Engine::new(&o, EchoClient, machines(&o)).run();
        let threads: Vec<usize> = data
            .history
            .ops
            .iter()
            .filter(|op| op.kind == OpType::Invoke)
            .map(|op| op.process % 5)
            .collect();
        assert!(threads.len() > 100, "{}", threads.len());
        let expected: Vec<usize> = (0..threads.len()).map(|k| [0, 1, 2, 3, 4, 0][k % 6]).collect();
        assert_eq!(threads, expected);
    }

    /// The in-process nodes on a clock that wakes every wait `late` after it was asked to,
    /// as a loaded machine does in process mode.
    struct Late {
        inner: InProcess,
        late: Duration,
    }

    impl Backend for Late {
        fn is_virtual(&self) -> bool {
            false
        }
        fn deliver(&mut self, now: Instant, node: usize, line: &[u8]) {
            self.inner.deliver(now, node, line);
        }
        fn next_timer(&self) -> Option<Instant> {
            self.inner.next_timer()
        }
        fn fire_timers(&mut self, now: Instant) {
            self.inner.fire_timers(now);
        }
        fn wait(&mut self, until: Option<Instant>) -> Instant {
            until.expect("the engine waits for nothing: no event is left to end the run")
                + self.late
        }
        fn take_output(&mut self, sink: &mut Vec<(usize, Vec<u8>)>) {
            self.inner.take_output(sink);
        }
        fn take_logs(&mut self, logs: &mut [Vec<u8>]) {
            self.inner.take_logs(logs);
        }
        fn stop(&mut self) -> Vec<BackendFault> {
            self.inner.stop()
        }
    }

    #[test]
    fn late_wake_ups_shift_the_schedule_and_still_end_the_main_phase() {
        // Every wake-up comes 10 ms late, so each operation starts 10 ms after it was due and
        // the next gap counts from there (Jepsen's stagger): about 5 s / 30 ms operations
        // instead of 5 s / 20 ms. Wake-ups past the cutoff, of the stagger or of the nemesis,
        // must end the phase rather than leave it waiting for nothing.
        for seed in 0..6 {
            let o = TestOpts {
                partition: true,
                nemesis_interval: 0.2,
                ..opts("broadcast", 3, 50.0, seed)
            };
            let late = Late { inner: machines(&o), late: Duration::from_millis(10) };
            let (data, _, _) = Engine::new(&o, BroadcastClient::default(), late).run();
            assert!(data.aborted.is_none(), "seed {seed}: {:?}", data.aborted);
            let main: Vec<u64> = data
                .history
                .ops
                .iter()
                .filter(|op| op.kind == OpType::Invoke && !op.is_final)
                .map(|op| op.time)
                .collect();
            assert!(main.iter().all(|&t| t < 5_000_000_000), "seed {seed}: an op past the cutoff");
            assert!((130..=205).contains(&main.len()), "seed {seed}: {} ops", main.len());
            assert!(data.history.ops.iter().any(|op| op.is_final), "seed {seed}: no final reads");
        }
    }

    #[test]
    fn with_every_thread_busy_the_nemesis_alone_decides_the_time_limit() {
        let o = TestOpts { partition: true, ..opts("broadcast", 3, 10.0, 1) };
        let mut e = Engine::new(&o, BroadcastClient::default(), machines(&o));
        e.phase = Phase::Main;
        e.limit = Instant::from_millis(20_000);
        e.gen_target = Instant::from_millis(19_990);
        e.nemesis_next = Some(Instant::from_millis(23_000));
        e.maybe_end_main();
        assert_eq!(e.phase, Phase::Main, "the client's next operation comes before the cutoff");
        e.gen_waiting = true;
        e.maybe_end_main();
        assert_eq!(e.phase, Phase::Quiet, "a pending client does not hold the phase open");
        let mut e = Engine::new(&o, BroadcastClient::default(), machines(&o));
        e.phase = Phase::Main;
        e.limit = Instant::from_millis(20_000);
        e.gen_waiting = true;
        e.nemesis_next = Some(Instant::from_millis(19_000));
        e.maybe_end_main();
        assert_eq!(e.phase, Phase::Main, "the nemesis acts once more before the cutoff");
    }

    #[test]
    fn the_main_phase_ends_when_the_next_operation_would_pass_the_cutoff() {
        for seed in 0..4 {
            let o = opts("broadcast", 3, 20.0, seed);
            let (data, _, _) = Engine::new(&o, BroadcastClient::default(), machines(&o)).run();
            let ops = &data.history.ops;
            let main: Vec<u64> = ops
                .iter()
                .filter(|op| op.kind == OpType::Invoke && !op.is_final)
                .map(|op| op.time)
                .collect();
            let last_main = *main.last().expect("main-phase operations");
            let last_done = ops.iter().filter(|op| !op.is_final).map(|op| op.time).max();
            let first_final =
                ops.iter().find(|op| op.is_final).map(|op| op.time).expect("final reads");
            assert!(last_main < 5_000_000_000, "seed {seed}: an op at or past the cutoff");
            // The 10 s of quiet start once the last main operation completes, which is
            // before the cutoff: Jepsen's time-limit gave up when the stagger's next time
            // passed it.
            let quiet_from = last_done.expect("completions");
            assert_eq!(first_final, quiet_from + 10_000_000_000, "seed {seed}");
            assert!(quiet_from < 5_000_000_000, "seed {seed}: {quiet_from}");
            // The stagger's gaps are uniform in [0, 2/rate): about rate * limit operations.
            assert!((70..=130).contains(&main.len()), "seed {seed}: {}", main.len());
        }
    }
}
