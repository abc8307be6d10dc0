//! lin-kv: Maelstrom's linearizable key-value workload (Jepsen's `linearizable-register` test
//! over independent keys): the generator, the `read`/`write`/`cas` client with its closed reply
//! schemas, and the per-key linearizability check ([`linear`]).
//!
//! # The generator, as Jepsen 0.3.7 builds it for Maelstrom
//!
//! Maelstrom's `lin-kv` workload is `(lin-reg/test {:nodes nodes})`, whose generator is
//! `(independent/concurrent-generator (* 2 n) (range) (fn [k] (process-limit 20 (reserve n r
//! (mix [w cas cas])))))`, `n` the node count. What that does:
//!
//! - **Groups.** The worker threads, sorted, are cut into groups of `2n`; each group works on
//!   one key at a time, starting with keys `0, 1, ...` in group order. Jepsen asserts that the
//!   thread count is a multiple of `2n` and at least `2n`, so Maelstrom's default
//!   `--concurrency 1n` (and, say, `3n`) crashes the test before any operation; the bench
//!   refuses those flags with Jepsen's explanation ([`check_opts`]).
//! - **Reads and writes.** `reserve n r ...` gives reads to the threads *named* `0..n` and the
//!   mix to every other thread. Jepsen's reserve matches thread names, not positions inside the
//!   group, so only group 0 ever reads: with `--concurrency 4n` the second group's `2n` threads
//!   all write and CAS (a known quirk, noted in Jepsen's own source). The mix picks write, cas,
//!   cas uniformly per operation; written values and both CAS values are `rand-int 5` (0..=4).
//! - **Keys advance** only through `process-limit 20`: a key's generator ends once the group's
//!   processes, counted since the key began, exceed 20. A group starts with `2n` processes and
//!   gains one each time one of its operations ends `info` (Jepsen then gives the thread a new
//!   process), so a key ends after `21 - 2n` indeterminate operations, and the group takes the
//!   next unused key. With no `--per-key-limit` (Maelstrom passes none) nothing else ends a
//!   key: a healthy cluster may run the whole test on keys `0..groups`. With more than 10 nodes
//!   (`2n > 20`) every key is exhausted before its first operation and Jepsen's generator spins
//!   forever; the bench refuses that too.
//! - Operations are staggered at `--rate` over all threads by the engine; each goes to a free
//!   thread picked at random (Jepsen picks a free group, then a free thread; the mix of
//!   reads and writes comes out the same).
//!
//! # The client
//!
//! `read {key}` → `read_ok {value}`, `write {key, value}` → `write_ok`, `cas {key, from, to}` →
//! `cas_ok`; every reply schema is closed. Errors go through `with-errors #{:read}`: reads are
//! idempotent, so any error or timeout of a read is a `fail`; a write or CAS fails on a definite
//! error (20 key does not exist, 22 precondition failed, ...) and is `info` on a timeout or an
//! indefinite error. A malformed reply is an exception in Maelstrom, hence `info`. The RPC
//! timeout is `max(10 × --latency, 1000)` ms, and the client is reusable (a thread keeps its
//! client id after an `info`, although Jepsen still gives it a new process number).
//!
//! History values are Jepsen's independent tuples: `[k, v]` for reads and writes (`[k, null]`
//! on a read's invocation) and `[k, [from, to]]` for CAS.

pub mod linear;
pub mod subjects;

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde::ser::{SerializeSeq, Serializer};

use super::txn::Jv;
use super::{Check, ClientWorkload, Done, RpcResult, Step, Ty, Validity, check_schema, fields};
use crate::rng::Rng;
use crate::sim::history::{History, OpType};
use crate::sim::opts::TestOpts;

/// Jepsen's `process-limit` for a key in `linearizable-register`.
pub const PROCESS_LIMIT: usize = 20;

/// A lin-kv operation's value: Jepsen's `[k v]` tuple.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvValue {
    /// `read`: `null` on invocation, the value read on an ok completion.
    Read {
        /// The key.
        key: u64,
        /// The value (`null` until read, or read as `null`).
        value: Jv,
    },
    /// `write`.
    Write {
        /// The key.
        key: u64,
        /// The value written.
        value: i64,
    },
    /// `cas`.
    Cas {
        /// The key.
        key: u64,
        /// The expected value.
        from: i64,
        /// The new value.
        to: i64,
    },
}

impl KvValue {
    /// The key.
    pub fn key(&self) -> u64 {
        match self {
            KvValue::Read { key, .. } | KvValue::Write { key, .. } | KvValue::Cas { key, .. } => {
                *key
            }
        }
    }
}

impl Serialize for KvValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut q = s.serialize_seq(Some(2))?;
        match self {
            KvValue::Read { key, value } => {
                q.serialize_element(key)?;
                q.serialize_element(value)?;
            }
            KvValue::Write { key, value } => {
                q.serialize_element(key)?;
                q.serialize_element(value)?;
            }
            KvValue::Cas { key, from, to } => {
                q.serialize_element(key)?;
                q.serialize_element(&[from, to])?;
            }
        }
        q.end()
    }
}

impl fmt::Display for KvValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvValue::Read { value, .. } => write!(f, "read {value}"),
            KvValue::Write { value, .. } => write!(f, "write {value}"),
            KvValue::Cas { from, to, .. } => write!(f, "cas {from}->{to}"),
        }
    }
}

/// Refuses flags under which Maelstrom's lin-kv generator cannot run, with Jepsen's reasons.
pub fn check_opts(opts: &TestOpts) -> Result<(), String> {
    let n = opts.nodes().len();
    let group = 2 * n;
    let threads = opts.threads();
    if group > PROCESS_LIMIT {
        return Err(format!(
            "lin-kv with {n} nodes: Jepsen's concurrent-generator gives each key {group} threads, \
             over the register test's process limit of {PROCESS_LIMIT}, so every key is used up \
             before its first operation and Maelstrom's generator spins forever; use at most \
             {} nodes",
            PROCESS_LIMIT / 2
        ));
    }
    if threads < group {
        return Err(format!(
            "lin-kv: with {threads} worker threads, Jepsen's concurrent-generator cannot run a \
             key with {group} threads concurrently (Maelstrom fails the same way); raise \
             --concurrency to at least {group} (2n)"
        ));
    }
    if threads % group != 0 {
        return Err(format!(
            "lin-kv: Jepsen's concurrent-generator has {threads} threads but can only use {} of \
             them to run {} keys with {group} threads apiece (Maelstrom fails the same way); \
             use a --concurrency that is a multiple of {group} (2n)",
            group * (threads / group),
            threads / group
        ));
    }
    Ok(())
}

/// One group of `2n` threads and the key it works on.
#[derive(Debug)]
struct Group {
    key: u64,
    /// `info` completions of the group's operations since `key` began: each is a new process.
    crashes: usize,
}

/// The lin-kv client workload.
#[derive(Debug)]
pub struct LinKvClient {
    nodes: usize,
    groups: Vec<Group>,
    next_key: u64,
    timeout: Duration,
    /// The search budget of the checker (states per key).
    budget: u64,
}

const READ_OK: &[(&str, Ty)] = &[("value", Ty::Any)];
const EMPTY_OK: &[(&str, Ty)] = &[];

impl LinKvClient {
    /// The client workload for these options (which [`check_opts`] accepted).
    pub fn new(opts: &TestOpts) -> Self {
        let nodes = opts.nodes().len().max(1);
        let group_count = (opts.threads() / (2 * nodes)).max(1);
        LinKvClient {
            nodes,
            groups: (0..group_count as u64).map(|key| Group { key, crashes: 0 }).collect(),
            next_key: group_count as u64,
            timeout: Duration::from_millis((10 * opts.latency).max(1000)),
            budget: opts.search_budget.unwrap_or(linear::Options::default().max_states),
        }
    }

    fn group_of(&self, thread: usize) -> usize {
        (thread / (2 * self.nodes)).min(self.groups.len() - 1)
    }
}

impl ClientWorkload for LinKvClient {
    type Value = KvValue;

    fn reusable_client(&self) -> bool {
        true
    }

    fn final_phase(&self) -> bool {
        false
    }

    fn rpc_timeout(&self) -> Duration {
        self.timeout
    }

    fn next_op(&mut self, thread: usize, rng: &mut Rng) -> Option<(&'static str, KvValue)> {
        let g = self.group_of(thread);
        // process-limit: the group's processes since the key began are its 2n threads' first
        // processes plus one per info.
        if 2 * self.nodes + self.groups[g].crashes > PROCESS_LIMIT {
            self.groups[g] = Group { key: self.next_key, crashes: 0 };
            self.next_key += 1;
        }
        let key = self.groups[g].key;
        if thread < self.nodes {
            return Some(("read", KvValue::Read { key, value: Jv::Null }));
        }
        // `rand-int 5` for the written value and for both CAS values.
        Some(match rng.below(3) {
            0 => ("write", KvValue::Write { key, value: rng.below(5) as i64 }),
            _ => {
                let from = rng.below(5) as i64;
                ("cas", KvValue::Cas { key, from, to: rng.below(5) as i64 })
            }
        })
    }

    fn next_final(&mut self, _: usize, _: &mut Rng) -> Option<(&'static str, KvValue)> {
        None
    }

    fn begin(
        &mut self,
        _: usize,
        f: &'static str,
        v: &KvValue,
        req: &mut Vec<u8>,
    ) -> Step<KvValue> {
        let w = &mut fields(req);
        match v {
            KvValue::Read { key, .. } => {
                w.u64("key", *key);
            }
            KvValue::Write { key, value } => {
                w.u64("key", *key).i64("value", *value);
            }
            KvValue::Cas { key, from, to } => {
                w.u64("key", *key).i64("from", *from).i64("to", *to);
            }
        }
        Step::Send(f)
    }

    fn on_reply(
        &mut self,
        thread: usize,
        f: &'static str,
        v: &KvValue,
        result: RpcResult<'_, '_, '_>,
        _: &mut Vec<u8>,
    ) -> Step<KvValue> {
        let step = reply_step(f, v, result);
        if let Step::Done(Done { kind: OpType::Info, .. }) = &step {
            let g = self.group_of(thread);
            self.groups[g].crashes += 1;
        }
        step
    }

    fn check(&self, history: &History<KvValue>, _: &TestOpts) -> Check {
        check_history(history, &linear::Options { max_states: self.budget, ..Default::default() })
    }
}

/// The client's reading of one RPC result: `with-errors #{:read}` and the closed schemas.
fn reply_step(f: &'static str, v: &KvValue, result: RpcResult<'_, '_, '_>) -> Step<KvValue> {
    if let Some(done) = result.failure(v.clone(), f == "read") {
        return done;
    }
    let RpcResult::Reply(msg) = result else { unreachable!("failure() handled errors") };
    let (kind, schema) = match v {
        KvValue::Read { .. } => ("read_ok", READ_OK),
        KvValue::Write { .. } => ("write_ok", EMPTY_OK),
        KvValue::Cas { .. } => ("cas_ok", EMPTY_OK),
    };
    if let Err(why) = check_schema(msg, kind, schema) {
        return Done::err(
            OpType::Info,
            v.clone(),
            format!("indeterminate: malformed-rpc-response: {why}"),
        );
    }
    match v {
        KvValue::Read { key, .. } => {
            let value = msg.get("value").map_or(Jv::Null, Jv::from_val);
            Done::ok(KvValue::Read { key: *key, value })
        }
        _ => Done::ok(v.clone()),
    }
}

/// Windows shown in the console summary, and kept in `results.json`.
const CONSOLE_WINDOWS: usize = 3;
const JSON_WINDOWS: usize = 20;
/// Operations of a window shown in the console, and kept in `results.json`.
const CONSOLE_WINDOW_OPS: usize = 12;
const JSON_WINDOW_OPS: usize = 200;

/// One key's verdict in `results.json`.
#[derive(Serialize)]
struct KeyResult {
    key: u64,
    valid: Validity,
    /// Operations the search ordered.
    ops: usize,
    states: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    unknown: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    window: Option<WindowOut>,
}

/// An invalid key's window in `results.json`.
#[derive(Serialize)]
struct WindowOut {
    /// Seconds of test time at the window's first and last history entries.
    start_s: f64,
    end_s: f64,
    /// History indices of those entries.
    start_index: u64,
    end_index: u64,
    /// Whether the window starts at the key's first operation from nil (else from any value).
    from_initial: bool,
    /// Whether shrinking finished within the budget.
    minimal: bool,
    states: u64,
    ops_total: usize,
    ops: Vec<WindowOpOut>,
}

/// An operation of a window.
#[derive(Serialize)]
struct WindowOpOut {
    /// `core`, `inside` or `maybe` (see [`linear::Role`]).
    role: &'static str,
    process: usize,
    f: &'static str,
    value: KvValue,
    #[serde(rename = "type")]
    kind: OpType,
    invoke_index: usize,
    complete_index: Option<usize>,
    invoke_s: f64,
    complete_s: Option<f64>,
}

/// One key's operations for the checker, with their history entries.
struct KeyOps<'h> {
    ops: Vec<linear::Op<Jv>>,
    pairs: Vec<crate::sim::history::Pair<'h, KvValue>>,
}

fn register_value(v: &Jv) -> Option<Jv> {
    (!v.is_null()).then(|| v.clone())
}

/// Judges a lin-kv history as Maelstrom does: Jepsen's independent checker splits it by key,
/// and each key's operations must be linearizable against Knossos's CAS register starting at
/// nil ([`linear`]). Read errors are failures (never happened), a `read_ok` of null is a nil
/// read, possible in any state, as in Knossos.
pub fn check_history(history: &History<KvValue>, opts: &linear::Options) -> Check {
    use std::fmt::Write as _;
    let started = std::time::Instant::now();
    let mut keys: std::collections::BTreeMap<u64, KeyOps<'_>> = Default::default();
    for p in history.pairs() {
        let inv = p.invoke;
        let status = match p.complete.map(|c| c.kind) {
            Some(OpType::Ok) => linear::Status::Ok,
            Some(OpType::Fail) => linear::Status::Fail,
            _ => linear::Status::Info,
        };
        let f = match (&inv.value, p.complete) {
            (KvValue::Read { .. }, Some(c)) if c.kind == OpType::Ok => match &c.value {
                KvValue::Read { value, .. } => linear::Call::Read(register_value(value)),
                _ => linear::Call::Read(None),
            },
            (KvValue::Read { .. }, _) => linear::Call::Read(None),
            (KvValue::Write { value, .. }, _) => linear::Call::Write(Some(Jv::Int(*value))),
            (KvValue::Cas { from, to, .. }, _) => {
                linear::Call::Cas(Some(Jv::Int(*from)), Some(Jv::Int(*to)))
            }
        };
        let op = linear::Op {
            process: inv.process as u64,
            call: inv.index as u64,
            ret: p.complete.map(|c| c.index as u64),
            status,
            f,
        };
        let k = keys
            .entry(inv.value.key())
            .or_insert_with(|| KeyOps { ops: Vec::new(), pairs: Vec::new() });
        k.ops.push(op);
        k.pairs.push(p);
    }
    let secs = |index: u64| {
        let i = (index as usize).min(history.ops.len().saturating_sub(1));
        history.ops.get(i).map_or(0.0, |o| o.time as f64 / 1e9)
    };
    let mut results = Vec::with_capacity(keys.len());
    let (mut invalid, mut unknown) = (Vec::new(), Vec::new());
    let (mut searched, mut states, mut nil_reads, mut fails, mut info_reads) = (0, 0, 0, 0, 0);
    let mut details = Vec::new();
    for (&key, k) in &keys {
        let report = match linear::check(&k.ops, None, opts) {
            Ok(r) => r,
            Err(e) => {
                // History positions are consistent by construction; say so if not.
                unknown.push(key);
                results.push(KeyResult {
                    key,
                    valid: Validity::Unknown,
                    ops: 0,
                    states: 0,
                    unknown: Some(format!("unreadable history: {e}")),
                    window: None,
                });
                continue;
            }
        };
        searched += report.searched;
        states += report.states;
        nil_reads += report.dropped.nil_reads;
        fails += report.dropped.fails;
        info_reads += report.dropped.info_reads;
        let valid = match report.verdict {
            linear::Verdict::Valid => Validity::True,
            linear::Verdict::Invalid => {
                invalid.push(key);
                Validity::False
            }
            linear::Verdict::Unknown => {
                unknown.push(key);
                Validity::Unknown
            }
        };
        if let Some(why) = &report.unknown {
            details.push(format!("  key {key}: unknown, {why} (raise --search-budget)"));
        }
        let window = report.window.as_ref().filter(|_| invalid.len() <= JSON_WINDOWS).map(|w| {
            let ops: Vec<WindowOpOut> = w
                .ops
                .iter()
                .take(JSON_WINDOW_OPS)
                .map(|o| {
                    let p = &k.pairs[o.index];
                    let c = p.complete;
                    WindowOpOut {
                        role: match o.role {
                            linear::Role::Core => "core",
                            linear::Role::Inside => "inside",
                            linear::Role::Maybe => "maybe",
                        },
                        process: p.invoke.process,
                        f: p.invoke.f,
                        value: c
                            .filter(|c| c.kind == OpType::Ok)
                            .map_or(&p.invoke.value, |c| &c.value)
                            .clone(),
                        kind: c.map_or(OpType::Info, |c| c.kind),
                        invoke_index: p.invoke.index,
                        complete_index: c.map(|c| c.index),
                        invoke_s: p.invoke.time as f64 / 1e9,
                        complete_s: c.map(|c| c.time as f64 / 1e9),
                    }
                })
                .collect();
            WindowOut {
                start_s: secs(w.start),
                end_s: secs(w.end),
                start_index: w.start,
                end_index: w.end,
                from_initial: w.from_initial,
                minimal: w.minimal,
                states: w.states,
                ops_total: w.ops.len(),
                ops,
            }
        });
        if let (Some(w), true) = (&window, invalid.len() <= CONSOLE_WINDOWS) {
            let core = w.ops.iter().filter(|o| o.role == "core").count();
            let mut text = format!(
                "  key {key}: not linearizable: in the window {:.3}-{:.3} s (history {}-{}), \
                 starting {}, the {core} `core` operation{} cannot be ordered{}:",
                w.start_s,
                w.end_s,
                w.start_index,
                w.end_index,
                if w.from_initial { "from the key's initial nil" } else { "from any value" },
                if core == 1 { "" } else { "s" },
                if w.minimal { "" } else { " (budget spent before the window was fully shrunk)" },
            );
            for o in w.ops.iter().take(CONSOLE_WINDOW_OPS) {
                let what = o.value.to_string();
                let _ = write!(
                    text,
                    "\n      {:<6} p{:<4} {:<14} {:<4} {:.3}-{}",
                    o.role,
                    o.process,
                    what,
                    format!("{:?}", o.kind).to_lowercase(),
                    o.invoke_s,
                    o.complete_s.map_or(String::new(), |c| format!("{c:.3}")),
                );
            }
            if w.ops.len() > CONSOLE_WINDOW_OPS {
                let _ = write!(
                    text,
                    "\n      ... {} more in results.json",
                    w.ops_total - CONSOLE_WINDOW_OPS
                );
            }
            details.push(text);
        }
        results.push(KeyResult {
            key,
            valid,
            ops: report.searched,
            states: report.states,
            unknown: report.unknown,
            window,
        });
    }
    let valid = if !invalid.is_empty() {
        Validity::False
    } else if !unknown.is_empty() {
        Validity::Unknown
    } else {
        Validity::True
    };
    let seconds = started.elapsed().as_secs_f64();
    let list = |keys: &[u64]| {
        let shown: Vec<String> = keys.iter().take(10).map(u64::to_string).collect();
        let more = if keys.len() > 10 { format!(", +{}", keys.len() - 10) } else { String::new() };
        if keys.is_empty() { String::new() } else { format!(" ({}{more})", shown.join(", ")) }
    };
    let mut summary = vec![format!(
        "linearizable   {} keys: {} valid, {} invalid{}, {} unknown{} ({searched} ops searched, {states} states, {:.1} ms)",
        keys.len(),
        keys.len() - invalid.len() - unknown.len(),
        invalid.len(),
        list(&invalid),
        unknown.len(),
        list(&unknown),
        seconds * 1e3,
    )];
    if nil_reads > 0 {
        summary.push(format!(
            "  {nil_reads} read_ok with a null value: Knossos's register takes a nil read as possible in any state, so they were not checked"
        ));
    }
    summary.extend(details);
    #[derive(Serialize)]
    struct Out<'a> {
        valid: Validity,
        keys: usize,
        valid_keys: usize,
        invalid_keys: &'a [u64],
        unknown_keys: &'a [u64],
        ops_searched: usize,
        states: u64,
        seconds: f64,
        search_budget: u64,
        null_reads_unchecked: usize,
        failed_ops: usize,
        indeterminate_reads: usize,
        results: &'a [KeyResult],
    }
    let out = Out {
        valid,
        keys: keys.len(),
        valid_keys: keys.len() - invalid.len() - unknown.len(),
        invalid_keys: &invalid,
        unknown_keys: &unknown,
        ops_searched: searched,
        states,
        seconds,
        search_budget: opts.max_states,
        null_reads_unchecked: nil_reads,
        failed_ops: fails,
        indeterminate_reads: info_reads,
        results: &results,
    };
    Check::new(valid, summary, &out)
}

#[cfg(test)]
mod tests;
