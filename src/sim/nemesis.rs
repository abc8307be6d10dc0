//! The partition nemesis: Maelstrom's four partition shapes and its start/stop schedule.

use serde::Serialize;

use crate::edn::{push_str, push_u64};
use crate::proto::encode::{write_str, write_u64};
use crate::rng::Rng;

impl Shape {
    /// The partition spec's keyword name, as Maelstrom's generator writes it.
    pub fn name(self) -> &'static str {
        match self {
            Shape::One => "one",
            Shape::MinorityThird => "minority-third",
            Shape::Majority => "majority",
            Shape::MajoritiesRing => "majorities-ring",
        }
    }
}

/// The value of a nemesis history entry, as Jepsen 0.3.7's partition nemesis
/// (`jepsen.nemesis.combined/partition-package` over `jepsen.nemesis/partitioner`) writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NemesisValue {
    /// A `:stop-partition` invocation: `nil`.
    Nil,
    /// A `:start-partition` invocation: the partition spec, e.g. `:majority`.
    Spec(Shape),
    /// A `:start-partition` completion: `[:isolated grudge]`, the grudge mapping every node
    /// to the nodes whose messages it drops (node order here; Clojure prints its hash order).
    Isolated(Vec<(String, Vec<String>)>),
    /// A `:stop-partition` completion: `:network-healed`.
    Healed,
}

/// One nemesis history entry (`:process :nemesis`, `:type :info`). The bench keeps these
/// beside the client history (checkers never see them) and merges them into the history
/// files, numbered among the client operations as Jepsen numbers them.
#[derive(Clone, Debug)]
pub struct NemesisOp {
    /// How many client history entries came before this one.
    pub before: usize,
    /// Nanoseconds since the main phase started.
    pub time: u64,
    /// The invocation (true) or its completion; both are `:type :info`, as Jepsen's
    /// nemesis operations are.
    pub invocation: bool,
    /// `start-partition` or `stop-partition`.
    pub f: &'static str,
    /// The value.
    pub value: NemesisValue,
}

impl NemesisOp {
    /// The entry's value in EDN, as Jepsen prints it.
    pub fn value_edn(&self, out: &mut String) {
        match &self.value {
            NemesisValue::Nil => out.push_str("nil"),
            NemesisValue::Spec(s) => {
                out.push(':');
                out.push_str(s.name());
            }
            NemesisValue::Healed => out.push_str(":network-healed"),
            NemesisValue::Isolated(g) => {
                out.push_str("[:isolated {");
                for (i, (node, drops)) in g.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    push_str(out, node);
                    out.push_str(" #{");
                    for (j, d) in drops.iter().enumerate() {
                        if j > 0 {
                            out.push(' ');
                        }
                        push_str(out, d);
                    }
                    out.push('}');
                }
                out.push_str("}]");
            }
        }
    }

    /// The whole entry as a `history.edn` line (without newline), `:index` being `index`.
    pub fn edn_line(&self, index: usize, out: &mut String) {
        out.push_str("{:index ");
        push_u64(out, index as u64);
        out.push_str(", :time ");
        push_u64(out, self.time);
        out.push_str(", :type :info, :process :nemesis, :f :");
        out.push_str(self.f);
        out.push_str(", :value ");
        self.value_edn(out);
        out.push('}');
    }

    /// The entry as a `history.txt` line (without newline).
    pub fn txt_line(&self, out: &mut String) {
        out.push_str(":nemesis\t:info\t:");
        out.push_str(self.f);
        out.push('\t');
        self.value_edn(out);
    }

    /// The entry as a `history.jsonl` line (without newline): keywords as strings, the
    /// grudge's sets as arrays, as the client entries are written.
    pub fn json_line(&self, index: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"index\":");
        write_u64(out, index as u64);
        out.extend_from_slice(b",\"time\":");
        write_u64(out, self.time);
        out.extend_from_slice(b",\"process\":\"nemesis\",\"type\":\"info\",\"f\":");
        write_str(out, self.f);
        out.extend_from_slice(b",\"value\":");
        match &self.value {
            NemesisValue::Nil => out.extend_from_slice(b"null"),
            NemesisValue::Spec(s) => write_str(out, s.name()),
            NemesisValue::Healed => write_str(out, "network-healed"),
            NemesisValue::Isolated(g) => {
                out.extend_from_slice(b"[\"isolated\",{");
                for (i, (node, drops)) in g.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_str(out, node);
                    out.extend_from_slice(b":[");
                    for (j, d) in drops.iter().enumerate() {
                        if j > 0 {
                            out.push(b',');
                        }
                        write_str(out, d);
                    }
                    out.push(b']');
                }
                out.extend_from_slice(b"}]");
            }
        }
        out.push(b'}');
    }
}

/// A partition shape, picked uniformly for every partition.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// One random node cut off from all others.
    One,
    /// A random `floor((n-1)/3)` nodes split from the rest.
    MinorityThird,
    /// A random `floor(n/2)` nodes split from the rest.
    Majority,
    /// Every node sees only a majority window around it on a random ring.
    MajoritiesRing,
}

/// All shapes, in Maelstrom's order.
pub const SHAPES: [Shape; 4] =
    [Shape::One, Shape::MinorityThird, Shape::Majority, Shape::MajoritiesRing];

fn split(n: usize, left: &[usize]) -> Vec<Vec<bool>> {
    let mut side = vec![false; n];
    for &i in left {
        side[i] = true;
    }
    (0..n).map(|d| (0..n).map(|s| side[d] != side[s]).collect()).collect()
}

/// The partition table `blocked[dest][src]` for `shape` over `n` nodes.
pub fn grudge(shape: Shape, n: usize, rng: &mut Rng) -> Vec<Vec<bool>> {
    let mut order: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut order);
    match shape {
        Shape::One => {
            if n == 0 {
                return Vec::new();
            }
            split(n, &order[..1])
        }
        Shape::MinorityThird => split(n, &order[..n.saturating_sub(1) / 3]),
        Shape::Majority => split(n, &order[..n / 2]),
        Shape::MajoritiesRing => majorities_ring(n, &order, rng),
    }
}

fn majorities_ring(n: usize, ring: &[usize], rng: &mut Rng) -> Vec<Vec<bool>> {
    let m = n / 2 + 1;
    let mut blocked = vec![vec![false; n]; n];
    if n <= 5 {
        // Each window of m consecutive ring positions: its middle node hears only the window.
        for start in 0..n {
            let window: Vec<usize> = (0..m).map(|k| ring[(start + k) % n]).collect();
            let middle = window[m / 2];
            for (s, b) in blocked[middle].iter_mut().enumerate() {
                *b = !window.contains(&s);
            }
        }
        return blocked;
    }
    // Stochastic: link least-connected nodes pairwise until each has m links (itself
    // included), then everyone drops whoever it is not linked to.
    let mut linked = vec![vec![false; n]; n];
    for (i, row) in linked.iter_mut().enumerate() {
        row[i] = true;
    }
    let degree = |linked: &Vec<Vec<bool>>, i: usize| linked[i].iter().filter(|&&b| b).count();
    loop {
        let short: Vec<usize> = (0..n).filter(|&i| degree(&linked, i) < m).collect();
        let Some(min) = short.iter().map(|&i| degree(&linked, i)).min() else { break };
        let least: Vec<usize> =
            short.iter().copied().filter(|&i| degree(&linked, i) == min).collect();
        let a = *rng.pick(&least);
        let cands: Vec<usize> = (0..n).filter(|&b| !linked[a][b]).collect();
        let Some(cmin) = cands.iter().map(|&b| degree(&linked, b)).min() else { break };
        let best: Vec<usize> =
            cands.iter().copied().filter(|&b| degree(&linked, b) == cmin).collect();
        let b = *rng.pick(&best);
        linked[a][b] = true;
        linked[b][a] = true;
    }
    for d in 0..n {
        for s in 0..n {
            blocked[d][s] = !linked[d][s];
        }
    }
    blocked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut_pairs(b: &[Vec<bool>]) -> usize {
        b.iter().map(|r| r.iter().filter(|&&x| x).count()).sum()
    }

    #[test]
    fn shapes_cut_what_maelstrom_cuts() {
        let mut rng = Rng::new(3);
        // 25 nodes, minority third: 8 vs 17, both directions.
        assert_eq!(cut_pairs(&grudge(Shape::MinorityThird, 25, &mut rng)), 2 * 8 * 17);
        assert_eq!(cut_pairs(&grudge(Shape::Majority, 25, &mut rng)), 2 * 12 * 13);
        assert_eq!(cut_pairs(&grudge(Shape::One, 5, &mut rng)), 2 * 4);
        // Small clusters: no-ops where Maelstrom's are no-ops.
        assert_eq!(cut_pairs(&grudge(Shape::MinorityThird, 3, &mut rng)), 0);
        assert_eq!(cut_pairs(&grudge(Shape::MajoritiesRing, 2, &mut rng)), 0);
        // n = 3 ring: one-way, each node drops exactly one other.
        let b = grudge(Shape::MajoritiesRing, 3, &mut rng);
        assert!(b.iter().all(|r| r.iter().filter(|&&x| x).count() == 1), "{b:?}");
        // n = 5 ring: each node hears only its two ring neighbours (drops 2).
        let b = grudge(Shape::MajoritiesRing, 5, &mut rng);
        assert!(b.iter().all(|r| r.iter().filter(|&&x| x).count() == 2), "{b:?}");
        // n = 25 stochastic ring: symmetric, each node hears a majority (itself included),
        // and none hears everyone.
        let b = grudge(Shape::MajoritiesRing, 25, &mut rng);
        for (d, row) in b.iter().enumerate() {
            let hears = row.iter().filter(|&&x| !x).count();
            assert!((13..25).contains(&hears), "node {d} hears {hears}");
            for (s, &cut) in row.iter().enumerate() {
                assert_eq!(cut, b[s][d]);
            }
        }
    }
}
