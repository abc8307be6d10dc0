//! Which links between nodes work, and the route each message takes: direct, or through a
//! relay when a partition cuts one direction of a link (or both) but a third node can still
//! reach both ends.
//!
//! Maelstrom's partitions are not always symmetric. Its majorities-ring on three nodes lets
//! `a` reach `b`, `b` reach `c` and `c` reach `a`, and nothing the other way: no two nodes can
//! exchange a request and its answer, so Raft alone elects nobody for as long as it lasts,
//! although every node can reach every other through the third. On five nodes the same shape
//! leaves two nodes out of the leader's reach. Relaying one hop closes both gaps.
//!
//! Every message between nodes carries the sender's *deaf mask*: the nodes it has not heard
//! from directly within the window. A node sends to `p`:
//! - directly, except that to a node that reported not hearing us only a few times per window
//!   (as probes: with none, `p` would never hear us again, and would go on saying so after the
//!   partition heals);
//! - and through relays too if `p` reported that it does not hear us, or if we stopped hearing
//!   it directly (then we cannot know whether it hears us), for one window after its last
//!   news and for as long as its news keep coming through relays (with no news at all, `p` is
//!   cut off from everyone and relays cannot help). A relay is a node that
//!   reported hearing us (or, lacking a report, one we hear), preferably one `p` reported
//!   hearing, two at most. It forwards once, never further.
//!
//! Nothing changes while every link works; relays cost messages only while a partition cuts
//! links. Raft tolerates the duplicates relays make; forwarded client requests take exactly one
//! path ([`Links::route_once`]), so none is ever proposed twice. Masks have 64 bits: in larger
//! clusters relaying is off.

use std::time::Duration;

use smallvec::SmallVec;

use crate::time::Instant;

/// Nodes in the largest cluster that relays.
pub const MAX_RELAYING_NODES: usize = 64;
/// Relays one message takes at most (one may fail, two rarely both do; more only cost).
const MAX_RELAYS: usize = 2;
/// How often per window a message goes straight to a node that reported not hearing us.
const PROBES_PER_WINDOW: u32 = 4;

/// How a message reaches its destination.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Route {
    /// Send it straight to the destination.
    pub direct: bool,
    /// Also through each of these nodes.
    pub via: SmallVec<[usize; 8]>,
}

/// What this node knows of its links.
#[derive(Clone, Debug)]
pub struct Links {
    me: usize,
    /// When a message from each node last arrived directly.
    heard: Vec<Option<Instant>>,
    /// The latest deaf mask each node reported (directly or relayed), and when.
    reports: Vec<Option<(u64, Instant)>>,
    /// When a message last went straight to each node that reported not hearing us.
    probed: Vec<Option<Instant>>,
    /// How long silence may last before a link counts as cut. Must exceed the longest normal
    /// gap between two messages on a link that is in use.
    window: Duration,
    enabled: bool,
}

impl Links {
    /// Links of node `me` of `n`, a link counting as cut after `window` of silence; with
    /// `relay` false (or more than [`MAX_RELAYING_NODES`] nodes) every message goes direct.
    pub fn new(me: usize, n: usize, window: Duration, relay: bool) -> Links {
        Links {
            me,
            heard: vec![None; n],
            reports: vec![None; n],
            probed: vec![None; n],
            window,
            enabled: relay && n <= MAX_RELAYING_NODES,
        }
    }

    fn recent(&self, at: Instant, now: Instant) -> bool {
        now < at + self.window
    }

    fn hears(&self, p: usize, now: Instant) -> bool {
        self.heard[p].is_some_and(|at| self.recent(at, now))
    }

    /// `p` reported recently that it does not hear `q`.
    fn reported_deaf(&self, p: usize, q: usize, now: Instant) -> bool {
        self.reports[p].is_some_and(|(mask, at)| self.recent(at, now) && mask & (1 << q) != 0)
    }

    /// `p` reported recently that it hears `q`.
    fn reported_hearing(&self, p: usize, q: usize, now: Instant) -> bool {
        self.reports[p].is_some_and(|(mask, at)| self.recent(at, now) && mask & (1 << q) == 0)
    }

    /// Sets how long silence may last before a link counts as cut.
    pub fn set_window(&mut self, window: Duration) {
        self.window = window;
    }

    /// This node's index.
    pub fn me(&self) -> usize {
        self.me
    }

    /// A message from `p` arrived directly.
    pub fn heard_from(&mut self, p: usize, now: Instant) {
        self.heard[p] = Some(now);
    }

    /// `p` sent its deaf mask (in a message that arrived directly or through a relay).
    pub fn report(&mut self, p: usize, mask: u64, now: Instant) {
        self.reports[p] = Some((mask, now));
    }

    /// This node's deaf mask: the nodes it has not heard from directly within the window.
    pub fn mask(&self, now: Instant) -> u64 {
        if !self.enabled {
            return 0;
        }
        (0..self.heard.len())
            .filter(|&p| p != self.me && !self.hears(p, now))
            .fold(0, |m, p| m | 1 << p)
    }

    /// Relays towards `p`. Trusted: nodes that reported hearing us (or, with no recent
    /// report, that we hear). With none trusted, any node not known deaf to us, unless we
    /// hear nobody at all (cut off: no relay can help). Among these, those `p` reported
    /// hearing, if any.
    fn relays(&self, p: usize, now: Instant) -> SmallVec<[usize; 8]> {
        let me = self.me;
        let fresh = |r: usize| self.reports[r].is_some_and(|(_, at)| self.recent(at, now));
        let cands =
            (0..self.heard.len()).filter(|&r| r != me && r != p && !self.reported_deaf(r, me, now));
        let trusted: SmallVec<[usize; 8]> = cands
            .clone()
            .filter(|&r| self.reported_hearing(r, me, now) || (!fresh(r) && self.hears(r, now)))
            .collect();
        let ok: SmallVec<[usize; 8]> = if !trusted.is_empty() {
            trusted
        } else if (0..self.heard.len()).any(|q| q != me && self.hears(q, now)) {
            cands.collect()
        } else {
            SmallVec::new()
        };
        // Those `p` reported hearing first, then the rest; most recently heard first.
        let mut ranked = ok;
        ranked.sort_by_key(|&r| {
            (!self.reported_hearing(p, r, now), std::cmp::Reverse(self.heard[r]))
        });
        let best = ranked.iter().filter(|&&r| self.reported_hearing(p, r, now)).count();
        ranked.truncate(if best > 0 { best.min(MAX_RELAYS) } else { MAX_RELAYS });
        ranked
    }

    /// The route of a message to `p` that may arrive more than once.
    pub fn route(&mut self, p: usize, now: Instant) -> Route {
        if !self.enabled {
            return Route { direct: true, via: SmallVec::new() };
        }
        if self.reported_deaf(p, self.me, now) {
            let via = self.relays(p, now);
            // Straight to a node that says it does not hear us only now and then, as a probe
            // that notices when the link heals.
            let probe = via.is_empty()
                || self.probed[p].is_none_or(|at| now >= at + self.window / PROBES_PER_WINDOW);
            if probe {
                self.probed[p] = Some(now);
            }
            return Route { direct: probe, via };
        }
        // A node gone silent is relayed to for one more window; after that only while its
        // news keep coming through relays (without any, it is cut off from everyone who could
        // relay, and relays only cost messages).
        let news = self.reports[p].is_some_and(|(_, at)| now < at + self.window * 2);
        let relay = news && !self.hears(p, now);
        Route { direct: true, via: if relay { self.relays(p, now) } else { SmallVec::new() } }
    }

    /// The one path a message to `p` that must not arrive twice takes: `None` straight to
    /// `p`, `Some(r)` through `r`. Through a relay only when `p` reported not hearing us.
    pub fn route_once(&self, p: usize, now: Instant) -> Option<usize> {
        if !self.enabled || !self.reported_deaf(p, self.me, now) {
            return None;
        }
        self.relays(p, now).first().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn healthy_links_go_direct() {
        let mut l = Links::new(0, 3, Duration::from_millis(100), true);
        l.heard_from(1, t(0));
        l.heard_from(2, t(0));
        l.report(1, 0, t(0));
        assert_eq!(l.mask(t(50)), 0);
        assert_eq!(l.route(1, t(50)), Route { direct: true, via: SmallVec::new() });
        assert_eq!(l.route_once(1, t(50)), None);
        // Silence from 1: relay as well (through 2, which we still hear) for one window.
        l.heard_from(2, t(150));
        assert_eq!(l.mask(t(150)), 0b010);
        let r = l.route(1, t(150));
        assert!(r.direct);
        assert_eq!(r.via.as_slice(), &[2]);
        // No news of 1 for two windows: it is cut off from everyone, relays cannot help.
        l.heard_from(2, t(210));
        assert_eq!(l.route(1, t(210)), Route { direct: true, via: SmallVec::new() });
        // Its news come through 2 again: relay as well.
        l.report(1, 0b001, t(220));
        assert_eq!(l.route(1, t(230)).via.as_slice(), &[2]);
    }

    #[test]
    fn the_directed_three_cycle_is_bridged() {
        // a -> b -> c -> a work, nothing else. Node 0 is a: it hears c (2) only.
        let mut a = Links::new(0, 3, Duration::from_millis(100), true);
        a.heard_from(2, t(10));
        // c reports not hearing a.
        a.report(2, 0b001, t(10));
        // To c, which does not hear us: through b, blindly at first (we know nothing of b,
        // but we do hear someone, so we are not cut off).
        assert_eq!(a.route(2, t(20)), Route { direct: true, via: [1].into_iter().collect() });
        // b's messages reach us through c: b hears us and c, so b is trusted.
        a.report(1, 0b000, t(30));
        assert_eq!(a.route(2, t(40)).via.as_slice(), &[1]);
        // b we do not hear, so we would relay to it too, but the only other node, c, does
        // not hear us: direct only (and b does hear us).
        assert_eq!(a.route(1, t(40)), Route { direct: true, via: SmallVec::new() });
        assert_eq!(a.route_once(1, t(40)), None);
    }

    #[test]
    fn a_message_that_must_not_be_duplicated_takes_one_path() {
        let mut l = Links::new(0, 3, Duration::from_millis(100), true);
        l.heard_from(1, t(0));
        l.heard_from(2, t(0));
        l.report(1, 0b000, t(0));
        assert_eq!(l.route_once(2, t(10)), None, "direct while 2 hears us");
        l.report(2, 0b001, t(10));
        assert_eq!(l.route_once(2, t(20)), Some(1), "through 1 once 2 says it does not");
        assert_eq!(l.route(2, t(20)), Route { direct: true, via: [1].into_iter().collect() });
    }

    #[test]
    fn a_node_cut_off_from_everyone_does_not_relay() {
        let mut l = Links::new(0, 5, Duration::from_millis(100), true);
        for p in 1..5 {
            l.heard_from(p, t(0));
        }
        assert_eq!(l.route(3, t(500)), Route { direct: true, via: SmallVec::new() });
    }

    #[test]
    fn relays_prefer_nodes_the_destination_hears() {
        let mut l = Links::new(0, 5, Duration::from_millis(100), true);
        for p in 1..5 {
            l.heard_from(p, t(0));
        }
        // Node 2 hears only 1 and 3, and not us.
        l.report(2, 0b10001, t(0));
        let r = l.route(2, t(10));
        assert!(r.direct, "a probe, so that a healed link is noticed");
        assert_eq!(r.via.as_slice(), &[1, 3]);
        assert!(!l.route(2, t(20)).direct, "probes go a few times per window only");
        assert!(l.route(2, t(35)).direct);
    }

    #[test]
    fn large_clusters_do_not_relay() {
        let mut l = Links::new(0, 65, Duration::from_millis(100), true);
        assert_eq!(l.mask(t(1000)), 0);
        assert!(l.route(7, t(1000)).direct && l.route(7, t(1000)).via.is_empty());
    }
}
