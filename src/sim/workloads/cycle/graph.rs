//! Directed graphs over dense vertex numbers, in compressed adjacency form: strongly connected
//! components and shortest paths, for the transactional (cycle) checkers.

use std::collections::VecDeque;

use hashbrown::HashMap;

/// A directed graph over `0..n` with labelled edges, in compressed adjacency form.
pub(crate) struct Graph {
    /// `starts[u]..starts[u + 1]` index `targets` for `u`'s out-edges.
    starts: Vec<u32>,
    /// `(target, edge label)` pairs.
    targets: Vec<(u32, u32)>,
}

impl Graph {
    /// Builds a graph from `(from, to, label)` edges.
    pub(crate) fn new(n: usize, edges: impl Iterator<Item = (u32, u32, u32)> + Clone) -> Graph {
        let mut starts = vec![0u32; n + 1];
        for (f, _, _) in edges.clone() {
            starts[f as usize + 1] += 1;
        }
        for i in 0..n {
            starts[i + 1] += starts[i];
        }
        let mut fill = starts.clone();
        let mut targets = vec![(0, 0); starts[n] as usize];
        for (f, t, l) in edges {
            targets[fill[f as usize] as usize] = (t, l);
            fill[f as usize] += 1;
        }
        Graph { starts, targets }
    }

    pub(crate) fn n(&self) -> usize {
        self.starts.len() - 1
    }

    pub(crate) fn out(&self, u: u32) -> &[(u32, u32)] {
        &self.targets[self.starts[u as usize] as usize..self.starts[u as usize + 1] as usize]
    }

    /// Strongly connected components with at least two vertices (iterative Tarjan), each
    /// sorted, in order of their smallest vertex.
    pub(crate) fn sccs(&self) -> Vec<Vec<u32>> {
        const NONE: u32 = u32::MAX;
        let n = self.n();
        let mut index = vec![NONE; n];
        let mut low = vec![0u32; n];
        let mut on_stack = vec![false; n];
        let mut stack: Vec<u32> = Vec::new();
        // (vertex, position in its out-edge list)
        let mut call: Vec<(u32, usize)> = Vec::new();
        let mut next = 0u32;
        let mut out = Vec::new();
        for root in 0..n as u32 {
            if index[root as usize] != NONE {
                continue;
            }
            call.push((root, 0));
            while let Some(&mut (v, ref mut pos)) = call.last_mut() {
                let vi = v as usize;
                if *pos == 0 && index[vi] == NONE {
                    index[vi] = next;
                    low[vi] = next;
                    next += 1;
                    stack.push(v);
                    on_stack[vi] = true;
                }
                let edges = self.out(v);
                if let Some(&(w, _)) = edges.get(*pos) {
                    *pos += 1;
                    let wi = w as usize;
                    if index[wi] == NONE {
                        call.push((w, 0));
                    } else if on_stack[wi] {
                        low[vi] = low[vi].min(index[wi]);
                    }
                    continue;
                }
                call.pop();
                if let Some(&(parent, _)) = call.last() {
                    let p = parent as usize;
                    low[p] = low[p].min(low[vi]);
                }
                if low[vi] == index[vi] {
                    let mut comp = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w as usize] = false;
                        comp.push(w);
                        if w == v {
                            break;
                        }
                    }
                    if comp.len() >= 2 {
                        comp.sort_unstable();
                        out.push(comp);
                    }
                }
            }
        }
        out.sort_unstable_by_key(|c| c[0]);
        out
    }

    /// The shortest path from `from` to `to` (a cycle when they are equal) using only
    /// vertices where `inside` holds, as `(from, to, label)` edges.
    pub(crate) fn path(
        &self,
        from: u32,
        to: u32,
        inside: &dyn Fn(u32) -> bool,
    ) -> Option<Vec<(u32, u32, u32)>> {
        let mut parent: HashMap<u32, (u32, u32)> = HashMap::new();
        let mut queue = VecDeque::from([from]);
        while let Some(u) = queue.pop_front() {
            for &(w, l) in self.out(u) {
                if !inside(w) {
                    continue;
                }
                if w == to {
                    let mut path = vec![(u, w, l)];
                    let mut at = u;
                    while at != from {
                        let (p, pl) = parent[&at];
                        path.push((p, at, pl));
                        at = p;
                    }
                    path.reverse();
                    return Some(path);
                }
                if w != from && !parent.contains_key(&w) {
                    parent.insert(w, (u, l));
                    queue.push_back(w);
                }
            }
        }
        None
    }
}
