//! Linearizability of compare-and-set register histories: Wing & Gong's search with Lowe's
//! just-in-time linearization and memoised configurations (the algorithm of Porcupine's
//! `checker.go` and Knossos's `wgl.clj`), a search budget whose exhaustion is reported as
//! unknown, and, for a history that is not linearizable, the smallest window of operations
//! that cannot be ordered.
//!
//! The API is over one register's history ([`check`]): operations with a process, an
//! invocation position and a completion position (any clock that orders events: history
//! indices, or times), a status (ok, info, fail), and a read, write or CAS with values of any
//! type with equality. [`pair`] builds those operations from a Jepsen-style list of events
//! (`{:process :type :f :value}`), as Knossos reads them. A multi-key history (Maelstrom's
//! lin-kv) is split by key first and each key checked alone (P-compositionality:
//! linearizability is local to each object).
//!
//! # The model
//!
//! Knossos's `cas-register`, starting at the given initial value (`None` is Clojure's nil, the
//! value of a key that does not exist): a write sets the value; a CAS `[from, to]` sets `to`
//! if the value equals `from` and is impossible otherwise; a read of `v` is possible if the
//! value is `v`. Knossos's register accepts a read whose value is nil in *any* state (it takes
//! a nil read as "value unknown"); [`NilReads::Unconstrained`] (the default, what Maelstrom
//! judges by) does the same by dropping such reads and counting them, while
//! [`NilReads::Missing`] takes a nil read as a read of the missing value.
//!
//! How outcomes enter the search, as in Knossos's `history/complete`:
//! - **ok**: took effect exactly once, at some point between invocation and completion; an ok
//!   read's value is the value read.
//! - **info** (and an invocation that never completed): may have taken effect at any point
//!   after its invocation, or never. An indeterminate read constrains nothing and is dropped.
//! - **fail**: never happened; dropped. (In Maelstrom a read answered with error 20, key does
//!   not exist, is such a failure: it is not checked at all, while a `read_ok` with a null
//!   value is a nil read, above.)
//!
//! # The search
//!
//! Calls and returns of operations with a completion are kept, in position order, in a
//! doubly linked list. Walking from the head, the search linearizes the first call whose
//! operation the model allows in the current state, removes that operation's call and return
//! from the list, and starts again from the head. Reaching a return means its operation was
//! not linearized in time: the search backtracks to the last choice and tries the next call
//! instead. Reaching the end of the list means every ok operation was linearized: the history
//! is linearizable. A configuration (the set of linearized operations, the model's state, and
//! the indeterminate operations used, below) is memoised, and a step into a configuration
//! already explored is not taken again, which bounds the search by the number of distinct
//! configurations. Each new configuration costs one unit of the budget
//! ([`Options::max_states`]); when it is spent the verdict is [`Verdict::Unknown`], never a
//! guess.
//!
//! On top of that plain search (each of these is an exchange argument: any linearization can
//! be reordered into one the search still tries; `tests.rs` checks the whole against brute
//! force on thousands of random histories):
//! - **Reads go first.** When a callable read matches the state, it is linearized at once
//!   and nothing else is tried from that configuration: a read changes nothing and everything
//!   that had to precede it already has. Half of Jepsen's operations are reads, so this
//!   removes most of the branching.
//! - **Indeterminate operations are counted, not ordered.** They have no completion to force
//!   them, so they are not in the list; once invoked, two of the same kind (a write of `v`, a
//!   CAS from `a` to `b`) are interchangeable, so a configuration records only how many of
//!   each kind it used, and one that used no more of any kind than another with the same set
//!   and state makes the other redundant (it can do everything the other can). The search
//!   tries them only after the list's calls, only when they change the state, only when a
//!   callable operation would observe the new state, and not when a callable ok operation of
//!   the same kind could be taken instead.
//! - **A relaxed search first.** When indeterminate operations are pending, a first search
//!   lets each take effect any number of times: a relaxation, so "no solution" there is a
//!   proof, and its configurations are only (set, state), so it settles most invalid
//!   histories fast. Only if it finds a solution does the exact search run.
//!
//! The memo holds the linearized set exactly (no hash-only equality), run-length encoded over
//! operations numbered in completion order: the linearized set is nearly always "every
//! operation that completed before some point, plus a few", which takes a few numbers. Sets
//! are hashed incrementally (a random 64-bit word per operation, XORed), so a step costs
//! O(1) to hash and a lookup compares encodings only when hashes and states agree.
//!
//! # The window
//!
//! For a history that is not linearizable, [`Report::window`] is the smallest window of
//! operations that already cannot be ordered, defined as follows. A *window* `[a, b]` of
//! positions is the sub-problem in which an ok operation wholly inside it must take effect
//! within its interval; an operation that crosses an edge, or is indeterminate and was
//! invoked by `b`, *may* take effect within the window (inside its interval) or not at all;
//! operations that completed before `a` or began after `b` are left out; and the register
//! starts at *any* value (what it held at `a` is unknown), except that a window starting at
//! the beginning of the history starts at the initial value. Any linearization of the whole
//! history restricts to a solution of every window, so a window without a solution proves the
//! history is not linearizable, using only the operations in it.
//!
//! - The search's own proof gives a first end: the furthest completion any branch reached
//!   and could not pass. (From the exact search this is the earliest completion by which the
//!   history is already not linearizable: every earlier one can be passed.)
//! - The start is then the latest for which the window still has no solution (bisection:
//!   moving the start later only relaxes the window), the end the earliest for that start,
//!   and the start the latest again for that end.
//! - Within the window, the *core* is a smallest-by-inclusion set of the ok operations that
//!   must take effect for the contradiction: every other ok operation in the window was
//!   relaxed to "may or may not take effect" (greedily, reads first, then CAS, then writes,
//!   one at a time) without the window becoming solvable.
//!
//! So neither end of the window can move inward and its core cannot lose an operation. When
//! the relaxed search found the contradiction, the window is shrunk with relaxed searches
//! too ([`Window::relaxed`]). A budget of its own bounds this shrinking
//! ([`Options::max_window_states`], a quarter of it at most per sub-problem); if it runs out,
//! the window is reported as found so far, still a proof, with [`Window::minimal`] false.

use std::hash::Hash;

use hashbrown::{HashMap, HashTable};
use smallvec::SmallVec;

/// How an operation ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Took effect exactly once, between invocation and completion.
    Ok,
    /// May or may not have taken effect, at any time after its invocation.
    Info,
    /// Never took effect.
    Fail,
}

/// A register operation. `None` is nil: the value of a register that was never written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call<V> {
    /// A read, with the value read (for an ok read).
    Read(Option<V>),
    /// A write of a value.
    Write(Option<V>),
    /// A compare-and-set from the first value to the second.
    Cas(Option<V>, Option<V>),
}

/// One operation of a register's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op<V> {
    /// The process that ran it (reported, not used by the search).
    pub process: u64,
    /// Position of the invocation: history index, or time.
    pub call: u64,
    /// Position of the completion (ok, fail or info), if it completed. Required for ok
    /// operations; ignored for info ones. Equal positions count as concurrent.
    pub ret: Option<u64>,
    /// How it ended.
    pub status: Status,
    /// What it did.
    pub f: Call<V>,
}

/// How an ok read of nil is judged.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum NilReads {
    /// As Knossos's `cas-register` (and so Maelstrom): a nil read is possible in any state.
    #[default]
    Unconstrained,
    /// A nil read is a read of the missing value, possible only while the register is nil.
    Missing,
}

/// Checker options.
#[derive(Clone, Debug)]
pub struct Options {
    /// Configurations the search may explore before the verdict is unknown.
    pub max_states: u64,
    /// Configurations the search for the window of an invalid history may explore.
    pub max_window_states: u64,
    /// Bytes the memo of configurations may hold before the verdict is unknown.
    pub max_memo_bytes: usize,
    /// How ok reads of nil are judged.
    pub nil_reads: NilReads,
    /// Whether to look for the smallest window of an invalid history.
    pub window: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_states: 10_000_000,
            max_window_states: 1_000_000,
            max_memo_bytes: 1 << 30,
            nil_reads: NilReads::Unconstrained,
            window: true,
        }
    }
}

/// Whether a register history is linearizable.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It is.
    Valid,
    /// It is not.
    Invalid,
    /// The budget ran out first.
    Unknown,
}

/// The role of an operation in a [`Window`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// An ok operation in the core: these cannot all take effect within their intervals.
    Core,
    /// An ok operation inside the window that the contradiction does not need.
    Inside,
    /// May or may not have taken effect inside the window: indeterminate, or crossing one of
    /// its edges.
    Maybe,
}

/// An operation of a [`Window`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct WindowOp {
    /// Index into the operations given to [`check`].
    pub index: usize,
    /// Its role.
    pub role: Role,
}

/// The smallest window of operations that cannot be ordered (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// First position of the window.
    pub start: u64,
    /// Last position of the window: the completion by which the history is already not
    /// linearizable.
    pub end: u64,
    /// Whether the window starts at the beginning of the history, from the initial value
    /// (otherwise from any value).
    pub from_initial: bool,
    /// Its operations, in invocation order (indeterminate reads, which cannot matter, left
    /// out).
    pub ops: Vec<WindowOp>,
    /// Whether the window has no solution even if every indeterminate operation could take
    /// effect any number of times (the relaxed search found the contradiction, and the
    /// window was shrunk with it): a stronger statement, and a cheaper one to shrink.
    pub relaxed: bool,
    /// Whether shrinking finished within the budget (the window is a proof either way).
    pub minimal: bool,
    /// Configurations explored while shrinking.
    pub states: u64,
}

/// Operations left out of the search.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Failed operations: they never happened.
    pub fails: usize,
    /// Indeterminate reads: they change nothing and constrain nothing.
    pub info_reads: usize,
    /// Ok reads of nil under [`NilReads::Unconstrained`]: possible in any state.
    pub nil_reads: usize,
}

/// The verdict on one register's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// Linearizable or not, or unknown.
    pub verdict: Verdict,
    /// Configurations explored by the search for the verdict.
    pub states: u64,
    /// Operations the search ordered (ok and indeterminate writes and CAS, ok reads).
    pub searched: usize,
    /// Operations left out.
    pub dropped: Dropped,
    /// Why the verdict is unknown.
    pub unknown: Option<String>,
    /// For an invalid history (with [`Options::window`]): the window that proves it.
    pub window: Option<Window>,
}

/// A history the checker cannot read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputError {
    /// An ok operation without a completion position.
    OkWithoutCompletion {
        /// Its index.
        index: usize,
    },
    /// A completion before its invocation.
    CompletedBeforeInvoked {
        /// Its index.
        index: usize,
    },
    /// More distinct values than the checker numbers (2^32 - 2).
    TooManyValues,
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InputError::OkWithoutCompletion { index } => {
                write!(f, "operation {index} is ok but has no completion")
            }
            InputError::CompletedBeforeInvoked { index } => {
                write!(f, "operation {index} completes before it is invoked")
            }
            InputError::TooManyValues => f.write_str("too many distinct values"),
        }
    }
}

impl std::error::Error for InputError {}

/// Decides whether one register's history is linearizable from `initial`.
pub fn check<V: Eq + Hash + Clone>(
    ops: &[Op<V>],
    initial: Option<&V>,
    opts: &Options,
) -> Result<Report, InputError> {
    let mut values: HashMap<V, u32> = HashMap::new();
    let mut intern = |v: &Option<V>| -> Result<u32, InputError> {
        let Some(v) = v else { return Ok(NIL) };
        if let Some(&id) = values.get(v) {
            return Ok(id);
        }
        let id = u32::try_from(values.len() + 1)
            .ok()
            .filter(|&id| id < u32::MAX - 1)
            .ok_or(InputError::TooManyValues)?;
        values.insert(v.clone(), id);
        Ok(id)
    };
    let init = intern(&initial.cloned())?;
    let mut dropped = Dropped::default();
    let mut all: Vec<HOp> = Vec::with_capacity(ops.len());
    for (index, op) in ops.iter().enumerate() {
        if let Some(ret) = op.ret {
            if ret < op.call {
                return Err(InputError::CompletedBeforeInvoked { index });
            }
        }
        let kind = match &op.f {
            Call::Read(v) => Kind::Read(intern(v)?),
            Call::Write(v) => Kind::Write(intern(v)?),
            Call::Cas(a, b) => Kind::Cas(intern(a)?, intern(b)?),
        };
        let ret = match op.status {
            Status::Fail => {
                dropped.fails += 1;
                continue;
            }
            Status::Info => INFINITE,
            Status::Ok => op.ret.ok_or(InputError::OkWithoutCompletion { index })?,
        };
        if let Kind::Read(v) = kind {
            if ret == INFINITE {
                dropped.info_reads += 1;
                continue;
            }
            if v == NIL && opts.nil_reads == NilReads::Unconstrained {
                dropped.nil_reads += 1;
                continue;
            }
        }
        all.push(HOp { index, call: op.call, ret, kind });
    }
    let values = values.len() as u32 + 1;
    let mut budget = Budget::new(opts.max_states, opts.max_memo_bytes);
    let problem: Vec<SOp> = all
        .iter()
        .map(|h| SOp { call: h.call, ret: h.ret, required: h.ret != INFINITE, kind: h.kind })
        .collect();
    let result = decide(&problem, &[init], &mut budget, false);
    let mut report = Report {
        verdict: Verdict::Valid,
        states: budget.used,
        searched: all.len(),
        dropped,
        unknown: None,
        window: None,
    };
    match result {
        Outcome::Linearizable => {}
        Outcome::OutOfBudget(why) => {
            report.verdict = Verdict::Unknown;
            report.unknown = Some(why);
        }
        Outcome::Stuck { max_block, relaxed } => {
            report.verdict = Verdict::Invalid;
            if opts.window {
                let mut budget = Budget::new(opts.max_window_states, opts.max_memo_bytes);
                let proof = Proof { end: max_block, relaxed };
                report.window = Some(shrink(&all, init, values, proof, &mut budget));
            }
        }
    }
    Ok(report)
}

/// Pairs a Jepsen-style event list into operations, as Knossos's `history/complete` does.
///
/// Each event is `(process, type, f)`; positions are indices into `events`. An invocation's
/// value is replaced by its ok completion's (a read's value is only known then); an info
/// keeps its invocation's value; an invocation that never completes becomes info; an info
/// with no invocation pending is ignored (Jepsen logs such events).
pub fn pair<V: Clone>(events: &[(u64, EventType, Call<V>)]) -> Result<Vec<Op<V>>, PairError> {
    let mut open: HashMap<u64, usize> = HashMap::new();
    let mut ops: Vec<Op<V>> = Vec::new();
    for (i, (process, kind, f)) in events.iter().enumerate() {
        let pos = i as u64;
        match kind {
            EventType::Invoke => {
                if let Some(&prior) = open.get(process) {
                    return Err(PairError::ConcurrentInvoke { process: *process, index: i, prior });
                }
                open.insert(*process, ops.len());
                ops.push(Op {
                    process: *process,
                    call: pos,
                    ret: None,
                    status: Status::Info,
                    f: f.clone(),
                });
            }
            EventType::Ok | EventType::Fail => {
                let Some(o) = open.remove(process) else {
                    return Err(PairError::NoInvocation { process: *process, index: i });
                };
                let op = &mut ops[o];
                if std::mem::discriminant(&op.f) != std::mem::discriminant(f) {
                    return Err(PairError::MismatchedF { process: *process, index: i });
                }
                op.ret = Some(pos);
                op.status = if *kind == EventType::Ok { Status::Ok } else { Status::Fail };
                if *kind == EventType::Ok {
                    op.f = f.clone();
                }
            }
            EventType::Info => {
                if let Some(o) = open.remove(process) {
                    ops[o].ret = Some(pos);
                }
            }
        }
    }
    Ok(ops)
}

/// The `:type` of a Jepsen event.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum EventType {
    /// `:invoke`.
    Invoke,
    /// `:ok`.
    Ok,
    /// `:fail`.
    Fail,
    /// `:info`.
    Info,
}

/// An event list [`pair`] cannot read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PairError {
    /// A process invoked an operation while its previous one was pending.
    ConcurrentInvoke {
        /// The process.
        process: u64,
        /// The second invocation's index.
        index: usize,
        /// The pending operation (index into the paired operations).
        prior: usize,
    },
    /// An ok or fail with no invocation pending for its process.
    NoInvocation {
        /// The process.
        process: u64,
        /// The event's index.
        index: usize,
    },
    /// A completion whose `f` is not its invocation's.
    MismatchedF {
        /// The process.
        process: u64,
        /// The completion's index.
        index: usize,
    },
}

impl std::fmt::Display for PairError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PairError::ConcurrentInvoke { process, index, .. } => write!(
                f,
                "event {index}: process {process} invokes an operation while another is pending"
            ),
            PairError::NoInvocation { process, index } => {
                write!(
                    f,
                    "event {index}: process {process} completes an operation it never invoked"
                )
            }
            PairError::MismatchedF { process, index } => write!(
                f,
                "event {index}: process {process} completes a different function than it invoked"
            ),
        }
    }
}

impl std::error::Error for PairError {}

/// The nil value's number.
const NIL: u32 = 0;
/// The completion position of an operation that may take effect at any time.
const INFINITE: u64 = u64::MAX;
/// No entry.
const NONE: u32 = u32::MAX;

/// A model step.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Kind {
    Read(u32),
    Write(u32),
    Cas(u32, u32),
}

impl Kind {
    /// The state after this operation, if the model allows it in state `s`.
    #[inline]
    fn step(self, s: u32) -> Option<u32> {
        match self {
            Kind::Read(v) => (s == v).then_some(s),
            Kind::Write(v) => Some(v),
            Kind::Cas(from, to) => (s == from).then_some(to),
        }
    }

    fn is_read(self) -> bool {
        matches!(self, Kind::Read(_))
    }

    fn values(self) -> [u32; 2] {
        match self {
            Kind::Read(v) | Kind::Write(v) => [v, v],
            Kind::Cas(a, b) => [a, b],
        }
    }
}

/// A searched operation of the whole history: `ret` is [`INFINITE`] for indeterminate ones.
#[derive(Copy, Clone, Debug)]
struct HOp {
    /// Index into the caller's operations.
    index: usize,
    call: u64,
    ret: u64,
    kind: Kind,
}

/// An operation of one search problem.
#[derive(Copy, Clone, Debug)]
struct SOp {
    call: u64,
    /// [`INFINITE`]: may take effect at any time after `call`.
    ret: u64,
    /// Must take effect by `ret`; otherwise it may also never take effect.
    required: bool,
    kind: Kind,
}

/// How one search ended.
#[derive(Debug)]
enum Outcome {
    Linearizable,
    /// Every branch stopped at a completion it could not pass; `max_block` is the furthest.
    /// `relaxed`: found by the relaxed search ([`Search::relaxed`]).
    Stuck {
        max_block: u64,
        relaxed: bool,
    },
    OutOfBudget(String),
}

/// The search budget: configurations, and the bytes one search's memo may hold.
#[derive(Copy, Clone, Debug)]
struct Budget {
    states_left: u64,
    memo_cap: usize,
    /// Configurations explored so far.
    used: u64,
}

impl Budget {
    fn new(states: u64, memo_cap: usize) -> Budget {
        Budget { states_left: states, memo_cap, used: 0 }
    }

    /// Runs `f` with at most `cap` of this budget's states.
    fn capped<T>(&mut self, cap: u64, f: impl FnOnce(&mut Budget) -> T) -> T {
        let mut sub = Budget { states_left: self.states_left.min(cap), ..*self };
        let out = f(&mut sub);
        self.states_left -= sub.used - self.used;
        self.used = sub.used;
        out
    }
}

/// Memoised configurations that share a set of operations with completions and a state.
struct Memo {
    hash: u64,
    state: u32,
    /// The linearized (or dropped) operations with completions, run-length encoded ([`rle`]),
    /// at `start..start + len` of [`Memos::arena`].
    start: usize,
    len: u32,
    /// For each configuration explored with this set and state: how many indeterminate
    /// operations of each kind it had used, as sorted `(kind, count)` pairs. None is `<=`
    /// another, component-wise (a dominated one is removed).
    used: SmallVec<[UsedKinds; 1]>,
}

/// How many indeterminate operations of each kind a configuration used: `(kind, count)`
/// pairs, sorted by kind, counts above zero.
type UsedKinds = Box<[(u32, u32)]>;

/// The memo of explored configurations.
#[derive(Default)]
struct Memos {
    table: HashTable<Memo>,
    /// Every memo's encoded set, back to back.
    arena: Vec<u32>,
    /// Bytes held, roughly.
    bytes: usize,
}

/// The set of linearized (or dropped) operations with completions, as bits.
struct Bits {
    words: Vec<u64>,
    /// Every word below this one is all ones (a lower bound, raised lazily).
    low: usize,
}

impl Bits {
    fn new(len: usize) -> Bits {
        Bits { words: vec![0; len.div_ceil(64)], low: 0 }
    }

    #[inline]
    fn insert(&mut self, r: u32) {
        self.words[r as usize / 64] |= 1 << (r % 64);
    }

    #[inline]
    fn remove(&mut self, r: u32) {
        let w = r as usize / 64;
        self.words[w] &= !(1 << (r % 64));
        self.low = self.low.min(w);
    }

    /// Run-length encodes the set into `out` ([`rle`]), skipping the full words.
    fn encode(&mut self, out: &mut Vec<u32>) {
        while self.low < self.words.len() && self.words[self.low] == !0 {
            self.low += 1;
        }
        rle(&self.words, self.low, out);
    }
}

/// Where the walk is: at an entry of the call/return list, or, having reached the first
/// return still in the list (`frontier`), at the `kind`-th kind of indeterminate operation.
#[derive(Copy, Clone, Debug)]
enum Cursor {
    /// A new configuration: first take a read the state allows, if any is callable.
    Start,
    Entry(u32),
    Kind {
        kind: u32,
        frontier: u32,
    },
}

/// What a step did, to undo it when backtracking.
#[derive(Copy, Clone, Debug)]
enum Undo {
    /// Linearized the operation with completion `r`.
    Linearized(u32),
    /// Linearized the read `r` as soon as the state allowed it, the one move considered in
    /// that configuration: a read changes nothing, and every operation that had to come
    /// before it already has, so any linearization from there can be reordered to take the
    /// read first.
    Forced(u32),
    /// Dropped the optional operation `r` at its completion (it never took effect).
    Dropped(u32),
    /// Used an indeterminate operation of kind `k`.
    Used(u32),
}

/// A choice to undo when backtracking.
#[derive(Copy, Clone, Debug)]
struct Frame {
    undo: Undo,
    state: u32,
    hash: u64,
    /// Where the walk goes on after the undo (for [`Undo::Linearized`], the operation's call
    /// entry: the walk goes on at the entry after it). `None`: the choice was the only one
    /// considered, so backtracking goes on.
    resume: Option<Cursor>,
}

/// One entry of the call/return list.
#[derive(Copy, Clone)]
struct Entry {
    op: u32,
    call: bool,
    pos: u64,
}

/// The static part of a search.
///
/// Operations with a completion (ok ones, and the optional ones of a window that must take
/// effect by their completion if at all) are numbered by completion and kept, calls and
/// returns, in a linked list in position order. Indeterminate operations (which may take
/// effect at any time after invocation, or never) are not in the list: once invoked, two of
/// the same kind (a write of `v`, or a CAS from `a` to `b`) are interchangeable, so the search
/// tracks only how many of each kind it has used. Such an operation is available at the
/// first return `R` still in the list if it was invoked by `R`; every operation that
/// completed before it was invoked is then already linearized, because their returns came
/// before `R`.
struct Search {
    ops: Vec<SOp>,
    /// `entries[0]` is the head sentinel and `entries[len - 1]` the tail sentinel.
    entries: Vec<Entry>,
    next: Vec<u32>,
    prev: Vec<u32>,
    call_entry: Vec<u32>,
    ret_entry: Vec<u32>,
    zobrist: Vec<u64>,
    /// The kinds of indeterminate operations.
    kinds: Vec<Kind>,
    /// Per kind, the invocation positions of its operations, sorted.
    kind_calls: Vec<Vec<u64>>,
    /// How many operations one use of a kind uses up: 1, or 0 for the relaxed search in which
    /// an indeterminate operation, once invoked, may take effect any number of times (see
    /// [`Search::relaxed`]).
    consume: u32,
}

impl Search {
    fn new(problem: &[SOp]) -> Search {
        let mut kinds: Vec<Kind> = Vec::new();
        let mut kind_calls: Vec<Vec<u64>> = Vec::new();
        let mut timed: Vec<SOp> = Vec::with_capacity(problem.len());
        for o in problem {
            if o.ret != INFINITE {
                timed.push(*o);
                continue;
            }
            debug_assert!(!o.kind.is_read(), "indeterminate reads are dropped");
            match kinds.iter().position(|k| *k == o.kind) {
                Some(k) => kind_calls[k].push(o.call),
                None => {
                    kinds.push(o.kind);
                    kind_calls.push(vec![o.call]);
                }
            }
        }
        for calls in &mut kind_calls {
            calls.sort_unstable();
        }
        // Numbered by completion, so that linearized sets are runs.
        timed.sort_by_key(|o| (o.ret, o.call));
        let mut entries = Vec::with_capacity(2 * timed.len() + 2);
        for (r, o) in timed.iter().enumerate() {
            entries.push(Entry { op: r as u32, call: true, pos: o.call });
            entries.push(Entry { op: r as u32, call: false, pos: o.ret });
        }
        // Calls before returns at equal positions: such operations are concurrent.
        entries.sort_by_key(|e| (e.pos, !e.call, e.op));
        let sentinel = Entry { op: NONE, call: false, pos: 0 };
        entries.insert(0, sentinel);
        entries.push(sentinel);
        let len = entries.len() as u32;
        let next = (1..=len).collect();
        let prev = (0..len).map(|i| i.wrapping_sub(1)).collect();
        let mut call_entry = vec![NONE; timed.len()];
        let mut ret_entry = vec![NONE; timed.len()];
        for (i, e) in entries.iter().enumerate().skip(1).take(entries.len() - 2) {
            if e.call {
                call_entry[e.op as usize] = i as u32;
            } else {
                ret_entry[e.op as usize] = i as u32;
            }
        }
        let mut seed = 0x6c69_6e2d_6b76_2121_u64;
        let zobrist = (0..timed.len()).map(|_| crate::rng::splitmix64(&mut seed)).collect();
        Search {
            ops: timed,
            entries,
            next,
            prev,
            call_entry,
            ret_entry,
            zobrist,
            kinds,
            kind_calls,
            consume: 1,
        }
    }

    /// The relaxed problem: an indeterminate operation may take effect any number of times.
    ///
    /// It has a solution whenever the real one has, so "no solution" here proves the history
    /// is not linearizable. Its configurations are only (set, state), so it is much smaller
    /// than the real search when many indeterminate operations are pending: most violations
    /// (a value no write could have produced, a read that goes back in time) do not depend
    /// on how often an indeterminate write took effect, and it finds those fast.
    fn relaxed(mut self) -> Search {
        self.consume = 0;
        self
    }

    fn tail(&self) -> u32 {
        self.entries.len() as u32 - 1
    }

    #[inline]
    fn unlink(&mut self, e: u32) {
        let (p, n) = (self.prev[e as usize], self.next[e as usize]);
        self.next[p as usize] = n;
        self.prev[n as usize] = p;
    }

    #[inline]
    fn relink(&mut self, e: u32) {
        let (p, n) = (self.prev[e as usize], self.next[e as usize]);
        self.next[p as usize] = e;
        self.prev[n as usize] = e;
    }

    /// Takes operation `r`'s call and return out of the list.
    #[inline]
    fn lift(&mut self, r: u32) {
        self.unlink(self.call_entry[r as usize]);
        self.unlink(self.ret_entry[r as usize]);
    }

    /// Puts them back (in the reverse order of [`Search::lift`]).
    #[inline]
    fn unlift(&mut self, r: u32) {
        self.relink(self.ret_entry[r as usize]);
        self.relink(self.call_entry[r as usize]);
    }

    /// Fills `around` for the configuration at `frontier` (the first return in the list).
    fn look_around(&self, frontier: u32, used: &[u32], around: &mut Around) {
        around.valid = true;
        around.frontier = frontier;
        around.callable.clear();
        around.observed.clear();
        around.cas_from.clear();
        let mut e = self.next[0];
        while e != frontier {
            let op = self.ops[self.entries[e as usize].op as usize].kind;
            around.callable.push(op);
            if let Kind::Read(v) | Kind::Cas(v, _) = op {
                around.observed.push(v);
            }
            e = self.next[e as usize];
        }
        let by = self.entries[frontier as usize].pos;
        around.avail.clear();
        for (k, kind) in self.kinds.iter().enumerate() {
            let invoked = self.kind_calls[k].partition_point(|&c| c <= by) as u32;
            let avail = invoked.saturating_sub(used[k]);
            around.avail.push(avail);
            if let (Kind::Cas(v, _), true) = (kind, avail > 0) {
                match around.cas_from.iter_mut().find(|(w, _)| w == v) {
                    Some((_, n)) => *n += avail,
                    None => around.cas_from.push((*v, avail)),
                }
            }
        }
    }

    /// Whether using an indeterminate operation of kind `k`, which would take the state to
    /// `s`, is worth trying (see [`Around`]).
    fn worth_using(&self, k: usize, s: u32, around: &Around) -> bool {
        let kind = self.kinds[k];
        if around.callable.contains(&kind) {
            return false;
        }
        if around.observed.contains(&s) {
            return true;
        }
        let others = around.cas_from.iter().find(|(v, _)| *v == s).map_or(0, |(_, n)| *n);
        let itself = matches!(kind, Kind::Cas(v, _) if v == s);
        others > self.consume * u32::from(itself)
    }

    /// Searches from each initial state in turn until one linearizes the problem.
    ///
    /// One memo serves every start: a configuration's future does not depend on how it was
    /// reached.
    fn run(&mut self, inits: &[u32], budget: &mut Budget) -> Outcome {
        let mut memo = Memos::default();
        let mut max_block = 0;
        for &init in inits {
            match self.run_from(init, &mut memo, budget) {
                Outcome::Stuck { max_block: b, .. } => max_block = max_block.max(b),
                other => return other,
            }
        }
        Outcome::Stuck { max_block, relaxed: self.consume == 0 }
    }

    fn run_from(&mut self, init: u32, memo: &mut Memos, budget: &mut Budget) -> Outcome {
        let mut set = Bits::new(self.ops.len());
        let mut used = vec![0u32; self.kinds.len()];
        let mut scratch = Scratch::default();
        let mut stack: Vec<Frame> = Vec::new();
        let (mut state, mut hash) = (init, 0u64);
        let tail = self.tail();
        let mut max_block = 0;
        let mut cursor = Cursor::Start;
        let mut around = Around::default();
        let outcome = 'search: loop {
            // One step: a choice taken (and `continue`), or the cursor moved on, or a dead end
            // (and `backtrack` below).
            match cursor {
                Cursor::Start => {
                    let mut e = self.next[0];
                    let mut read = None;
                    while e != tail && self.entries[e as usize].call {
                        let r = self.entries[e as usize].op;
                        if self.ops[r as usize].kind == Kind::Read(state) {
                            read = Some(r);
                            break;
                        }
                        e = self.next[e as usize];
                    }
                    let Some(r) = read else {
                        cursor = Cursor::Entry(self.next[0]);
                        continue;
                    };
                    set.insert(r);
                    let next_hash = hash ^ self.zobrist[r as usize];
                    match remember(memo, &mut set, next_hash, state, &used, &mut scratch, budget) {
                        Err(why) => break Outcome::OutOfBudget(why),
                        Ok(true) => {
                            let undo = Undo::Forced(r);
                            around.valid = false;
                            stack.push(Frame { undo, state, hash, resume: None });
                            hash = next_hash;
                            self.lift(r);
                            continue;
                        }
                        // Explored already: so was this configuration, in effect.
                        Ok(false) => set.remove(r),
                    }
                }
                Cursor::Entry(e) => {
                    if e == tail {
                        break Outcome::Linearizable;
                    }
                    let entry = self.entries[e as usize];
                    let r = entry.op;
                    let op = self.ops[r as usize];
                    let choice = if entry.call {
                        op.kind.step(state).map(|s| (s, Undo::Linearized(r), Cursor::Entry(e)))
                    } else if !op.required {
                        let resume = Cursor::Kind { kind: 0, frontier: e };
                        Some((state, Undo::Dropped(r), resume))
                    } else {
                        None
                    };
                    if let Some((next_state, undo, resume)) = choice {
                        set.insert(r);
                        let next_hash = hash ^ self.zobrist[r as usize];
                        let new = remember(
                            memo,
                            &mut set,
                            next_hash,
                            next_state,
                            &used,
                            &mut scratch,
                            budget,
                        );
                        match new {
                            Err(why) => break Outcome::OutOfBudget(why),
                            Ok(true) => {
                                around.valid = false;
                                stack.push(Frame { undo, state, hash, resume: Some(resume) });
                                (state, hash) = (next_state, next_hash);
                                self.lift(r);
                                cursor = Cursor::Start;
                                continue;
                            }
                            Ok(false) => set.remove(r),
                        }
                    }
                    cursor = if entry.call {
                        Cursor::Entry(self.next[e as usize])
                    } else {
                        Cursor::Kind { kind: 0, frontier: e }
                    };
                    continue;
                }
                Cursor::Kind { kind, frontier } if (kind as usize) < self.kinds.len() => {
                    cursor = Cursor::Kind { kind: kind + 1, frontier };
                    let k = kind as usize;
                    if !around.valid || around.frontier != frontier {
                        self.look_around(frontier, &used, &mut around);
                    }
                    if around.avail[k] == 0 {
                        continue;
                    }
                    let Some(next_state) = self.kinds[k].step(state) else { continue };
                    if next_state == state || !self.worth_using(k, next_state, &around) {
                        continue;
                    }
                    used[k] += self.consume;
                    match remember(memo, &mut set, hash, next_state, &used, &mut scratch, budget) {
                        Err(why) => break Outcome::OutOfBudget(why),
                        Ok(true) => {
                            around.valid = false;
                            stack.push(Frame {
                                undo: Undo::Used(kind),
                                state,
                                hash,
                                resume: Some(cursor),
                            });
                            state = next_state;
                            cursor = Cursor::Start;
                            continue;
                        }
                        Ok(false) => used[k] -= self.consume,
                    }
                    continue;
                }
                Cursor::Kind { frontier, .. } => {
                    // Nothing left to try at this return: a dead end.
                    let r = self.entries[frontier as usize].op;
                    if self.ops[r as usize].required {
                        max_block = max_block.max(self.entries[frontier as usize].pos);
                    }
                }
            }
            // Backtrack: undo the last choice and go on where it was taken.
            around.valid = false;
            cursor = loop {
                let Some(f) = stack.pop() else {
                    break 'search Outcome::Stuck { max_block, relaxed: self.consume == 0 };
                };
                match f.undo {
                    Undo::Linearized(r) | Undo::Forced(r) | Undo::Dropped(r) => {
                        self.unlift(r);
                        set.remove(r);
                    }
                    Undo::Used(k) => used[k as usize] -= self.consume,
                }
                (state, hash) = (f.state, f.hash);
                match f.resume {
                    Some(Cursor::Entry(e)) => break Cursor::Entry(self.next[e as usize]),
                    Some(other) => break other,
                    None => {}
                }
            };
        };
        while let Some(f) = stack.pop() {
            if let Undo::Linearized(r) | Undo::Forced(r) | Undo::Dropped(r) = f.undo {
                self.unlift(r);
            }
        }
        outcome
    }
}

/// The configuration around the frontier, for the step that uses an indeterminate operation.
///
/// Using one is worth trying only when some operation that could come next would observe
/// the new state: a callable read of it or CAS from it, or an available indeterminate CAS
/// from it. In any linearization, look at the operation right after a used indeterminate
/// one: if it does not observe the state (a write), dropping the indeterminate operation
/// leaves a linearization; if it does, it was callable when the indeterminate one was used
/// (everything that had to precede it precedes that one too). Using one that changes nothing
/// only uses it up. Nor is it worth using one when a callable operation with a completion
/// does the same (a write of the same value, or a CAS with the same values): taking that one
/// now and the indeterminate one where that one would have gone (the state there allowed it)
/// reorders any linearization of the first choice into one of the second, which the walk
/// tries.
#[derive(Default)]
struct Around {
    /// Filled for the current configuration.
    valid: bool,
    frontier: u32,
    /// Per kind, how many are invoked by the frontier and not used.
    avail: Vec<u32>,
    /// Kinds of the callable operations with completions.
    callable: Vec<Kind>,
    /// Values a callable operation observes (reads of, CAS from).
    observed: Vec<u32>,
    /// Available indeterminate CAS, as (from-value, count).
    cas_from: Vec<(u32, u32)>,
}

/// Reused buffers for [`remember`].
#[derive(Default)]
struct Scratch {
    set: Vec<u32>,
    used: Vec<(u32, u32)>,
}

/// Records the configuration (`set`, `state`, `used`), `set` hashing to `set_hash`, unless
/// one with the same set and state and no more indeterminate operations used of any kind was
/// explored already (it can do everything this one can). Returns whether it is new, or why
/// the budget is spent.
#[inline]
fn remember(
    memo: &mut Memos,
    set: &mut Bits,
    set_hash: u64,
    state: u32,
    used: &[u32],
    scratch: &mut Scratch,
    budget: &mut Budget,
) -> Result<bool, String> {
    let hash = set_hash ^ u64::from(state).wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    scratch.used.clear();
    scratch
        .used
        .extend(used.iter().enumerate().filter(|(_, c)| **c > 0).map(|(k, c)| (k as u32, *c)));
    let mut encoded = false;
    let arena = &memo.arena;
    let group = memo.table.find_mut(hash, |m| {
        if m.hash != hash || m.state != state {
            return false;
        }
        if !encoded {
            set.encode(&mut scratch.set);
            encoded = true;
        }
        arena[m.start..m.start + m.len as usize] == *scratch.set
    });
    let covers = |seen: &[(u32, u32)]| seen.iter().all(|&(k, c)| used[k as usize] >= c);
    let fresh_bytes = |scratch: &Scratch| 16 + 8 * scratch.used.len();
    let bytes = match &group {
        Some(g) if g.used.iter().any(|u| covers(u)) => return Ok(false),
        Some(_) => fresh_bytes(scratch),
        None => {
            if !encoded {
                set.encode(&mut scratch.set);
            }
            std::mem::size_of::<Memo>() + 4 * scratch.set.len() + fresh_bytes(scratch)
        }
    };
    if budget.states_left == 0 {
        return Err(format!("search budget of {} configurations spent", budget.used));
    }
    if memo.bytes + bytes > budget.memo_cap {
        return Err(format!(
            "the memo reached its cap of {} MiB after {} configurations",
            budget.memo_cap >> 20,
            budget.used
        ));
    }
    budget.states_left -= 1;
    memo.bytes += bytes;
    budget.used += 1;
    let entry: UsedKinds = scratch.used.as_slice().into();
    match group {
        Some(g) => {
            // Drop what the new entry dominates.
            let new = &entry;
            g.used.retain(|u| {
                !new.iter().all(|&(k, c)| u.iter().any(|&(k2, c2)| k2 == k && c2 >= c))
            });
            g.used.push(entry);
        }
        None => {
            let start = memo.arena.len();
            memo.arena.extend_from_slice(&scratch.set);
            let len = scratch.set.len() as u32;
            let used = smallvec::smallvec![entry];
            memo.table.insert_unique(hash, Memo { hash, state, start, len, used }, |m| m.hash);
        }
    }
    Ok(true)
}

/// Run-length encodes a bit set whose words below `low` are all ones: the positions where
/// the bits change, starting from a run of ones at position 0 (possibly empty). Two sets of
/// the same length are equal exactly when their encodings are.
fn rle(set: &[u64], low: usize, out: &mut Vec<u32>) {
    out.clear();
    let bits = set.len() * 64;
    let (mut pos, mut ones) = (low * 64, true);
    while pos < bits {
        // The next position at or after `pos` whose bit differs from the current run.
        let mut w = pos / 64;
        let mut word = if ones { !set[w] } else { set[w] } & (!0u64 << (pos % 64));
        while word == 0 {
            w += 1;
            if w == set.len() {
                return;
            }
            word = if ones { !set[w] } else { set[w] };
        }
        pos = w * 64 + word.trailing_zeros() as usize;
        out.push(pos as u32);
        ones = !ones;
    }
}

/// The problem of window `[start, end]` (`start` `None`: from the beginning) over the
/// searched operations, as (index into `all`, operation). Indeterminate reads are left out.
fn window_problem(all: &[HOp], start: Option<u64>, end: u64) -> Vec<(usize, SOp)> {
    let mut out = Vec::new();
    for (i, h) in all.iter().enumerate() {
        if h.call > end {
            continue;
        }
        let (ret, required) = if h.ret == INFINITE || h.ret > end {
            (INFINITE, false)
        } else if start.is_some_and(|a| h.ret < a) {
            continue;
        } else if start.is_some_and(|a| h.call < a) {
            (h.ret, false)
        } else {
            (h.ret, true)
        };
        if !required && h.kind.is_read() {
            continue;
        }
        out.push((i, SOp { call: h.call, ret, required, kind: h.kind }));
    }
    out
}

/// Every value the register could hold at a window's start that matters to it: those its
/// operations mention, nil, and one value none of them mentions.
fn any_value(problem: &[(usize, SOp)], values: u32) -> Vec<u32> {
    let mut seen: Vec<u32> =
        problem.iter().flat_map(|(_, o)| o.kind.values()).chain([NIL, values]).collect();
    seen.sort_unstable();
    seen.dedup();
    seen
}

/// Decides a problem: the relaxed search first when indeterminate operations are pending
/// (its "no solution" is final), then, unless `relaxed_only`, the real one.
fn decide(problem: &[SOp], inits: &[u32], budget: &mut Budget, relaxed_only: bool) -> Outcome {
    if problem.iter().any(|o| o.ret == INFINITE) {
        match Search::new(problem).relaxed().run(inits, budget) {
            Outcome::Linearizable if !relaxed_only => {}
            other => return other,
        }
    }
    Search::new(problem).run(inits, budget)
}

/// Whether the window problem has no solution (within the budget, and `step_cap` of it at
/// most, so that one hard problem leaves room for the others). With `relaxed`, only the
/// relaxed search runs.
fn unsolvable(
    problem: &[(usize, SOp)],
    inits: &[u32],
    budget: &mut Budget,
    relaxed: bool,
    step_cap: u64,
) -> Option<bool> {
    let ops: Vec<SOp> = problem.iter().map(|(_, o)| *o).collect();
    match budget.capped(step_cap, |b| decide(&ops, inits, b, relaxed)) {
        Outcome::Linearizable => Some(false),
        Outcome::Stuck { .. } => Some(true),
        Outcome::OutOfBudget(_) => None,
    }
}

/// How the search proved a history is not linearizable.
#[derive(Copy, Clone, Debug)]
struct Proof {
    /// The furthest completion a branch reached and could not pass.
    end: u64,
    /// The relaxed search found it ([`Search::relaxed`]).
    relaxed: bool,
}

/// Finds the window of an invalid history (see the module documentation).
fn shrink(all: &[HOp], init: u32, values: u32, proof: Proof, budget: &mut Budget) -> Window {
    let end = proof.end;
    // A quarter of the budget at most per problem.
    let step_cap = (budget.states_left / 4).max(1);
    let unsolvable = |problem: &[(usize, SOp)], inits: &[u32], budget: &mut Budget| {
        unsolvable(problem, inits, budget, proof.relaxed, step_cap)
    };
    // Candidate starts: the beginning (from the initial value), then every position at which
    // the problem changes: invocations, and just after completions.
    let mut starts: Vec<u64> =
        all.iter().flat_map(|h| [h.call, h.ret.saturating_add(1)]).filter(|&p| p <= end).collect();
    starts.sort_unstable();
    starts.dedup();
    let inits_for = |start: Option<u64>, problem: &[(usize, SOp)]| match start {
        None => vec![init],
        Some(_) => any_value(problem, values),
    };
    let mut minimal = true;
    // Invariant: window `lo` has no solution (index 0 is the beginning, i > 0 is
    // `starts[i - 1]`), and window `hi` has one or is past the end.
    let (mut lo, mut hi) = (0usize, starts.len() + 1);
    let start_of = |i: usize| if i == 0 { None } else { Some(starts[i - 1]) };
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        let problem = window_problem(all, start_of(mid), end);
        match unsolvable(&problem, &inits_for(start_of(mid), &problem), budget) {
            Some(true) => lo = mid,
            Some(false) => hi = mid,
            None => {
                minimal = false;
                hi = mid;
            }
        }
    }
    // Then the end, for that start (when the relaxed search found the contradiction, the
    // history may already be contradictory earlier), and the start again for that end.
    let mut ends: Vec<u64> =
        all.iter().filter(|h| h.ret <= end && h.ret != INFINITE).map(|h| h.ret).collect();
    ends.sort_unstable();
    ends.dedup();
    let end = {
        let from = start_of(lo).unwrap_or(0);
        let cands: Vec<u64> = ends.into_iter().filter(|&e| e >= from).collect();
        // Invariant: window (lo, cands[h]) has no solution; those before l have one.
        let (mut l, mut h) = (0usize, cands.len() - 1);
        while l < h {
            let mid = l + (h - l) / 2;
            let problem = window_problem(all, start_of(lo), cands[mid]);
            match unsolvable(&problem, &inits_for(start_of(lo), &problem), budget) {
                Some(true) => h = mid,
                Some(false) => l = mid + 1,
                None => {
                    minimal = false;
                    l = mid + 1;
                }
            }
        }
        cands[h]
    };
    let mut hi = starts.partition_point(|&p| p <= end) + 1;
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        let problem = window_problem(all, start_of(mid), end);
        match unsolvable(&problem, &inits_for(start_of(mid), &problem), budget) {
            Some(true) => lo = mid,
            Some(false) => hi = mid,
            None => {
                minimal = false;
                hi = mid;
            }
        }
    }
    let start = start_of(lo);
    let mut problem = window_problem(all, start, end);
    let inits = inits_for(start, &problem);
    // The core: relax ok operations one at a time while the window stays unsolvable.
    let mut roles: Vec<Role> =
        problem.iter().map(|(_, o)| if o.required { Role::Core } else { Role::Maybe }).collect();
    // Reads first, then CAS, then writes: a core of writes and the reads that contradict
    // them reads best ("2 was written, then 1 was read").
    let mut order: Vec<usize> = (0..problem.len()).collect();
    order.sort_by_key(|&k| {
        let rank = match problem[k].1.kind {
            Kind::Read(_) => 0,
            Kind::Cas(..) => 1,
            Kind::Write(_) => 2,
        };
        (rank, problem[k].1.call)
    });
    for k in order {
        if roles[k] != Role::Core {
            continue;
        }
        problem[k].1.required = false;
        let relaxed: Vec<(usize, SOp)> =
            problem.iter().copied().filter(|(_, o)| o.required || !o.kind.is_read()).collect();
        match unsolvable(&relaxed, &inits, budget) {
            Some(true) => roles[k] = Role::Inside,
            Some(false) => problem[k].1.required = true,
            None => {
                minimal = false;
                problem[k].1.required = true;
                break;
            }
        }
    }
    let mut ops: Vec<(u64, WindowOp)> = problem
        .iter()
        .zip(roles)
        .map(|((i, _), role)| (all[*i].call, WindowOp { index: all[*i].index, role }))
        .collect();
    ops.sort_by_key(|(call, w)| (*call, w.index));
    let ops = ops.into_iter().map(|(_, w)| w).collect();
    let first = problem.iter().map(|(_, o)| o.call).min().unwrap_or(end);
    Window {
        start: start.unwrap_or(first),
        end,
        from_initial: start.is_none(),
        ops,
        relaxed: proof.relaxed,
        minimal,
        states: budget.used,
    }
}

/// Synthetic register histories for tests and benchmarks: a correct register shared by many
/// processes, with indeterminate operations, and a way to corrupt one read.
pub mod synth {
    use super::{Call, Op, Status};
    use crate::rng::Rng;

    /// Shape of a synthetic history.
    #[derive(Clone, Debug)]
    pub struct Shape {
        /// Operations in total.
        pub ops: usize,
        /// Processes, each with at most one operation pending.
        pub processes: usize,
        /// Fraction of its time a process has an operation pending (1: it invokes the next one
        /// as soon as the last completes, so `processes` operations are always concurrent).
        pub busy: f64,
        /// Probability that an operation ends indeterminate (half of those took effect).
        pub info: f64,
        /// Distinct values written (Jepsen's register test writes 0..=4).
        pub values: u64,
    }

    /// A linearizable history of a register starting at nil. Each process runs operations one
    /// after another (durations exponential, mean 1; pauses between them to make the process
    /// `busy` that fraction of the time); each operation takes effect at a random point of its
    /// interval. Reads, writes and CAS come in Jepsen's proportions (a read in two, then a
    /// write for every two CAS, values uniform); a CAS that finds another value fails; an
    /// indeterminate operation is info and its process is replaced. Positions are event
    /// indices.
    pub fn history(shape: &Shape, seed: u64) -> Vec<Op<u64>> {
        struct Timed {
            process: u64,
            call: f64,
            effect: f64,
            ret: f64,
            f: Call<u64>,
            info: bool,
            takes_effect: bool,
        }
        let mut rng = Rng::new(seed);
        let processes = shape.processes.max(1);
        let pause = (1.0 - shape.busy.clamp(0.01, 1.0)) / shape.busy.clamp(0.01, 1.0);
        let mut free_at: Vec<f64> = (0..processes).map(|_| rng.unit()).collect();
        let mut process_id: Vec<u64> = (0..processes as u64).collect();
        let mut timed = Vec::with_capacity(shape.ops);
        for _ in 0..shape.ops {
            // The process free soonest invokes the next operation.
            let (p, &call) = free_at
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.total_cmp(b.1))
                .expect("at least one process");
            let dur = rng.exponential(1.0).max(1e-6);
            let ret = call + dur;
            let effect = call + rng.unit() * dur;
            let f = match rng.below(6) {
                0..=2 => Call::Read(None),
                3 => Call::Write(Some(rng.below(shape.values))),
                _ => Call::Cas(Some(rng.below(shape.values)), Some(rng.below(shape.values))),
            };
            let info = rng.chance(shape.info);
            let takes_effect = !info || rng.chance(0.5);
            timed.push(Timed { process: process_id[p], call, effect, ret, f, info, takes_effect });
            free_at[p] = ret + if pause > 0.0 { rng.exponential(pause) } else { 0.0 };
            if info {
                process_id[p] += processes as u64;
            }
        }
        // Apply the effects in order to find reads' values and CAS outcomes.
        let mut by_effect: Vec<usize> = (0..timed.len()).collect();
        by_effect.sort_by(|&a, &b| timed[a].effect.total_cmp(&timed[b].effect));
        let mut value: Option<u64> = None;
        let mut status: Vec<Status> =
            timed.iter().map(|t| if t.info { Status::Info } else { Status::Ok }).collect();
        for &i in &by_effect {
            let t = &mut timed[i];
            if !t.takes_effect {
                continue;
            }
            match &mut t.f {
                Call::Read(v) => *v = value,
                Call::Write(v) => value = *v,
                Call::Cas(from, to) => {
                    if *from == value {
                        value = *to;
                    } else if !t.info {
                        status[i] = Status::Fail;
                    }
                }
            }
        }
        // Events in time order give the positions.
        let mut events: Vec<(f64, bool, usize)> = Vec::with_capacity(2 * timed.len());
        for (i, t) in timed.iter().enumerate() {
            events.push((t.call, true, i));
            events.push((t.ret, false, i));
        }
        events.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)));
        let mut pos = vec![(0u64, 0u64); timed.len()];
        for (k, &(_, call, i)) in events.iter().enumerate() {
            if call {
                pos[i].0 = k as u64;
            } else {
                pos[i].1 = k as u64;
            }
        }
        timed
            .into_iter()
            .enumerate()
            .map(|(i, t)| Op {
                process: t.process,
                call: pos[i].0,
                ret: Some(pos[i].1),
                status: status[i],
                // An indeterminate read's value is unknown to the client.
                f: if t.info && matches!(t.f, Call::Read(_)) { Call::Read(None) } else { t.f },
            })
            .collect()
    }

    /// Makes the ok read nearest the middle of the history read `value` (say, one no write
    /// wrote, which makes the history not linearizable). Returns its index.
    pub fn corrupt_a_read(ops: &mut [Op<u64>], value: u64) -> Option<usize> {
        let mid = ops.len() / 2;
        let i = (mid..ops.len())
            .chain(0..mid)
            .find(|&i| ops[i].status == Status::Ok && matches!(ops[i].f, Call::Read(_)))?;
        ops[i].f = Call::Read(Some(value));
        Some(i)
    }
}

#[cfg(test)]
mod tests;
