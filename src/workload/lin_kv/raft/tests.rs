//! The Raft core under a small deterministic simulator: a seeded network that delays, drops,
//! reorders and partitions messages, clients that propose and read at whichever node leads,
//! and Raft's safety properties checked after every single step.
//!
//! The state machine is the list of commands applied, so a snapshot is that list and two
//! states agree exactly when their histories do.

use std::collections::BTreeMap;

use hashbrown::HashMap;

use super::*;

type Snap = Vec<u64>;
type Msg = Message<u64, Snap>;

/// One node and the state machine it drives.
struct Node {
    raft: Raft<u64, Snap>,
    applied: u64,
    /// Commands applied, in order.
    state: Vec<u64>,
    last_term: u64,
    last_commit: u64,
    was_leader: bool,
}

/// A deliberately broken node, to show the checks catch it.
#[derive(Copy, Clone, Debug, PartialEq)]
enum Sabotage {
    None,
    /// A leader counts its own entries as committed at once.
    CommitOnAppend,
    /// A leader treats every round as confirmed by all peers (reads without a quorum).
    ReadsWithoutQuorum,
    /// A leader commits whatever a majority holds, whatever its term.
    CommitOldTerms,
}

struct Sim {
    nodes: Vec<Node>,
    now: Instant,
    rng: Rng,
    queue: BTreeMap<(Instant, u64), (usize, usize, Msg)>,
    seq: u64,
    /// `up[a][b]`: messages from a to b are delivered.
    up: Vec<Vec<bool>>,
    /// Message delay, uniform in this range (microseconds).
    delay: (u64, u64),
    drop: f64,
    out: Outbox<u64, Snap>,
    /// Compact when this many applied entries follow the snapshot point.
    compact_every: Option<u64>,
    sabotage: Sabotage,
    /// Applied to every message at delivery: false drops it.
    filter: Option<fn(usize, usize, &mut Msg) -> bool>,
    // What the checks remember.
    leaders: HashMap<u64, usize>,
    /// Every committed entry ever seen: `committed[i - 1]` is index `i`.
    committed: Vec<Entry<u64>>,
    /// Every entry ever held, by (index, term).
    seen: HashMap<(u64, u64), Option<u64>>,
    /// Open reads: ctx -> (node, lowest index the answer may reflect).
    reads: HashMap<u64, (usize, u64)>,
    /// Proposals awaiting their outcome: (node, index, term) -> command.
    proposals: HashMap<(usize, u64, u64), u64>,
    /// Acknowledged proposals: (index, term, command).
    acked: Vec<(u64, u64, u64)>,
    reads_served: usize,
    /// Faults change every this many milliseconds (uniform range).
    fault_ms: (u64, u64),
    restores: usize,
    next_cmd: u64,
    next_ctx: u64,
}

fn cfg() -> Config {
    Config {
        election_min: Duration::from_millis(150),
        election_max: Duration::from_millis(300),
        heartbeat: Duration::from_millis(50),
        batch: Duration::from_millis(10),
        max_batch_entries: 8,
        ..Config::default()
    }
}

impl Sim {
    fn new(n: usize, seed: u64, cfg: Config) -> Sim {
        let mut rng = Rng::new(seed);
        let nodes = (0..n)
            .map(|i| Node {
                raft: Raft::new(i, n, cfg.clone(), rng.fork(), Instant::ZERO),
                applied: 0,
                state: Vec::new(),
                last_term: 0,
                last_commit: 0,
                was_leader: false,
            })
            .collect();
        Sim {
            nodes,
            now: Instant::ZERO,
            rng,
            queue: BTreeMap::new(),
            seq: 0,
            up: vec![vec![true; n]; n],
            delay: (0, 5_000),
            drop: 0.0,
            out: Outbox::default(),
            compact_every: None,
            sabotage: Sabotage::None,
            filter: None,
            leaders: HashMap::new(),
            committed: Vec::new(),
            seen: HashMap::new(),
            reads: HashMap::new(),
            proposals: HashMap::new(),
            acked: Vec::new(),
            reads_served: 0,
            fault_ms: (100, 1000),
            restores: 0,
            next_cmd: 1,
            next_ctx: 1,
        }
    }

    fn n(&self) -> usize {
        self.nodes.len()
    }

    /// Cuts the cluster into `groups` (nodes in no group are isolated).
    fn partition(&mut self, groups: &[&[usize]]) {
        let n = self.n();
        self.up = vec![vec![false; n]; n];
        for g in groups {
            for &a in *g {
                for &b in *g {
                    self.up[a][b] = true;
                }
            }
        }
    }

    fn heal(&mut self) {
        let n = self.n();
        self.up = vec![vec![true; n]; n];
    }

    fn leader(&self) -> Option<usize> {
        // The leader of the highest term, if any.
        (0..self.n())
            .filter(|&i| self.nodes[i].raft.is_leader())
            .max_by_key(|&i| self.nodes[i].raft.term())
    }

    /// Takes node `i`'s output, applies what it committed, and checks every invariant.
    fn after(&mut self, i: usize) -> Result<(), String> {
        match self.sabotage {
            Sabotage::None => {}
            Sabotage::CommitOnAppend => {
                let r = &mut self.nodes[i].raft;
                if r.is_leader() {
                    r.commit = r.log.last_index();
                }
            }
            Sabotage::CommitOldTerms => {
                let r = &mut self.nodes[i].raft;
                if r.is_leader() {
                    let mut m: Vec<u64> = (0..r.n)
                        .map(|p| if p == i { r.log.last_index() } else { r.peers[p].matched })
                        .collect();
                    m.sort_unstable_by(|a, b| b.cmp(a));
                    r.commit = r.commit.max(m[r.quorum() - 1]);
                }
            }
            Sabotage::ReadsWithoutQuorum => {
                let r = &mut self.nodes[i].raft;
                if r.is_leader() {
                    for p in &mut r.peers {
                        p.acked_round = u64::MAX;
                    }
                    let mut out = Outbox::default();
                    r.check_reads(&mut out);
                    self.out.events.extend(out.events);
                }
            }
        }
        let mut out = std::mem::take(&mut self.out);
        for (to, m) in out.msgs.drain(..) {
            if self.rng.chance(self.drop) {
                continue;
            }
            let d = self.delay.0 + self.rng.below(self.delay.1 - self.delay.0 + 1);
            self.seq += 1;
            self.queue.insert((self.now + Duration::from_micros(d), self.seq), (i, to, m));
        }
        let mut ready = Vec::new();
        for ev in out.events.drain(..) {
            match ev {
                Event::Restore { index, data } => {
                    let expect: Vec<u64> =
                        self.committed[..index as usize].iter().filter_map(|e| e.cmd).collect();
                    if data != expect {
                        return Err(format!("n{i} restored a snapshot that is not the history"));
                    }
                    let node = &mut self.nodes[i];
                    if index <= node.applied {
                        return Err(format!("n{i} restored an older snapshot"));
                    }
                    node.state = data;
                    node.applied = index;
                    self.restores += 1;
                    self.proposals.retain(|&(p, at, _), _| p != i || at > index);
                }
                Event::ReadReady(ctx) => ready.push(ctx),
                Event::ReadFailed(ctx) => {
                    self.reads.remove(&ctx);
                }
            }
        }
        self.out = out;
        self.check_node(i)?;
        // Apply.
        let node = &mut self.nodes[i];
        while node.applied < node.raft.commit() {
            node.applied += 1;
            let at = node.applied;
            let e = node.raft.entry(at).ok_or(format!("n{i}: committed entry {at} missing"))?;
            if self.committed.get(at as usize - 1) != Some(e) {
                return Err(format!("n{i} applies {e:?} at {at}, not the committed entry"));
            }
            if let Some(c) = e.cmd {
                node.state.push(c);
            }
            let term = e.term;
            let mine: Vec<_> =
                self.proposals.keys().filter(|k| k.0 == i && k.1 == at).copied().collect();
            for k in mine {
                let cmd = self.proposals.remove(&k).expect("listed");
                if k.2 == term {
                    self.acked.push((at, term, cmd));
                }
            }
        }
        for ctx in ready {
            let Some((node_id, min)) = self.reads.remove(&ctx) else { continue };
            if node_id != i {
                return Err(format!("read {ctx} answered by n{i}, asked of n{node_id}"));
            }
            let applied = self.nodes[i].applied;
            if applied < min {
                return Err(format!(
                    "n{i} served read {ctx} at index {applied}, but {min} was committed before it \
                     began (stale read)"
                ));
            }
            self.reads_served += 1;
        }
        if let Some(k) = self.compact_every {
            let node = &mut self.nodes[i];
            if node.applied - node.raft.log().snap_index() > k {
                node.raft.compact(node.applied, node.state.clone());
            }
        }
        Ok(())
    }

    /// Raft's safety properties, as far as node `i`'s latest step could affect them.
    fn check_node(&mut self, i: usize) -> Result<(), String> {
        let node = &mut self.nodes[i];
        let r = &node.raft;
        if r.term() < node.last_term {
            return Err(format!("n{i}: term went back from {} to {}", node.last_term, r.term()));
        }
        if r.commit() < node.last_commit {
            return Err(format!("n{i}: commit went back"));
        }
        node.last_term = r.term();
        // Election safety: one leader per term.
        if r.is_leader() {
            let l = *self.leaders.entry(r.term()).or_insert(i);
            if l != i {
                return Err(format!("two leaders in term {}: n{l} and n{i}", r.term()));
            }
        }
        // Log matching: an (index, term) names one entry everywhere, ever.
        let log = r.log();
        for idx in log.snap_index() + 1..=log.last_index() {
            let e = log.entry(idx).expect("held");
            let prev = self.seen.entry((idx, e.term)).or_insert(e.cmd);
            if *prev != e.cmd {
                return Err(format!("n{i}: ({idx}, t{}) holds {:?} and {prev:?}", e.term, e.cmd));
            }
        }
        // Committed entries never change, and every node agrees on them.
        for idx in node.last_commit.max(log.snap_index()) + 1..=r.commit() {
            let e = log.entry(idx).ok_or(format!("n{i}: committed {idx} not held"))?;
            match self.committed.get(idx as usize - 1) {
                Some(c) if c != e => {
                    return Err(format!("n{i} committed {e:?} at {idx}, but {c:?} was committed"));
                }
                Some(_) => {}
                None if idx as usize == self.committed.len() + 1 => self.committed.push(e.clone()),
                None => return Err(format!("n{i} committed {idx} past a gap")),
            }
        }
        for idx in log.snap_index() + 1..=r.commit().min(log.last_index()) {
            if log.entry(idx) != self.committed.get(idx as usize - 1) {
                return Err(format!("n{i}: committed entry {idx} changed"));
            }
        }
        node.last_commit = r.commit();
        // Leader completeness: a new leader holds every committed entry.
        if r.is_leader() && !node.was_leader {
            for idx in 1..=self.committed.len() as u64 {
                if idx > log.snap_index() && log.entry(idx) != self.committed.get(idx as usize - 1)
                {
                    return Err(format!("n{i} leads term {} without committed {idx}", r.term()));
                }
            }
        }
        node.was_leader = r.is_leader();
        Ok(())
    }

    fn next_event(&self) -> Instant {
        let msg = self.queue.keys().next().map(|k| k.0);
        let timer = self.nodes.iter().map(|n| n.raft.deadline()).min();
        [msg, timer].into_iter().flatten().min().expect("nodes always have a deadline")
    }

    /// Runs every event up to `until`.
    fn run_until(&mut self, until: Instant) -> Result<(), String> {
        loop {
            let at = self.next_event();
            if at > until {
                self.now = until;
                return Ok(());
            }
            self.now = at;
            self.step_one()?;
        }
    }

    fn step_one(&mut self) -> Result<(), String> {
        if let Some((&k, _)) = self.queue.iter().next().filter(|(k, _)| k.0 <= self.now) {
            let (from, to, mut m) = self.queue.remove(&k).expect("present");
            if self.up[from][to] && self.filter.is_none_or(|f| f(from, to, &mut m)) {
                self.nodes[to].raft.step(self.now, from, m, &mut self.out);
                return self.after(to);
            }
            return Ok(());
        }
        for i in 0..self.n() {
            if self.nodes[i].raft.deadline() <= self.now {
                self.nodes[i].raft.tick(self.now, &mut self.out);
                return self.after(i);
            }
        }
        Ok(())
    }

    fn run_for(&mut self, d: Duration) -> Result<(), String> {
        let until = self.now + d;
        self.run_until(until)
    }

    /// A client proposes the next command at node `i` (if it leads).
    fn propose(&mut self, i: usize) -> Result<bool, String> {
        let cmd = self.next_cmd;
        let r = self.nodes[i].raft.propose(self.now, cmd, &mut self.out);
        if let Ok((index, term)) = r {
            self.next_cmd += 1;
            self.proposals.insert((i, index, term), cmd);
        }
        self.after(i)?;
        Ok(r.is_ok())
    }

    /// A client reads at node `i` (if it leads).
    fn read(&mut self, i: usize) -> Result<bool, String> {
        let ctx = self.next_ctx;
        self.next_ctx += 1;
        // The read must reflect everything committed anywhere before it began.
        let min = self.committed.len() as u64;
        self.reads.insert(ctx, (i, min));
        let ok = self.nodes[i].raft.read(self.now, ctx, &mut self.out).is_ok();
        if !ok {
            self.reads.remove(&ctx);
        }
        self.after(i)?;
        Ok(ok)
    }

    /// Runs until some node leads; returns it.
    fn await_leader(&mut self, within: Duration) -> Result<usize, String> {
        let all: Vec<usize> = (0..self.n()).collect();
        self.await_leader_among(&all, within)
    }

    /// Runs until one of `among` leads with its no-op committed; returns it.
    fn await_leader_among(&mut self, among: &[usize], within: Duration) -> Result<usize, String> {
        let until = self.now + within;
        while self.now < until {
            let l = among.iter().copied().filter(|&i| self.nodes[i].raft.is_leader());
            if let Some(l) = l.max_by_key(|&i| self.nodes[i].raft.term()) {
                if self.nodes[l].raft.commit() >= self.nodes[l].raft.noop_index {
                    return Ok(l);
                }
            }
            let step = self.now + Duration::from_millis(1);
            self.run_until(step)?;
        }
        Err(format!("no leader within {within:?}"))
    }

    /// Heals, runs quietly, and checks that the cluster converged on one history that holds
    /// every acknowledged command.
    fn converge(&mut self) -> Result<(), String> {
        self.heal();
        self.drop = 0.0;
        let l = self.await_leader(Duration::from_secs(5))?;
        // One more command, so every node learns the final commit index; then wait (five
        // seconds at most) until every node holds what the leader holds.
        self.propose(l)?;
        let converged = |s: &Sim| {
            s.leader().is_some_and(|l| {
                let want = (&s.nodes[l].state, s.nodes[l].raft.commit());
                s.nodes.iter().all(|n| (&n.state, n.raft.commit()) == want)
            })
        };
        let until = self.now + Duration::from_secs(5);
        while !converged(self) && self.now < until {
            self.run_for(Duration::from_millis(10))?;
        }
        let l = self.leader().ok_or("no leader after healing")?;
        let want = &self.nodes[l].state;
        for (i, n) in self.nodes.iter().enumerate() {
            if n.state != *want || n.raft.commit() != self.nodes[l].raft.commit() {
                return Err(format!("n{i} did not converge: {:?} vs {want:?}", n.state));
            }
        }
        for &(index, term, cmd) in &self.acked {
            let e = &self.committed[index as usize - 1];
            if e.term != term || e.cmd != Some(cmd) {
                return Err(format!("acknowledged command {cmd} at {index} lost"));
            }
            if !want.contains(&cmd) {
                return Err(format!("acknowledged command {cmd} missing from the state"));
            }
        }
        Ok(())
    }

    /// A run with random partitions, drops and client operations.
    fn chaos(&mut self, secs: u64) -> Result<(), String> {
        let end = self.now + Duration::from_secs(secs);
        let mut next_fault = self.now;
        while self.now < end {
            if self.now >= next_fault {
                let n = self.n();
                match self.rng.below(4) {
                    0 => self.heal(),
                    1 => {
                        // Isolate the leader, if any, else a random node.
                        let victim = self.leader().unwrap_or(self.rng.below(n as u64) as usize);
                        let rest: Vec<usize> = (0..n).filter(|&x| x != victim).collect();
                        self.partition(&[&rest]);
                    }
                    2 => {
                        let mut ids: Vec<usize> = (0..n).collect();
                        self.rng.shuffle(&mut ids);
                        let cut = 1 + self.rng.below(n as u64 - 1) as usize;
                        let (a, b) = ids.split_at(cut);
                        self.partition(&[a, b]);
                    }
                    _ => {
                        // Random one-way links.
                        for a in 0..n {
                            for b in 0..n {
                                self.up[a][b] = a == b || self.rng.chance(0.7);
                            }
                        }
                    }
                }
                let (lo, hi) = self.fault_ms;
                next_fault = self.now + Duration::from_millis(lo + self.rng.below(hi - lo));
            }
            for _ in 0..1 + self.rng.below(3) {
                let i = self.rng.below(self.n() as u64) as usize;
                if self.rng.chance(0.7) {
                    self.propose(i)?;
                } else {
                    self.read(i)?;
                }
            }
            let d = Duration::from_millis(1 + self.rng.below(20));
            self.run_for(d)?;
        }
        self.converge()
    }
}

#[test]
fn one_leader_is_elected_and_stays() {
    for n in [1, 3, 5] {
        let mut s = Sim::new(n, 7, cfg());
        let l = s.await_leader(Duration::from_secs(2)).unwrap();
        let term = s.nodes[l].raft.term();
        s.run_for(Duration::from_secs(5)).unwrap();
        assert_eq!(s.leader(), Some(l), "{n} nodes: a quiet cluster keeps its leader");
        assert_eq!(s.nodes[l].raft.term(), term);
        for node in &s.nodes {
            assert_eq!(node.raft.leader(), Some(l));
            assert_eq!(node.raft.term(), term);
        }
    }
}

#[test]
fn proposals_commit_everywhere_in_order() {
    let mut s = Sim::new(5, 1, cfg());
    let l = s.await_leader(Duration::from_secs(2)).unwrap();
    for _ in 0..100 {
        assert!(s.propose(l).unwrap());
    }
    s.run_for(Duration::from_millis(500)).unwrap();
    let want: Vec<u64> = (1..=100).collect();
    for n in &s.nodes {
        assert_eq!(n.state, want);
    }
    assert_eq!(s.acked.len(), 100);
    // Followers refuse.
    let f = (l + 1) % 5;
    assert!(!s.propose(f).unwrap());
    assert_eq!(s.nodes[f].raft.propose(s.now, 0, &mut Outbox::default()), Err(Refused::NotLeader));
}

#[test]
fn rounds_batch_operations_and_heartbeats_only_when_idle() {
    let mut s = Sim::new(3, 2, cfg());
    s.delay = (0, 0);
    let l = s.await_leader(Duration::from_secs(2)).unwrap();
    // Just after a round, 50 proposals wait for the next one, which carries them all (8
    // entries a message: the rest follow as each part is acknowledged).
    let round = s.nodes[l].raft.round;
    while s.nodes[l].raft.round == round {
        s.run_for(Duration::from_micros(100)).unwrap();
    }
    let seq = s.seq;
    for _ in 0..50 {
        s.propose(l).unwrap();
    }
    assert_eq!(s.seq, seq, "nothing sent before the batch interval");
    s.run_for(Duration::from_millis(20)).unwrap();
    assert_eq!(s.nodes[l].raft.commit(), s.nodes[l].raft.log().last_index());
    // 7 appends and 7 answers per follower.
    assert_eq!(s.seq - seq, 2 * 2 * 7, "messages for 50 proposals");
    // An idle second: a heartbeat round every 50 ms, answered only now and then: by the
    // chosen follower once half an election timeout (75 ms) passed since its last answer,
    // so every other time; by the other once a whole one (150 ms) passed, every third time.
    let seq = s.seq;
    s.run_for(Duration::from_secs(1)).unwrap();
    assert!((20 * 2 + 10 + 6..=20 * 2 + 10 + 7).contains(&(s.seq - seq)), "{}", s.seq - seq);
}

#[test]
fn only_a_majority_is_asked_to_answer_and_a_silent_one_is_replaced() {
    for n in [3, 5] {
        let mut s = Sim::new(n, 6, cfg());
        s.delay = (1_000, 1_000);
        let l = s.await_leader(Duration::from_secs(2)).unwrap();
        s.run_for(Duration::from_millis(300)).unwrap();
        let chosen = s.nodes[l].raft.chosen();
        assert_eq!(chosen.iter().filter(|&&c| c).count(), n / 2);
        // Under load, the chosen answer every round, the others about once an election
        // timeout: answers are about n / 2 per round instead of n - 1.
        let before = s.seq;
        for _ in 0..100 {
            s.propose(l).unwrap();
            s.run_for(Duration::from_millis(10)).unwrap();
        }
        let sent = s.seq - before;
        let rounds = 1000 / 10;
        assert!(sent <= rounds * ((n - 1) + n / 2 + 1) as u64, "{n} nodes: {sent} messages");
        // Cut the leader off from one chosen peer: commitment stalls two rounds at most, then
        // the round asks everyone and the next chooses among those who answered.
        let victim = (0..n).find(|&p| chosen[p]).unwrap();
        s.up[l][victim] = false;
        s.up[victim][l] = false;
        s.run_for(Duration::from_millis(50)).unwrap();
        let commit = s.nodes[l].raft.commit();
        s.propose(l).unwrap();
        s.run_for(Duration::from_millis(4 * 10 + 5)).unwrap();
        assert!(s.nodes[l].raft.commit() > commit, "{n} nodes: commitment resumed");
        assert!(!s.nodes[l].raft.chosen()[victim]);
    }
}

#[test]
fn reads_need_a_quorum_round_after_they_arrive() {
    let mut s = Sim::new(3, 3, cfg());
    s.delay = (1_000, 1_000);
    let l = s.await_leader(Duration::from_secs(2)).unwrap();
    s.run_for(Duration::from_millis(100)).unwrap();
    assert!(s.read(l).unwrap());
    assert_eq!(s.reads_served, 0, "not before a round trip");
    s.run_for(Duration::from_millis(15)).unwrap();
    assert_eq!(s.reads_served, 1);
    // A leader cut off from everyone never serves a read; it steps down and fails it.
    s.partition(&[&[l]]);
    assert!(s.read(l).unwrap());
    s.run_for(Duration::from_secs(1)).unwrap();
    assert_eq!(s.reads_served, 1);
    assert!(s.reads.is_empty(), "the read was failed");
    assert!(!s.nodes[l].raft.is_leader(), "check-quorum deposed it");
}

#[test]
fn a_leader_partitioned_away_mid_write_loses_no_acknowledged_write() {
    for seed in 0..20 {
        let mut s = Sim::new(5, seed, cfg());
        let old = s.await_leader(Duration::from_secs(2)).unwrap();
        for _ in 0..20 {
            s.propose(old).unwrap();
        }
        s.run_for(Duration::from_millis(20)).unwrap();
        // Mid-write: more proposals, then the leader is cut off with some in flight.
        for _ in 0..20 {
            s.propose(old).unwrap();
            let d = Duration::from_micros(s.rng.below(3_000));
            s.run_for(d).unwrap();
        }
        let acked_before = s.acked.len();
        let rest: Vec<usize> = (0..5).filter(|&x| x != old).collect();
        s.partition(&[&[old], &rest]);
        for _ in 0..10 {
            s.propose(old).unwrap();
        }
        let new = s.await_leader_among(&rest, Duration::from_secs(3)).unwrap();
        for _ in 0..10 {
            s.propose(new).unwrap();
        }
        s.run_for(Duration::from_secs(1)).unwrap();
        assert!(!s.nodes[old].raft.is_leader(), "seed {seed}: check-quorum");
        assert_eq!(s.acked.len(), acked_before + 10, "seed {seed}: the minority commits nothing");
        s.converge().unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
}

/// Raft paper, figure 8. The logs are set up as in (b): s1 led term 2 and copied entry A (index
/// 2) to s2; s5 led term 3 with its own entry at index 2. (c): s1 wins term 4 with s2 and s3
/// and copies A to s3, but its no-op reaches nobody, so A sits on a majority without an entry
/// of term 4 after it. (d): s5 wins term 5 without s1 and overwrites A. If s1 had counted A's
/// replicas as a commit, a committed entry would now be lost. Returns s1's commit index in (c).
fn figure_8(sabotage: Sabotage) -> Result<u64, String> {
    fn filter(from: usize, _to: usize, m: &mut Msg) -> bool {
        match m {
            // s1's term-4 entries never arrive.
            Message::Append { entries, .. } if from == 0 => {
                if let Some(k) = entries.iter().position(|e| e.term == 4) {
                    entries.truncate(k);
                }
                true
            }
            // Only s1 and s5 campaign.
            Message::Vote { .. } => from == 0 || from == 4,
            _ => true,
        }
    }
    let cfg = Config { max_batch_entries: 1, ..cfg() };
    let mut s = Sim::new(5, 11, cfg);
    s.sabotage = sabotage;
    s.filter = Some(filter);
    s.delay = (1_000, 1_000);
    let first = Entry { term: 1, cmd: Some(100) };
    let extra: [&[(u64, u64)]; 5] = [&[(2, 200)], &[(2, 200)], &[], &[], &[(3, 300)]];
    let votes = [None, None, Some(4), Some(4), Some(4)];
    for i in 0..5 {
        let node = &mut s.nodes[i];
        let r = &mut node.raft;
        r.log.push(first.clone());
        for &(term, cmd) in extra[i] {
            r.log.push(Entry { term, cmd: Some(cmd) });
        }
        r.term = 3;
        r.vote = votes[i];
        r.commit = 1;
        r.election_at = Instant::ZERO + Duration::from_secs(if i == 0 { 0 } else { 1 });
        node.applied = 1;
        node.state = vec![100];
        node.last_term = 3;
        node.last_commit = 1;
    }
    s.committed = vec![first];
    // (c)
    s.partition(&[&[0, 1, 2]]);
    s.run_for(Duration::from_millis(100))?;
    let s1 = &s.nodes[0].raft;
    if !(s1.is_leader() && s1.term() == 4) {
        return Err(format!("s1 did not win term 4: {:?} in {}", s1.role(), s1.term()));
    }
    let a = Some(&Entry { term: 2, cmd: Some(200) });
    if s.nodes[1].raft.entry(2) != a || s.nodes[2].raft.entry(2) != a {
        return Err("A did not reach s2 and s3".into());
    }
    let commit_c = s1.commit();
    // (d)
    s.partition(&[&[1, 2, 3, 4]]);
    s.run_for(Duration::from_secs(2))?;
    let s5 = &s.nodes[4].raft;
    if !(s5.is_leader() && s5.commit() >= 2) {
        return Err(format!("s5 did not win: {:?} in {}", s5.role(), s5.term()));
    }
    s.filter = None;
    s.converge()?;
    Ok(commit_c)
}

#[test]
fn figure_8_an_old_term_entry_is_not_committed_by_counting_replicas() {
    assert_eq!(figure_8(Sabotage::None), Ok(1), "A is on a majority but not committed");
    // With the rule broken, s5 leads without a committed entry (leader completeness fails),
    // and then overwrites it.
    let broken = figure_8(Sabotage::CommitOldTerms).unwrap_err();
    assert!(broken.contains("leads term 5 without committed 2"), "{broken}");
}

#[test]
fn lagging_followers_catch_up_by_snapshot() {
    let mut s = Sim::new(3, 5, cfg());
    s.compact_every = Some(20);
    let l = s.await_leader(Duration::from_secs(2)).unwrap();
    let lag = (l + 1) % 3;
    let other = (l + 2) % 3;
    s.partition(&[&[l, other], &[lag]]);
    for _ in 0..200 {
        s.propose(l).unwrap();
        s.run_for(Duration::from_millis(1)).unwrap();
    }
    s.run_for(Duration::from_millis(100)).unwrap();
    assert!(s.nodes[l].raft.log().snap_index() > s.nodes[lag].raft.log().last_index());
    assert!(s.nodes[l].raft.log().len() <= 20 + 8 + 1, "the log stays bounded");
    s.heal();
    s.run_for(Duration::from_secs(1)).unwrap();
    assert_eq!(s.nodes[lag].state, s.nodes[l].state);
    assert_eq!(s.nodes[lag].state.len(), 200);
    s.converge().unwrap();
}

#[test]
fn a_rejoining_node_does_not_depose_a_working_leader() {
    let mut s = Sim::new(5, 9, cfg());
    let l = s.await_leader(Duration::from_secs(2)).unwrap();
    let term = s.nodes[l].raft.term();
    let lonely = (l + 1) % 5;
    let rest: Vec<usize> = (0..5).filter(|&x| x != lonely).collect();
    s.partition(&[&rest, &[lonely]]);
    s.run_for(Duration::from_secs(5)).unwrap();
    assert_eq!(s.nodes[lonely].raft.term(), term, "pre-vote: no term inflation while alone");
    s.heal();
    s.run_for(Duration::from_secs(2)).unwrap();
    assert_eq!(s.leader(), Some(l));
    assert_eq!(s.nodes[l].raft.term(), term, "no election after the heal");
}

#[test]
fn a_follower_cut_off_from_the_leader_alone_cannot_disrupt_it() {
    // n1 hears nobody but n2; n2 still hears the leader. Stickiness keeps n2 from voting.
    let mut s = Sim::new(3, 4, cfg());
    let l = s.await_leader(Duration::from_secs(2)).unwrap();
    let term = s.nodes[l].raft.term();
    let (a, b) = ((l + 1) % 3, (l + 2) % 3);
    s.up[l][a] = false;
    s.up[a][l] = false;
    s.run_for(Duration::from_secs(3)).unwrap();
    assert_eq!(s.leader(), Some(l));
    assert_eq!(s.nodes[l].raft.term(), term);
    assert_eq!(s.nodes[b].raft.leader(), Some(l));
}

#[test]
fn safety_holds_under_chaos() {
    let (mut restores, mut terms) = (0, 0);
    for seed in 0..30 {
        for n in [3, 5] {
            let mut s = Sim::new(n, seed, cfg());
            s.drop = 0.05;
            s.delay = (0, 20_000);
            s.compact_every = Some(50);
            s.chaos(10).unwrap_or_else(|e| panic!("seed {seed}, {n} nodes: {e}"));
            assert!(s.acked.len() > 50, "seed {seed}: progress ({} acked)", s.acked.len());
            assert!(s.reads_served > 10, "seed {seed}: reads served");
            restores += s.restores;
            terms += s.leaders.len();
        }
    }
    // The runs did go through what they are meant to test.
    assert!(restores > 10, "{restores} snapshot installs");
    assert!(terms > 200, "{terms} terms");
}

#[test]
fn safety_holds_in_a_storm() {
    // Faults every 20-300 ms, a fifth of all messages lost, one entry per message: leaders
    // change constantly and logs diverge often.
    for seed in 0..30 {
        let mut s = Sim::new(5, seed, Config { max_batch_entries: 1, ..cfg() });
        s.fault_ms = (20, 300);
        s.drop = 0.2;
        s.delay = (0, 20_000);
        s.compact_every = Some(30);
        s.chaos(10).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
}

#[test]
fn the_checks_catch_a_leader_that_commits_without_a_quorum() {
    let caught = (0..30).any(|seed| {
        let mut s = Sim::new(5, seed, cfg());
        s.sabotage = Sabotage::CommitOnAppend;
        s.delay = (0, 20_000);
        s.chaos(10).is_err()
    });
    assert!(caught);
}

#[test]
fn the_checks_catch_reads_served_without_a_quorum() {
    let caught = (0..30).any(|seed| {
        let mut s = Sim::new(5, seed, cfg());
        s.sabotage = Sabotage::ReadsWithoutQuorum;
        s.delay = (0, 20_000);
        matches!(s.chaos(10), Err(e) if e.contains("stale read"))
    });
    assert!(caught);
}
