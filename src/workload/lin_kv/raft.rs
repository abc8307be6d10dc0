//! The Raft core: elections, log replication, commitment and read-index, as a pure state
//! machine over node indexes.
//!
//! # Call contract
//!
//! [`Raft`] never sends, sleeps, reads a clock or draws unseeded randomness (its RNG is
//! seeded by the caller). A driver:
//!
//! 1. feeds one input: [`Raft::step`] for a message from peer `from`, [`Raft::tick`] once
//!    `now` has reached [`Raft::deadline`], or a client action ([`Raft::propose`],
//!    [`Raft::read`]); each takes `now` and an [`Outbox`];
//! 2. drains the outbox: messages to send (`(peer, Message)`, in order; losing any of them is
//!    safe) and [`Event`]s. Then it applies newly committed entries (everything up to
//!    [`Raft::commit`], read with [`Raft::entry`]), serves ready reads (never before applying:
//!    a read is ready only once its index is committed), and may snapshot applied state with
//!    [`Raft::compact`];
//! 3. asks [`Raft::deadline`] for the next timer.
//!
//! Messages may be lost, delayed, duplicated or reordered; nothing is written to disk, so a
//! node that restarts must not rejoin (Maelstrom never restarts nodes).
//!
//! # The protocol, and what it adds to the paper
//!
//! - **Pre-vote** (Raft thesis §9.6): a node whose election timer fires first asks whether a
//!   majority would vote for it at `term + 1`, without changing anyone's term; only then does
//!   it start a real election. A node cut off by a partition therefore never inflates its term
//!   and cannot depose a working leader when the partition heals.
//! - **Leader stickiness and check-quorum** (thesis §4.2.3, §6.2): a node that has heard from a
//!   leader within the minimum election timeout ignores vote requests; a leader that has not
//!   heard from a majority within that time steps down, so its clients hear about it. The
//!   very first election fires within half a minimum timeout (there is no leader to disrupt).
//! - **Replication in rounds**: the leader sends a round of `Append`s (each carrying every
//!   entry its peer has not acknowledged, up to a batch limit) when there is work: new entries
//!   or reads awaiting confirmation. Rounds are at most one per `batch` interval, so under load
//!   many client operations share one round; when idle a round every `heartbeat` keeps
//!   followers quiet. Acknowledgements are cumulative (the highest index known to match the
//!   leader), so a lost message is repaired by the next round with no per-message
//!   retransmission state. A follower that rejects an `Append` sends a conflict hint (the
//!   first index of the conflicting term, or its log end) and the leader jumps `next` back
//!   past the whole term at once.
//! - **A majority answers**: commitment, read confirmation and check-quorum need answers from
//!   a majority only, so each round asks the `quorum - 1` peers heard from most recently to
//!   answer; the others answer now and then (so the leader learns how far they got), and a
//!   round that only confirms reads is not sent to them at all. If a round stays unconfirmed
//!   for twice the smoothed answer time, the next one asks everyone, and the choice moves to
//!   whoever answered. (At 3 nodes a round is 3 messages instead of 4; at 5, 6 instead of 8.)
//! - **Commitment** only by counting replicas of an entry of the leader's own term (§5.4.2);
//!   a new leader appends a no-op at once so that earlier entries commit without waiting for
//!   a client.
//! - **Read-index** (thesis §6.4): a read is tagged with the commit index when it arrives (or
//!   the new leader's no-op, if higher) and with the next round number; it is ready once a
//!   majority has acknowledged a round at least that new (the leader was still leader after
//!   the read arrived) and that index is committed. Reads cost no log entries, and ride on the
//!   same rounds as writes.
//! - **Snapshots**: the driver compacts the log at an applied index with a snapshot of its
//!   state; a peer that needs entries from before the snapshot gets the snapshot instead (at
//!   most once per `snapshot_resend`).
//!
//! # Bounds
//!
//! A leader refuses proposals while `max_uncommitted` entries await commitment and reads while
//! `max_reads` await confirmation (the driver answers those clients with a definite error);
//! `Append`s carry at most `max_batch_entries` entries and about `max_batch_bytes` bytes; the
//! log is as long as the driver's compaction policy lets it grow past the applied index, plus
//! the uncommitted bound.

use std::collections::VecDeque;
use std::time::Duration;

use super::log::{Entry, Log};
use crate::rng::Rng;
use crate::time::Instant;

/// Timing and size settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Election timeouts are uniform in `[election_min, election_max)`; a node that heard from
    /// a leader within `election_min` ignores vote requests, and a leader steps down if a
    /// majority has not answered within `election_min`.
    pub election_min: Duration,
    /// Upper end of the election timeout.
    pub election_max: Duration,
    /// Idle leaders send a round this often.
    pub heartbeat: Duration,
    /// Minimum time between two rounds: work arriving meanwhile waits for the next one.
    pub batch: Duration,
    /// Entries per `Append`.
    pub max_batch_entries: usize,
    /// Approximate bytes of entries per `Append` (at least one entry is always sent).
    pub max_batch_bytes: usize,
    /// Proposals are refused while this many entries are uncommitted.
    pub max_uncommitted: u64,
    /// Reads are refused while this many await confirmation.
    pub max_reads: usize,
    /// A snapshot is sent to the same peer at most this often.
    pub snapshot_resend: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            election_min: Duration::from_millis(750),
            election_max: Duration::from_millis(1500),
            heartbeat: Duration::from_millis(250),
            batch: Duration::from_millis(150),
            max_batch_entries: 512,
            max_batch_bytes: 512 * 1024,
            max_uncommitted: 2048,
            max_reads: 4096,
            snapshot_resend: Duration::from_millis(1000),
        }
    }
}

/// What a log command must tell the core.
pub trait Command: Clone + std::fmt::Debug {
    /// Approximate encoded size in bytes (for batch limits).
    fn size(&self) -> usize;
}

impl Command for u64 {
    fn size(&self) -> usize {
        8
    }
}

/// A node's role.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// Follows a leader (or waits for one).
    Follower,
    /// Asking whether it could win an election, without changing terms.
    PreCandidate,
    /// Running an election in its own term.
    Candidate,
    /// Leads its term.
    Leader,
}

/// A message between Raft nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message<C, S> {
    /// Vote request; with `pre`, a pre-vote for `term` that the sender has not entered yet.
    Vote {
        /// Pre-vote?
        pre: bool,
        /// The term the vote is for.
        term: u64,
        /// Index of the candidate's last entry.
        last_index: u64,
        /// Term of the candidate's last entry.
        last_term: u64,
    },
    /// Answer to a vote request.
    VoteResp {
        /// Answers a pre-vote?
        pre: bool,
        /// The voter's term (for a granted pre-vote, the term asked for).
        term: u64,
        /// Granted?
        granted: bool,
    },
    /// Entries (possibly none) following `prev_index`; also the heartbeat.
    Append {
        /// Leader's term.
        term: u64,
        /// The leader's round counter when sent, echoed in the answer (for read-index).
        round: u64,
        /// Index of the entry before `entries`.
        prev_index: u64,
        /// Its term.
        prev_term: u64,
        /// Leader's commit index.
        commit: u64,
        /// Entries from `prev_index + 1`.
        entries: Vec<Entry<C>>,
        /// The leader's smoothed answer time: followers stretch their timeouts to it.
        rtt: Duration,
        /// Answer even if all is well. (A rejection is always answered.) Set for the peers a
        /// round asks to answer (a majority's worth when there is something to confirm) and
        /// now and then for the others; an idle heartbeat mostly goes unanswered.
        ack: bool,
    },
    /// Answer to `Append` or `Snapshot`.
    AppendResp {
        /// The follower's term.
        term: u64,
        /// The round of the message answered.
        round: u64,
        /// Did the follower's log match at `prev_index`?
        ok: bool,
        /// `ok`: the follower's log matches the leader's up to here. Not `ok`: where the
        /// leader should retry from (the first index of the conflicting term, or the end of
        /// the follower's log plus one).
        index: u64,
        /// Not `ok`: the follower's term at the conflict (0 if its log was too short).
        hint_term: u64,
    },
    /// The leader's snapshot, for a follower that needs compacted entries.
    Snapshot {
        /// Leader's term.
        term: u64,
        /// Leader's round counter.
        round: u64,
        /// Last index the snapshot covers.
        index: u64,
        /// Term of that entry.
        snap_term: u64,
        /// The state machine as of `index`.
        data: S,
    },
}

impl<C, S> Message<C, S> {
    /// The sender's term.
    pub fn term(&self) -> u64 {
        match *self {
            Message::Vote { term, .. }
            | Message::VoteResp { term, .. }
            | Message::Append { term, .. }
            | Message::AppendResp { term, .. }
            | Message::Snapshot { term, .. } => term,
        }
    }
}

/// Something the driver must act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event<S> {
    /// The read `ctx` may be served from state applied up to the commit index.
    ReadReady(u64),
    /// The read `ctx` cannot be served (leadership lost); it had no effect.
    ReadFailed(u64),
    /// Replace the state machine with this snapshot, applied up to `index`.
    Restore {
        /// Last index the snapshot covers.
        index: u64,
        /// The state.
        data: S,
    },
}

/// Where the core puts its output; the driver drains it after every call.
#[derive(Debug)]
pub struct Outbox<C, S> {
    /// Messages to send, by peer index.
    pub msgs: Vec<(usize, Message<C, S>)>,
    /// Events, in order.
    pub events: Vec<Event<S>>,
}

impl<C, S> Default for Outbox<C, S> {
    fn default() -> Self {
        Outbox { msgs: Vec::new(), events: Vec::new() }
    }
}

/// Why a proposal or read was refused. Either way nothing entered the log.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// This node is not the leader.
    NotLeader,
    /// Too much is already waiting ([`Config::max_uncommitted`], [`Config::max_reads`]).
    Busy,
}

/// The leader's view of one peer.
#[derive(Clone, Debug, Default)]
struct Peer {
    /// Next index to send. Invariant: `matched < next <= last_index + 1` (while leading).
    next: u64,
    /// Highest index known to match the leader's log.
    matched: u64,
    /// Highest round the peer has answered in this term.
    acked_round: u64,
    /// Answered since the last quorum check.
    active: bool,
    /// When it last answered.
    heard: Option<Instant>,
    /// When it was last sent anything.
    last_sent: Option<Instant>,
    /// Last index included in the latest `Append` sent.
    sent_upto: u64,
    /// That `Append` was cut short by the batch limit: send more as soon as it is answered.
    more: bool,
    /// When a snapshot was last sent.
    snap_sent: Option<Instant>,
}

/// A read awaiting confirmation.
#[derive(Clone, Debug)]
struct Read {
    ctx: u64,
    /// It may be served once this index is committed (and applied).
    index: u64,
    /// ... and a majority has answered this round or a later one.
    round: u64,
}

/// One Raft node.
#[derive(Debug)]
pub struct Raft<C, S> {
    id: usize,
    n: usize,
    cfg: Config,
    rng: Rng,
    /// Invariant: never decreases.
    term: u64,
    /// Who this node voted for in `term`.
    vote: Option<usize>,
    role: Role,
    /// The leader of `term`, once known.
    leader: Option<usize>,
    /// When a message from the leader of `term` last arrived (or, on the leader, when it last
    /// knew a majority followed it).
    leader_contact: Option<Instant>,
    log: Log<C>,
    /// The snapshot the log was compacted to (`None` while nothing was compacted).
    snapshot: Option<S>,
    /// Invariant: never decreases; every entry up to it is committed.
    commit: u64,
    election_at: Instant,
    /// Votes received in the current (pre-)election: `Some(granted)` per node.
    votes: Vec<Option<bool>>,
    // Leader state.
    peers: Vec<Peer>,
    /// Rounds sent in this term.
    round: u64,
    /// Earliest time for the next round.
    round_at: Instant,
    /// Next idle round.
    heartbeat_at: Instant,
    /// Next check that a majority is still answering.
    quorum_at: Instant,
    /// Index of this leader's no-op.
    noop_index: u64,
    /// The last round in which some peer was asked to answer, and when it was sent.
    asked_round: u64,
    asked_at: Instant,
    /// Smoothed time for an asked peer to answer (on a follower: as the leader said).
    srtt: Duration,
    /// The latest rounds that asked for answers, and when they were sent (for `srtt`).
    asked: VecDeque<(u64, Instant)>,
    reads: VecDeque<Read>,
}

impl<C: Command, S: Clone> Raft<C, S> {
    /// Node `id` of `n` (`id < n`), a follower in term 0 with an empty log.
    pub fn new(id: usize, n: usize, cfg: Config, rng: Rng, now: Instant) -> Self {
        assert!(id < n, "node {id} of {n}");
        let mut r = Raft {
            id,
            n,
            cfg,
            rng,
            term: 0,
            vote: None,
            role: Role::Follower,
            leader: None,
            leader_contact: None,
            log: Log::new(),
            snapshot: None,
            commit: 0,
            election_at: now,
            votes: vec![None; n],
            peers: vec![Peer::default(); n],
            round: 0,
            round_at: now,
            heartbeat_at: now,
            quorum_at: now,
            noop_index: 0,
            asked_round: 0,
            asked_at: now,
            srtt: Duration::ZERO,
            asked: VecDeque::new(),
            reads: VecDeque::new(),
        };
        // The first election need not wait out a whole timeout: there is no leader to
        // disrupt yet. (Randomised all the same, so that one candidate usually goes first.)
        let first = r.cfg.election_min.as_micros() as u64 / 2;
        r.election_at = now + Duration::from_micros(r.rng.below(first.max(1)));
        r
    }

    // ----- Queries -----

    /// This node's index.
    pub fn id(&self) -> usize {
        self.id
    }

    /// Current term.
    pub fn term(&self) -> u64 {
        self.term
    }

    /// Current role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// True while leading.
    pub fn is_leader(&self) -> bool {
        self.role == Role::Leader
    }

    /// The leader of the current term, if known.
    pub fn leader(&self) -> Option<usize> {
        self.leader
    }

    /// The leader, if a message from it arrived within `within` (a follower's guess at
    /// whether forwarding to it will work). On the leader, itself.
    pub fn fresh_leader(&self, now: Instant, within: Duration) -> Option<usize> {
        if self.role == Role::Leader {
            return Some(self.id);
        }
        let at = self.leader_contact?;
        self.leader.filter(|_| now < at + within)
    }

    /// Highest committed index.
    pub fn commit(&self) -> u64 {
        self.commit
    }

    /// The log.
    pub fn log(&self) -> &Log<C> {
        &self.log
    }

    /// The entry at `index` (held unless compacted away).
    pub fn entry(&self, index: u64) -> Option<&Entry<C>> {
        self.log.entry(index)
    }

    /// The snapshot the log starts after, if any.
    pub fn snapshot(&self) -> Option<&S> {
        self.snapshot.as_ref()
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Reads awaiting confirmation.
    pub fn pending_reads(&self) -> usize {
        self.reads.len()
    }

    fn quorum(&self) -> usize {
        self.n / 2 + 1
    }

    /// The minimum election timeout in force: the configured one, or four smoothed answer
    /// times if longer (so that a slow network does not look like a dead leader). Leases,
    /// check-quorum and the leader's requests for answers scale with it.
    pub fn timeout_min(&self) -> Duration {
        self.cfg.election_min.max(self.srtt.min(MAX_RTT) * 4)
    }

    /// The smoothed time for a follower to answer the leader (measured on the leader,
    /// advertised to followers).
    pub fn rtt(&self) -> Duration {
        self.srtt
    }

    /// When [`Raft::tick`] next has something to do.
    pub fn deadline(&self) -> Instant {
        if self.role != Role::Leader {
            return self.election_at;
        }
        let at = self.heartbeat_at.min(self.quorum_at);
        self.round_wanted().map_or(at, |w| at.min(w))
    }

    // ----- Inputs -----

    /// Fires whatever is due at `now`: an election, a round, a quorum check.
    pub fn tick(&mut self, now: Instant, out: &mut Outbox<C, S>) {
        if self.role != Role::Leader {
            if now >= self.election_at {
                self.campaign(now, out);
            }
            return;
        }
        if now >= self.quorum_at {
            let active = 1 + (0..self.n).filter(|&p| p != self.id && self.peers[p].active).count();
            if active < self.quorum() {
                self.become_follower(now, self.term, None, out);
                return;
            }
            for p in &mut self.peers {
                p.active = false;
            }
            self.leader_contact = Some(now);
            self.quorum_at = now + self.timeout_min();
        }
        self.maybe_round(now, out);
    }

    /// Appends a command (leader only). Returns its index and term: it is applied at that
    /// index if the entry there still has that term when committed, and never otherwise.
    pub fn propose(
        &mut self,
        now: Instant,
        cmd: C,
        out: &mut Outbox<C, S>,
    ) -> Result<(u64, u64), Refused> {
        if self.role != Role::Leader {
            return Err(Refused::NotLeader);
        }
        if self.log.last_index() - self.commit >= self.cfg.max_uncommitted {
            return Err(Refused::Busy);
        }
        self.log.push(Entry { term: self.term, cmd: Some(cmd) });
        let at = (self.log.last_index(), self.term);
        self.maybe_commit(out);
        self.maybe_round(now, out);
        Ok(at)
    }

    /// Asks for a linearizable read (leader only). [`Event::ReadReady`] with `ctx` follows
    /// once it may be served, or [`Event::ReadFailed`] if leadership is lost first.
    pub fn read(&mut self, now: Instant, ctx: u64, out: &mut Outbox<C, S>) -> Result<(), Refused> {
        if self.role != Role::Leader {
            return Err(Refused::NotLeader);
        }
        if self.reads.len() >= self.cfg.max_reads {
            return Err(Refused::Busy);
        }
        let index = self.commit.max(self.noop_index);
        self.reads.push_back(Read { ctx, index, round: self.round + 1 });
        self.maybe_round(now, out);
        Ok(())
    }

    /// Compacts the log up to `index` (at most the commit index; the driver has applied it),
    /// whose state `data` is.
    pub fn compact(&mut self, index: u64, data: S) {
        assert!(index <= self.commit, "compacting uncommitted entries");
        if index <= self.log.snap_index() {
            return;
        }
        let term = self.log.term(index).expect("entries after the snapshot point are held");
        self.log.compact(index, term);
        self.snapshot = Some(data);
    }

    /// Handles a message from peer `from`.
    ///
    /// A message no correct peer could send (terms or indexes beyond 2^62, entries whose
    /// terms go backwards or pass the sender's, a second leader in a term, an attempt to
    /// overwrite a committed entry) is ignored, in whole or from the offending entry on.
    pub fn step(&mut self, now: Instant, from: usize, msg: Message<C, S>, out: &mut Outbox<C, S>) {
        if from >= self.n || from == self.id || !plausible(&msg) {
            return;
        }
        let mterm = msg.term();
        if mterm > self.term {
            match msg {
                // A vote request while a leader is known to be alive is ignored outright (not
                // even the term moves), so a node that was cut off cannot depose it.
                Message::Vote { .. } if self.in_lease(now) => return,
                // Pre-votes never change terms; a granted pre-vote carries the term asked for.
                Message::Vote { pre: true, .. } => {}
                Message::VoteResp { pre: true, granted: true, .. } => {}
                Message::Append { .. } | Message::Snapshot { .. } => {
                    self.become_follower(now, mterm, Some(from), out)
                }
                _ => self.become_follower(now, mterm, None, out),
            }
        } else if mterm < self.term {
            match msg {
                // Tell a stale leader or candidate about the newer term.
                Message::Append { round, .. } | Message::Snapshot { round, .. } => {
                    let resp = Message::AppendResp {
                        term: self.term,
                        round,
                        ok: false,
                        index: 0,
                        hint_term: 0,
                    };
                    out.msgs.push((from, resp));
                }
                Message::Vote { pre, .. } => out
                    .msgs
                    .push((from, Message::VoteResp { pre, term: self.term, granted: false })),
                _ => {}
            }
            return;
        }
        match msg {
            Message::Vote { pre, term, last_index, last_term } => {
                self.on_vote(now, from, pre, term, last_index, last_term, out)
            }
            Message::VoteResp { pre, term, granted } => {
                self.on_vote_resp(now, from, pre, term, granted, out)
            }
            Message::Append { term, round, prev_index, prev_term, commit, entries, rtt, ack } => {
                debug_assert_eq!(term, self.term);
                let prev = (prev_index, prev_term);
                self.srtt = rtt;
                self.on_append(now, from, round, prev, commit, entries, ack, out)
            }
            Message::AppendResp { round, ok, index, hint_term, .. } => {
                self.on_append_resp(now, from, round, ok, index, hint_term, out)
            }
            Message::Snapshot { round, index, snap_term, data, .. } => {
                self.on_snapshot(now, from, round, index, snap_term, data, out)
            }
        }
    }

    // ----- Elections -----

    fn in_lease(&self, now: Instant) -> bool {
        match self.role {
            Role::Leader => true,
            _ => {
                self.leader.is_some()
                    && self.leader_contact.is_some_and(|at| now < at + self.timeout_min())
            }
        }
    }

    fn reset_election(&mut self, now: Instant) {
        let scale = self.timeout_min().as_secs_f64() / self.cfg.election_min.as_secs_f64();
        let lo = self.timeout_min().as_micros() as u64;
        let hi = ((self.cfg.election_max.as_micros() as f64 * scale) as u64).max(lo + 1);
        let us = lo + self.rng.below(hi - lo);
        self.election_at = now + Duration::from_micros(us);
    }

    fn become_follower(
        &mut self,
        now: Instant,
        term: u64,
        leader: Option<usize>,
        out: &mut Outbox<C, S>,
    ) {
        debug_assert!(term >= self.term);
        if self.role == Role::Leader {
            for r in self.reads.drain(..) {
                out.events.push(Event::ReadFailed(r.ctx));
            }
        }
        if term > self.term {
            self.term = term;
            self.vote = None;
        }
        self.role = Role::Follower;
        self.leader = leader;
        self.leader_contact = leader.map(|_| now);
        self.reset_election(now);
    }

    fn campaign(&mut self, now: Instant, out: &mut Outbox<C, S>) {
        self.role = Role::PreCandidate;
        self.leader = None;
        self.leader_contact = None;
        self.start_poll(now, true, out);
    }

    /// Starts a pre-vote or a vote, voting for itself.
    fn start_poll(&mut self, now: Instant, pre: bool, out: &mut Outbox<C, S>) {
        self.votes.iter_mut().for_each(|v| *v = None);
        self.votes[self.id] = Some(true);
        self.reset_election(now);
        let term = if pre { self.term + 1 } else { self.term };
        let (last_index, last_term) = (self.log.last_index(), self.log.last_term());
        for p in (0..self.n).filter(|&p| p != self.id) {
            out.msgs.push((p, Message::Vote { pre, term, last_index, last_term }));
        }
        self.tally(now, out);
    }

    #[allow(clippy::too_many_arguments)]
    fn on_vote(
        &mut self,
        now: Instant,
        from: usize,
        pre: bool,
        term: u64,
        last_index: u64,
        last_term: u64,
        out: &mut Outbox<C, S>,
    ) {
        let up_to_date = (last_term, last_index) >= (self.log.last_term(), self.log.last_index());
        let can_vote = self.vote == Some(from)
            || (self.vote.is_none() && self.leader.is_none())
            || (pre && term > self.term);
        let granted = can_vote && up_to_date;
        if granted && !pre {
            self.vote = Some(from);
            self.reset_election(now);
        }
        let term = if pre && granted { term } else { self.term };
        out.msgs.push((from, Message::VoteResp { pre, term, granted }));
    }

    fn on_vote_resp(
        &mut self,
        now: Instant,
        from: usize,
        pre: bool,
        term: u64,
        granted: bool,
        out: &mut Outbox<C, S>,
    ) {
        let current = match self.role {
            Role::PreCandidate => pre && (term == self.term + 1 || !granted),
            Role::Candidate => !pre && term == self.term,
            _ => false,
        };
        if current {
            self.votes[from] = Some(granted);
            self.tally(now, out);
        }
    }

    /// Moves on if the current (pre-)election is decided.
    fn tally(&mut self, now: Instant, out: &mut Outbox<C, S>) {
        let yes = self.votes.iter().filter(|v| **v == Some(true)).count();
        let no = self.votes.iter().filter(|v| **v == Some(false)).count();
        if yes >= self.quorum() {
            match self.role {
                Role::PreCandidate => {
                    self.term += 1;
                    self.vote = Some(self.id);
                    self.role = Role::Candidate;
                    self.start_poll(now, false, out);
                }
                Role::Candidate => self.become_leader(now, out),
                _ => {}
            }
        } else if no >= self.quorum() {
            // Lost: wait out a fresh timeout as a follower.
            self.role = Role::Follower;
            self.reset_election(now);
        }
    }

    fn become_leader(&mut self, now: Instant, out: &mut Outbox<C, S>) {
        self.role = Role::Leader;
        self.leader = Some(self.id);
        self.leader_contact = Some(now);
        let next = self.log.last_index() + 1;
        for p in &mut self.peers {
            *p = Peer { next, active: true, ..Peer::default() };
        }
        self.round = 0;
        self.asked_round = 0;
        self.asked.clear();
        self.round_at = now;
        self.quorum_at = now + self.timeout_min();
        self.reads.clear();
        self.log.push(Entry { term: self.term, cmd: None });
        self.noop_index = self.log.last_index();
        self.maybe_commit(out);
        self.send_round(now, out);
    }

    // ----- Replication: leader -----

    /// When a round is wanted, if one is: at `round_at` for new work (entries not sent yet,
    /// reads that arrived after the last round), and a retransmission timeout after the last
    /// round that asked for answers if it is still unconfirmed while entries or reads wait.
    fn round_wanted(&self) -> Option<Instant> {
        let last = self.log.last_index();
        let new_work = self.reads.back().is_some_and(|r| r.round > self.round)
            || (0..self.n).any(|p| {
                p != self.id && self.peers[p].sent_upto < last && self.peers[p].next <= last
            });
        let waiting = self.commit < last || !self.reads.is_empty();
        let retry =
            (waiting && self.unconfirmed()).then(|| self.asked_at + self.cfg.batch.max(self.rto()));
        let work = new_work.then_some(self.round_at);
        [work, retry].into_iter().flatten().min()
    }

    /// A majority has not answered the last round that asked for answers.
    fn unconfirmed(&self) -> bool {
        self.confirmed_round() < self.asked_round
    }

    /// How long answers may take before the peers asked count as slow: twice the smoothed
    /// round trip, plus a little.
    fn rto(&self) -> Duration {
        self.srtt * 2 + Duration::from_millis(2)
    }

    fn maybe_round(&mut self, now: Instant, out: &mut Outbox<C, S>) {
        if self.role == Role::Leader
            && (now >= self.heartbeat_at || self.round_wanted().is_some_and(|at| now >= at))
        {
            self.send_round(now, out);
        }
    }

    /// The highest round a majority (this node included) has answered.
    fn confirmed_round(&self) -> u64 {
        let mut rounds: Vec<u64> = (0..self.n)
            .map(|p| if p == self.id { self.round } else { self.peers[p].acked_round })
            .collect();
        rounds.sort_unstable_by(|a, b| b.cmp(a));
        rounds[self.quorum() - 1]
    }

    /// The peers asked to answer every round: the `quorum - 1` heard from most recently.
    fn chosen(&self) -> Vec<bool> {
        let mut order: Vec<usize> = (0..self.n).filter(|&p| p != self.id).collect();
        order.sort_by_key(|&p| (std::cmp::Reverse(self.peers[p].heard), p));
        let mut chosen = vec![false; self.n];
        for &p in order.iter().take(self.quorum() - 1) {
            chosen[p] = true;
        }
        chosen
    }

    fn send_round(&mut self, now: Instant, out: &mut Outbox<C, S>) {
        // The last round that asked is still unconfirmed after a retransmission timeout: a
        // chosen peer is slow or gone, so this round asks everyone (and the next chooses
        // among those who answered).
        let fallback = self.unconfirmed() && now >= self.asked_at + self.rto();
        self.round += 1;
        let chosen = self.chosen();
        let heartbeat = now >= self.heartbeat_at;
        let reads = self.reads.back().is_some_and(|r| r.round <= self.round);
        let (last, snap) = (self.log.last_index(), self.log.snap_index());
        for (p, chosen) in chosen.into_iter().enumerate() {
            if p == self.id {
                continue;
            }
            let peer = &self.peers[p];
            let entries = peer.sent_upto < last || peer.next <= snap;
            // The chosen answer when there is something to confirm (entries, reads); an idle
            // heartbeat needs answers only now and then, for check-quorum.
            let ask = fallback || (chosen && (entries || reads));
            // A round that only confirms reads goes to the peers asked to answer, and to
            // the others only when a heartbeat is due.
            if ask || heartbeat || entries {
                let every = if chosen { self.timeout_min() / 2 } else { self.timeout_min() };
                self.send_to(now, p, ask, every, out);
            }
            if ask && self.asked_round != self.round {
                (self.asked_round, self.asked_at) = (self.round, now);
                if self.asked.len() == ASKED_KEPT {
                    self.asked.pop_front();
                }
                self.asked.push_back((self.round, now));
            }
        }
        self.round_at = now + self.cfg.batch;
        let oldest = (0..self.n).filter(|&p| p != self.id).filter_map(|p| self.peers[p].last_sent);
        self.heartbeat_at = oldest.min().unwrap_or(now) + self.cfg.heartbeat;
        // A cluster of one confirms its own rounds.
        self.check_reads(out);
    }

    /// Sends peer `p` what it lacks. With `ask`, it must answer even if all is well; without,
    /// it answers anyway if it was last heard from `every` ago.
    fn send_to(
        &mut self,
        now: Instant,
        p: usize,
        ask: bool,
        every: Duration,
        out: &mut Outbox<C, S>,
    ) {
        let peer = &mut self.peers[p];
        peer.last_sent = Some(now);
        if peer.next <= self.log.snap_index() {
            // Nothing else can go before the snapshot, so no round waits on this peer.
            peer.sent_upto = self.log.last_index();
            let due = peer.snap_sent.is_none_or(|at| now >= at + self.cfg.snapshot_resend);
            let msg = match (&self.snapshot, due) {
                (Some(data), true) => {
                    peer.snap_sent = Some(now);
                    Message::Snapshot {
                        term: self.term,
                        round: self.round,
                        index: self.log.snap_index(),
                        snap_term: self.log.snap_term(),
                        data: data.clone(),
                    }
                }
                // A heartbeat that any log matches, while the snapshot is on its way.
                _ => Message::Append {
                    term: self.term,
                    round: self.round,
                    prev_index: 0,
                    prev_term: 0,
                    commit: self.commit,
                    entries: Vec::new(),
                    rtt: self.srtt,
                    ack: true,
                },
            };
            out.msgs.push((p, msg));
            return;
        }
        let prev_index = peer.next - 1;
        let prev_term = self.log.term(prev_index).expect("next is past the snapshot point");
        let entries = self.log.slice(
            peer.next,
            self.cfg.max_batch_entries,
            self.cfg.max_batch_bytes,
            C::size,
        );
        peer.sent_upto = prev_index + entries.len() as u64;
        peer.more = peer.sent_upto < self.log.last_index();
        // Besides the peers asked (a majority's worth, for commitment and reads), a peer
        // answers while it catches up in batches, and now and then (so the leader learns how
        // far it got, and that it is alive, for check-quorum and the choice of peers).
        let ack = ask || peer.more || peer.heard.is_none_or(|at| now >= at + every);
        let msg = Message::Append {
            term: self.term,
            round: self.round,
            prev_index,
            prev_term,
            commit: self.commit,
            entries,
            rtt: self.srtt,
            ack,
        };
        out.msgs.push((p, msg));
    }

    #[allow(clippy::too_many_arguments)]
    fn on_append_resp(
        &mut self,
        now: Instant,
        from: usize,
        round: u64,
        ok: bool,
        index: u64,
        hint_term: u64,
        out: &mut Outbox<C, S>,
    ) {
        if self.role != Role::Leader {
            return;
        }
        let last = self.log.last_index();
        if round > self.peers[from].acked_round {
            if let Ok(k) = self.asked.binary_search_by_key(&round, |a| a.0) {
                let sample = now.saturating_since(self.asked[k].1);
                self.srtt = (self.srtt * 7 + sample) / 8;
            }
        }
        let peer = &mut self.peers[from];
        peer.active = true;
        peer.heard = Some(now);
        peer.acked_round = peer.acked_round.max(round);
        if ok {
            let index = index.min(last);
            if index > peer.matched {
                peer.matched = index;
            }
            peer.next = peer.next.max(peer.matched + 1);
            if peer.matched >= self.log.snap_index() {
                peer.snap_sent = None;
            }
            let more = peer.more && index >= peer.sent_upto;
            self.maybe_commit(out);
            if more {
                self.send_to(now, from, true, Duration::ZERO, out);
            }
        } else {
            // Jump back past the whole conflicting term: if this log holds that term, its
            // entries of it match the follower's (same index and term, same entry), so retry
            // after the last of them; otherwise from the start of the follower's run of it.
            // Never below what is known to match, and only ever backwards.
            let to = match self.log.last_index_of_term(hint_term) {
                Some(i) if hint_term > 0 => i + 1,
                _ => index,
            };
            let to = to.min(last + 1).max(peer.matched + 1);
            if to < peer.next {
                peer.next = to;
                self.send_to(now, from, true, Duration::ZERO, out);
            }
        }
        self.check_reads(out);
    }

    fn maybe_commit(&mut self, out: &mut Outbox<C, S>) {
        if self.role != Role::Leader {
            return;
        }
        let mut matched: Vec<u64> = (0..self.n)
            .map(|p| if p == self.id { self.log.last_index() } else { self.peers[p].matched })
            .collect();
        matched.sort_unstable_by(|a, b| b.cmp(a));
        let candidate = matched[self.quorum() - 1];
        // Only an entry of this term commits by counting replicas (Raft §5.4.2).
        if candidate > self.commit && self.log.term(candidate) == Some(self.term) {
            self.commit = candidate;
            self.check_reads(out);
        }
    }

    fn check_reads(&mut self, out: &mut Outbox<C, S>) {
        if self.reads.is_empty() {
            return;
        }
        let confirmed = self.confirmed_round();
        while let Some(r) = self.reads.front() {
            if r.round > confirmed || r.index > self.commit {
                break;
            }
            out.events.push(Event::ReadReady(r.ctx));
            self.reads.pop_front();
        }
    }

    // ----- Replication: follower -----

    /// Follows `from` as the leader of this term. False (and nothing changes) if this node
    /// leads the term itself, which no correct peer can cause.
    fn heard_from_leader(&mut self, now: Instant, from: usize, out: &mut Outbox<C, S>) -> bool {
        if self.role == Role::Leader {
            return false;
        }
        if self.role != Role::Follower {
            self.become_follower(now, self.term, Some(from), out);
        }
        self.leader = Some(from);
        self.leader_contact = Some(now);
        self.reset_election(now);
        true
    }

    #[allow(clippy::too_many_arguments)]
    fn on_append(
        &mut self,
        now: Instant,
        from: usize,
        round: u64,
        (prev_index, prev_term): (u64, u64),
        commit: u64,
        entries: Vec<Entry<C>>,
        ack: bool,
        out: &mut Outbox<C, S>,
    ) {
        if !self.heard_from_leader(now, from, out) {
            return;
        }
        let snap = self.log.snap_index();
        let resp = |ok, index, hint_term| Message::AppendResp {
            term: self.term,
            round,
            ok,
            index,
            hint_term,
        };
        // Entries up to the snapshot point are committed, so they match any current leader's.
        if prev_index >= snap {
            match self.log.term(prev_index) {
                None => {
                    let end = self.log.last_index() + 1;
                    out.msgs.push((from, resp(false, end, 0)));
                    return;
                }
                Some(t) if t != prev_term => {
                    let at = self.log.first_index_of_term_at(prev_index);
                    out.msgs.push((from, resp(false, at, t)));
                    return;
                }
                Some(_) => {}
            }
        }
        let mut index = prev_index;
        for e in entries {
            index += 1;
            if index <= snap {
                continue;
            }
            match self.log.term(index) {
                Some(t) if t == e.term => continue,
                // A correct leader holds every committed entry and its entries' terms never
                // go back: anything else is ignored from here on, unacknowledged.
                Some(_) if index <= self.commit => return,
                Some(_) => self.log.truncate_from(index),
                None => {}
            }
            if e.term < self.log.last_term() {
                return;
            }
            self.log.push(e);
        }
        // Only what this message proved to match may be committed: entries past it might
        // still be a stale leader's.
        let matched = index.max(snap);
        let new_commit = commit.min(matched);
        if new_commit > self.commit {
            self.commit = new_commit;
        }
        if ack {
            out.msgs.push((from, resp(true, matched, 0)));
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_snapshot(
        &mut self,
        now: Instant,
        from: usize,
        round: u64,
        index: u64,
        snap_term: u64,
        data: S,
        out: &mut Outbox<C, S>,
    ) {
        if !self.heard_from_leader(now, from, out) {
            return;
        }
        if index > self.commit {
            self.log.compact(index, snap_term);
            self.commit = index;
            self.snapshot = Some(data.clone());
            out.events.push(Event::Restore { index, data });
        }
        let resp = Message::AppendResp { term: self.term, round, ok: true, index, hint_term: 0 };
        out.msgs.push((from, resp));
    }
}

/// Terms and indexes above this come from no correct peer (and would overflow counters).
const MAX_PLAUSIBLE: u64 = 1 << 62;
/// Rounds whose send times a leader keeps, to measure answer times.
const ASKED_KEPT: usize = 64;
/// The longest answer time a leader advertises (and followers accept).
const MAX_RTT: Duration = Duration::from_secs(10);

/// Can a correct peer have sent `msg`? (Checks what is cheap and local to the message.)
fn plausible<C, S>(msg: &Message<C, S>) -> bool {
    let ok = |v: u64| v <= MAX_PLAUSIBLE;
    match msg {
        Message::Vote { term, last_index, last_term, .. } => {
            ok(*term) && ok(*last_index) && last_term <= term
        }
        Message::VoteResp { term, .. } => ok(*term),
        Message::Append { term, round, prev_index, prev_term, commit, entries, rtt, .. } => {
            *rtt <= MAX_RTT
                && ok(*term)
                && ok(*round)
                && ok(prev_index.saturating_add(entries.len() as u64))
                && ok(*commit)
                && prev_term <= term
                && entries.last().is_none_or(|e| e.term <= *term)
                && entries.first().is_none_or(|e| e.term >= *prev_term)
                && entries.windows(2).all(|w| w[0].term <= w[1].term)
        }
        Message::AppendResp { term, round, index, hint_term, .. } => {
            ok(*term) && ok(*round) && ok(*index) && ok(*hint_term)
        }
        Message::Snapshot { term, round, index, snap_term, .. } => {
            ok(*term) && ok(*round) && ok(*index) && snap_term <= term
        }
    }
}

#[cfg(test)]
mod tests;
