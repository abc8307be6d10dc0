//! The partition nemesis: Maelstrom's four partition shapes and its start/stop schedule.

use serde::Serialize;

use crate::rng::Rng;

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
