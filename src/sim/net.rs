//! The simulated network: per-destination delivery queues, latency, partitions, loss, and the
//! message journal behind msgs-per-op.
//!
//! Delivery follows Maelstrom's model exactly. Every destination has one queue ordered by
//! deadline and one consumer. An idle consumer takes the earliest-deadline message at once,
//! checks the partition table *then* (not at the deadline), drops the message if the link is
//! cut, and otherwise holds it for the whole milliseconds left until its deadline (Maelstrom
//! sleeps a truncated `(long dt)`) and delivers it. While it holds a message, nothing else
//! reaches that destination, not even a client request with latency 0 (the head-of-line
//! blocking real Maelstrom has).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use serde::Serialize;

use super::journal::{DropReason, Journal};
use super::opts::LatencyDist;
use crate::rng::Rng;
use crate::time::Instant;

/// A participant in the network.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Addr {
    /// A server node, by index in the node list.
    Node(usize),
    /// A service (`lin-kv`, ...), by index in [`super::services::NAMES`].
    Service(usize),
    /// A client `c<k>`.
    Client(usize),
}

impl Addr {
    /// Whether this is a client.
    pub fn is_client(self) -> bool {
        matches!(self, Addr::Client(_))
    }
}

/// One message in flight.
#[derive(Debug)]
pub struct Packet {
    /// Network-wide message number (the `id` field nodes see).
    pub id: u64,
    /// Sender.
    pub src: Addr,
    /// Receiver.
    pub dest: Addr,
    /// When it was sent.
    pub sent: Instant,
    /// When it is due.
    pub deadline: Instant,
    /// The full JSON line, without newline.
    pub line: Vec<u8>,
}

struct Queued(Packet);

impl PartialEq for Queued {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Queued {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.0.deadline, self.0.id).cmp(&(o.0.deadline, o.0.id))
    }
}

/// One destination's queue and consumer.
#[derive(Default)]
struct Inbox {
    queue: BinaryHeap<Reverse<Queued>>,
    /// The message the consumer is waiting to deliver.
    holding: Option<Packet>,
}

/// Message counts of one class, as Maelstrom's net checker reports them.
#[derive(Copy, Clone, Debug, Default, Serialize)]
pub struct Counts {
    /// Messages accepted by the network (dropped ones included).
    pub send_count: u64,
    /// Messages delivered.
    pub recv_count: u64,
    /// Distinct messages (equals `send_count`).
    pub msg_count: u64,
}

/// The journal totals.
#[derive(Copy, Clone, Debug, Default, Serialize)]
pub struct NetStats {
    /// Every message.
    pub all: Counts,
    /// Messages to or from a client.
    pub clients: Counts,
    /// Everything else: node to node and node to service, both ways.
    pub servers: Counts,
    /// Messages dropped by partitions.
    pub dropped_partition: u64,
    /// Messages dropped by `--loss`.
    pub dropped_loss: u64,
}

/// The network.
pub struct Net {
    nodes: usize,
    inboxes: hashbrown::HashMap<Addr, Inbox>,
    /// `blocked[dest][src]`: the partition table between server nodes.
    blocked: Vec<Vec<bool>>,
    latency_ms: u64,
    dist: LatencyDist,
    loss: f64,
    rng: Rng,
    next_id: u64,
    /// Journal totals so far.
    pub stats: NetStats,
    /// The messages the space-time diagram will draw (off unless results are stored).
    pub journal: Journal,
}

impl Net {
    /// A network between `nodes` server nodes (plus any services and clients).
    pub fn new(nodes: usize, latency_ms: u64, dist: LatencyDist, loss: f64, rng: Rng) -> Net {
        Net {
            nodes,
            inboxes: hashbrown::HashMap::new(),
            blocked: vec![vec![false; nodes]; nodes],
            latency_ms,
            dist,
            loss,
            rng,
            next_id: 0,
            stats: NetStats::default(),
            journal: Journal::default(),
        }
    }

    /// Replaces the partition table (`blocked[dest][src]`); all false heals.
    pub fn set_partition(&mut self, blocked: Vec<Vec<bool>>) {
        debug_assert_eq!(blocked.len(), self.nodes);
        self.blocked = blocked;
    }

    /// Heals every partition.
    pub fn heal(&mut self) {
        self.blocked = vec![vec![false; self.nodes]; self.nodes];
    }

    /// Whether any link is cut.
    pub fn partitioned(&self) -> bool {
        self.blocked.iter().any(|r| r.iter().any(|&b| b))
    }

    fn draw_latency(&mut self) -> u64 {
        let l = self.latency_ms;
        match self.dist {
            LatencyDist::Constant => l,
            LatencyDist::Uniform if l == 0 => 0,
            LatencyDist::Uniform => self.rng.below(2 * l),
            LatencyDist::Exponential if l == 0 => 0,
            LatencyDist::Exponential => self.rng.exponential(l as f64).floor() as u64,
        }
    }

    /// A fresh message id, for the `id` field of a message about to be sent.
    pub fn alloc_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Takes message `id` (from [`Net::alloc_id`]) into the network at `now`. Returns when
    /// to call [`Net::deliver`] for `dest`, if its consumer picked up a message.
    pub fn send(
        &mut self,
        now: Instant,
        id: u64,
        src: Addr,
        dest: Addr,
        line: Vec<u8>,
    ) -> Option<Instant> {
        let client = src.is_client() || dest.is_client();
        for c in [
            &mut self.stats.all,
            if client { &mut self.stats.clients } else { &mut self.stats.servers },
        ] {
            c.send_count += 1;
            c.msg_count += 1;
        }
        self.journal.sent(now, id, src, dest, &line);
        let between_nodes = matches!((src, dest), (Addr::Node(_), Addr::Node(_)));
        if between_nodes && self.loss > 0.0 && self.rng.chance(self.loss) {
            self.stats.dropped_loss += 1;
            self.journal.dropped(now, id, DropReason::Loss);
            return None;
        }
        let latency = if client { 0 } else { self.draw_latency() };
        let deadline = now + std::time::Duration::from_millis(latency);
        let inbox = self.inboxes.entry(dest).or_default();
        inbox.queue.push(Reverse(Queued(Packet { id, src, dest, sent: now, deadline, line })));
        self.pump(now, dest)
    }

    /// If `dest`'s consumer is idle, takes the next deliverable message (dropping those a
    /// partition cuts off right now) and returns when it is due.
    fn pump(&mut self, now: Instant, dest: Addr) -> Option<Instant> {
        let inbox = self.inboxes.get_mut(&dest)?;
        if inbox.holding.is_some() {
            return None;
        }
        while let Some(Reverse(Queued(p))) = inbox.queue.pop() {
            let cut = match (p.src, p.dest) {
                (Addr::Node(s), Addr::Node(d)) => self.blocked[d][s],
                _ => false,
            };
            if cut {
                self.stats.dropped_partition += 1;
                self.journal.dropped(now, p.id, DropReason::Partition);
                continue;
            }
            let at = hold_until(now, p.deadline);
            inbox.holding = Some(p);
            return Some(at);
        }
        None
    }

    /// Hands over the message `dest`'s consumer holds (its deadline has come), and returns
    /// when the consumer's next message is due, if it took one.
    pub fn deliver(&mut self, now: Instant, dest: Addr) -> (Option<Packet>, Option<Instant>) {
        let p = self.inboxes.get_mut(&dest).and_then(|i| i.holding.take());
        if let Some(p) = &p {
            self.journal.delivered(now, p.id);
            let client = p.src.is_client() || p.dest.is_client();
            self.stats.all.recv_count += 1;
            if client {
                self.stats.clients.recv_count += 1;
            } else {
                self.stats.servers.recv_count += 1;
            }
        }
        (p, self.pump(now, dest))
    }

    /// Messages queued or held for `dest`.
    pub fn backlog(&self, dest: Addr) -> usize {
        self.inboxes.get(&dest).map_or(0, |i| i.queue.len() + usize::from(i.holding.is_some()))
    }
}

/// When a consumer that takes a message due at `deadline` at time `now` hands it over.
///
/// Maelstrom's `recv!` (`net.clj`) reads the clock after taking the message, computes the
/// time left in milliseconds as a fraction, and sleeps `(long dt)`: whole milliseconds,
/// truncated. The clock has always moved on since the sender computed the deadline, so the
/// time left is never a whole number of milliseconds: taken at once, a message with 100 ms
/// of latency sleeps 99 ms. Here the clock moves in microseconds, so the consumer sees one
/// microsecond less than is left and sleeps the whole milliseconds of that.
fn hold_until(now: Instant, deadline: Instant) -> Instant {
    let left_us = deadline.as_micros().saturating_sub(now.as_micros());
    let sleep_ms = left_us.saturating_sub(1) / 1000;
    now + std::time::Duration::from_millis(sleep_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(latency: u64) -> Net {
        Net::new(3, latency, LatencyDist::Constant, 0.0, Rng::new(1))
    }

    #[test]
    fn delivery_is_by_deadline_with_head_of_line_blocking() {
        let mut n = net(100);
        let t0 = Instant::ZERO;
        let due = n.send(t0, 0, Addr::Node(0), Addr::Node(1), b"a".to_vec());
        assert_eq!(due, Some(Instant::from_millis(99)), "Maelstrom sleeps whole milliseconds");
        // A client request at t=10 has latency 0 but waits behind the held message.
        let due2 =
            n.send(Instant::from_millis(10), 0, Addr::Client(0), Addr::Node(1), b"c".to_vec());
        assert_eq!(due2, None, "consumer busy");
        let (p, next) = n.deliver(Instant::from_millis(99), Addr::Node(1));
        assert_eq!(p.unwrap().line, b"a");
        assert_eq!(next, Some(Instant::from_millis(99)), "client message goes right after");
        let (p, next) = n.deliver(Instant::from_millis(99), Addr::Node(1));
        assert_eq!(p.unwrap().line, b"c");
        assert_eq!(next, None);
        assert_eq!(n.stats.servers.send_count, 1);
        assert_eq!(n.stats.clients.send_count, 1);
        assert_eq!(n.stats.all.recv_count, 2);
    }

    #[test]
    fn the_consumer_sleeps_the_whole_milliseconds_left_as_maelstrom_does() {
        let at = |now_us, deadline_us| {
            hold_until(Instant::from_micros(now_us), Instant::from_micros(deadline_us)).as_micros()
        };
        // Taken at once: 100 ms left, but the clock has moved on, so 99 whole ones.
        assert_eq!(at(5_000, 105_000), 104_000);
        // Taken after waiting behind another message: the fraction is dropped.
        assert_eq!(at(62_600, 100_000), 99_600);
        // Less than a millisecond left, or already due: handed over at once.
        assert_eq!(at(99_500, 100_000), 99_500);
        assert_eq!(at(100_000, 100_000), 100_000);
        assert_eq!(at(120_000, 100_000), 120_000);
    }

    #[test]
    fn partitions_are_checked_when_the_consumer_takes_the_message() {
        let mut n = net(100);
        let mut cut = vec![vec![false; 3]; 3];
        cut[1][0] = true;
        // Taken at once (idle consumer) before the partition: delivered despite it.
        let due = n.send(Instant::ZERO, 0, Addr::Node(0), Addr::Node(1), b"early".to_vec());
        assert!(due.is_some());
        n.set_partition(cut);
        let none =
            n.send(Instant::from_millis(1), 0, Addr::Node(0), Addr::Node(1), b"queued".to_vec());
        assert_eq!(none, None);
        let (p, next) = n.deliver(Instant::from_millis(100), Addr::Node(1));
        assert_eq!(p.unwrap().line, b"early");
        assert_eq!(next, None, "the queued message was dropped at dequeue");
        assert_eq!(n.stats.dropped_partition, 1);
        assert_eq!(n.stats.servers.send_count, 2, "dropped messages count as sent");
        // Services and clients are never cut.
        n.send(Instant::from_millis(200), 0, Addr::Service(0), Addr::Node(1), b"s".to_vec());
        assert!(n.deliver(Instant::from_millis(300), Addr::Node(1)).0.is_some());
    }

    #[test]
    fn latency_distributions_have_maelstrom_ranges() {
        for (dist, lo, hi) in [(LatencyDist::Uniform, 0, 199), (LatencyDist::Exponential, 0, 5000)]
        {
            let mut n = Net::new(2, 100, dist, 0.0, Rng::new(5));
            let mut sum = 0;
            for _ in 0..10_000 {
                let l = n.draw_latency();
                assert!((lo..=hi).contains(&l), "{dist:?} {l}");
                sum += l;
            }
            let mean = sum as f64 / 10_000.0;
            assert!((mean - 100.0).abs() < 6.0, "{dist:?} mean {mean}");
        }
    }
}
