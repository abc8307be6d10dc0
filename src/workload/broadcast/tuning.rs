//! Operating points of the broadcast node: the three named profiles and how command-line words
//! select and adjust them.
//!
//! Maelstrom passes positional words to the binary, so a profile is chosen with a bare word
//! (`low-latency`, `frugal`, `default`) or with `--profile=X` / `--profile X`. Single knobs can be
//! overridden with `--<knob>=<value>` (for experiments; see [`Tuning::from_args`]). Anything else
//! is ignored, as the contract requires.

use std::time::Duration;

/// How values travel between nodes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Every node sends its clients' values to the hub (the first node in `node_ids`), which
    /// relays them to everyone else: two hops, and each node receives at most one message per
    /// hub batch. The cheapest plan in messages for a given latency bound.
    Star,
    /// Every node sends its clients' values straight to every other node: one hop (the lowest
    /// latency possible) at `n - 1` messages per batch.
    Mesh,
}

/// Every tunable of the node. All durations are in virtual or real time alike.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Tuning {
    /// The dissemination plan.
    pub plan: Plan,
    /// How long a node collects its own clients' values before sending them (zero: at once).
    pub origin_delay: Duration,
    /// How long the star's hub collects values before relaying them (one relay batch).
    pub relay_delay: Duration,
    /// How long a receiver waits for outgoing data to piggyback an acknowledgement on before
    /// sending it on its own.
    pub ack_delay: Duration,
    /// The first retransmission timeout. Must exceed `ack_delay` plus a round trip, or data is
    /// resent needlessly.
    pub rto: Duration,
    /// The wait after the first retransmission, doubling with each further one up to
    /// `rto_cap`. A retransmission is acknowledged at once, so this only has to exceed a
    /// round trip.
    pub retry: Duration,
    /// The longest retransmission interval: bounds both the traffic to an unreachable peer
    /// (one message per peer per interval) and the time to recover once it is reachable.
    pub rto_cap: Duration,
    /// The longest wait for the answer to a resync digest (the backoff starts at `retry`). A
    /// lapped peer was away long, so the resync probes it at most this often and, once it is
    /// back, finishes within about this plus two round trips.
    pub sync_cap: Duration,
    /// The bound of the ring of pending values, in entries (rounded up to a power of two; 12
    /// bytes each). A peer further behind than half of it is lapped and resynchronised from
    /// the seen set.
    pub ring: usize,
    /// Per-peer holds and batches instead of one flush timer (the g-set node's policy; every
    /// broadcast profile has none). See [`Holds`].
    pub holds: Option<Holds>,
}

/// A flush policy per peer, for nodes whose own elements are worth batching by count (the
/// g-set node). Each peer's link notes since when an element for it has waited, separately for
/// the node's own elements and for relayed ones, and how many of its own wait; data goes to
/// the peer when the older kind has waited its hold (`origin_delay` for a leaf's or mesh
/// node's own, [`Holds::hub_delay`] for the hub's own, `relay_delay` for relayed ones), or at
/// once when enough of its own wait. Elements that arrived in a retransmission are relayed
/// urgently: flagged `r` (answered at once) and timed as a retransmission, so a loss on the
/// next hop costs a backoff step rather than a full timeout.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Holds {
    /// A leaf's (or mesh node's) own elements go to a peer when this many wait for it.
    pub batch: usize,
    /// How long the hub's own elements wait at most (relays usually carry them sooner).
    pub hub_delay: Duration,
    /// The hub's own elements go to a peer when this many wait for it.
    pub hub_batch: usize,
}

/// The default ring bound: 16,384 entries (192 KiB), 16 s of a rate of 1,000 values a second
/// (or 160 s of the challenges' 100), so Maelstrom's partitions never lap a peer.
pub const RING: usize = 1 << 14;

/// The default longest wait for the answer to a resync digest.
const SYNC_CAP: Duration = Duration::from_millis(1000);

impl Tuning {
    /// The default operating point: star, the hub relaying every 250 ms. Passes challenges
    /// 3d and 3e: about 1.4 msgs-per-op, stable latency median ~160 ms and max ~350 ms at 25
    /// nodes and 100 ms latency.
    ///
    /// The relay hold must be at least two hops (200 ms here). Maelstrom delivers a client
    /// request only after the server message its node is holding, so leaves handle their
    /// clients' broadcasts in a wave right after a relay lands, and that wave reaches the hub
    /// two hops after the relay left. A hold started by the first value after a relay ends
    /// just after the wave arrives and carries it on at once; a shorter hold (150 ms) just
    /// misses it and *raises* the median to ~220 ms.
    pub const DEFAULT: Tuning = Tuning {
        plan: Plan::Star,
        origin_delay: Duration::ZERO,
        relay_delay: Duration::from_millis(250),
        ack_delay: Duration::from_millis(2000),
        rto: Duration::from_millis(2500),
        retry: Duration::from_millis(500),
        rto_cap: Duration::from_millis(2000),
        sync_cap: SYNC_CAP,
        ring: RING,
        holds: None,
    };

    /// The low-latency point: direct fan-out at once, one hop (median ~85 ms, max < 100 ms at
    /// 100 ms latency), about 12 msgs-per-op: 24 messages per broadcast plus the few
    /// acknowledgements that find no reverse data to ride on within 3 s.
    pub const LOW_LATENCY: Tuning = Tuning {
        plan: Plan::Mesh,
        origin_delay: Duration::ZERO,
        relay_delay: Duration::ZERO,
        ack_delay: Duration::from_millis(3000),
        rto: Duration::from_millis(3500),
        retry: Duration::from_millis(500),
        rto_cap: Duration::from_millis(2000),
        sync_cap: SYNC_CAP,
        ring: RING,
        holds: None,
    };

    /// The frugal point: star, leaves holding their values 100 ms and the hub relaying every
    /// 700 ms. About 0.75 msgs-per-op with max latency ~900 ms (origin + relay + one hop).
    pub const FRUGAL: Tuning = Tuning {
        plan: Plan::Star,
        origin_delay: Duration::from_millis(100),
        relay_delay: Duration::from_millis(700),
        ack_delay: Duration::from_millis(2000),
        rto: Duration::from_millis(2500),
        retry: Duration::from_millis(500),
        rto_cap: Duration::from_millis(2000),
        sync_cap: SYNC_CAP,
        ring: RING,
        holds: None,
    };

    /// The profile called `name`, if there is one.
    pub fn profile(name: &str) -> Option<Tuning> {
        match name {
            "default" => Some(Tuning::DEFAULT),
            "low-latency" => Some(Tuning::LOW_LATENCY),
            "frugal" => Some(Tuning::FRUGAL),
            _ => None,
        }
    }

    /// Reads the binary's command-line words.
    ///
    /// A profile word (`default`, `low-latency`, `frugal`, or the same after `--profile=` or
    /// `--profile`) picks the base; then `--plan=star|mesh`, `--origin-ms=N`, `--relay-ms=N`,
    /// `--ack-ms=N`, `--rto-ms=N`, `--retry-ms=N`, `--rto-cap-ms=N`, `--sync-cap-ms=N` and
    /// `--ring=N` (entries) override single knobs, in any order.
    /// Returns the tuning and the words that were not understood (the caller logs them).
    pub fn from_args(args: &[String]) -> (Tuning, Vec<String>) {
        let mut base = Tuning::DEFAULT;
        let mut knobs: Vec<(&str, &str)> = Vec::new();
        let mut ignored = Vec::new();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) => (f, Some(v)),
                None => (arg.as_str(), None),
            };
            if let Some(t) = Tuning::profile(arg) {
                base = t;
            } else if flag == "--profile" {
                let name = inline.or_else(|| it.next().map(String::as_str));
                match name.and_then(Tuning::profile) {
                    Some(t) => base = t,
                    None => ignored.push(arg.clone()),
                }
            } else if let (Some(knob), Some(v)) = (flag.strip_prefix("--"), inline) {
                knobs.push((knob, v));
            } else {
                ignored.push(arg.clone());
            }
        }
        for (knob, v) in knobs {
            if !base.set(knob, v) {
                ignored.push(format!("--{knob}={v}"));
            }
        }
        (base, ignored)
    }

    /// Sets one knob from text; false if the knob or the value is not understood.
    fn set(&mut self, knob: &str, v: &str) -> bool {
        let ms = v.parse::<u64>().ok().map(Duration::from_millis);
        match (knob, ms) {
            ("plan", _) => match v {
                "star" => self.plan = Plan::Star,
                "mesh" => self.plan = Plan::Mesh,
                _ => return false,
            },
            ("origin-ms", Some(d)) => self.origin_delay = d,
            ("relay-ms", Some(d)) => self.relay_delay = d,
            ("ack-ms", Some(d)) => self.ack_delay = d,
            ("rto-ms", Some(d)) if !d.is_zero() => self.rto = d,
            ("retry-ms", Some(d)) if !d.is_zero() => self.retry = d,
            ("rto-cap-ms", Some(d)) if !d.is_zero() => self.rto_cap = d,
            ("sync-cap-ms", Some(d)) if !d.is_zero() => self.sync_cap = d,
            ("ring", _) => match v.parse::<usize>() {
                // At least two entries (lapping frees half), at most 2^30.
                Ok(n) if (2..=1 << 30).contains(&n) => self.ring = n,
                _ => return false,
            },
            _ => return false,
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &str) -> (Tuning, Vec<String>) {
        let args: Vec<String> = words.split_whitespace().map(str::to_owned).collect();
        Tuning::from_args(&args)
    }

    #[test]
    fn profiles_are_selected_by_word_or_flag() {
        assert_eq!(parse("").0, Tuning::DEFAULT);
        assert_eq!(parse("low-latency").0, Tuning::LOW_LATENCY);
        assert_eq!(parse("--profile=frugal").0, Tuning::FRUGAL);
        assert_eq!(parse("--profile low-latency").0, Tuning::LOW_LATENCY);
        assert_eq!(parse("default").0, Tuning::DEFAULT);
    }

    #[test]
    fn unknown_words_are_ignored_and_reported() {
        let (t, ignored) = parse("--weird x --profile=nope --relay-ms=abc frugal");
        assert_eq!(t, Tuning::FRUGAL);
        assert_eq!(ignored, ["--weird", "x", "--profile=nope", "--relay-ms=abc"]);
    }

    #[test]
    fn knobs_override_the_profile_in_any_order() {
        let (t, ignored) = parse(
            "--relay-ms=300 --plan=mesh frugal --rto-cap-ms=5000 --ring=64 --sync-cap-ms=300",
        );
        assert!(ignored.is_empty(), "{ignored:?}");
        assert_eq!((t.ring, t.sync_cap), (64, Duration::from_millis(300)));
        assert_eq!(t.plan, Plan::Mesh);
        assert_eq!(t.relay_delay, Duration::from_millis(300));
        assert_eq!(t.rto_cap, Duration::from_secs(5));
        assert_eq!(t.origin_delay, Tuning::FRUGAL.origin_delay);
        let (_, ignored) = parse("--rto-ms=0");
        assert_eq!(ignored, ["--rto-ms=0"], "a zero timeout would spin");
        let (t, ignored) = parse("--ring=1 --ring=x --ring=2000000000");
        assert_eq!(ignored, ["--ring=1", "--ring=x", "--ring=2000000000"]);
        assert_eq!(t.ring, RING);
    }
}
