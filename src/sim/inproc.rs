//! The in-process backend: our own state machines on virtual time. Deterministic: the same
//! seed gives the same run, byte for byte.

use super::engine::{Backend, BackendFault};
use crate::node::{Machine, Output};
use crate::proto::PADDING;
use crate::time::Instant;

/// Nodes as [`Machine`]s in this process.
pub struct InProcess {
    nodes: Vec<Box<dyn Machine>>,
    outs: Vec<Output>,
    line: Vec<u8>,
    /// Cached `poll_timeout` of each node (refreshed after every call into it).
    deadlines: Vec<Option<Instant>>,
}

impl InProcess {
    /// Runs these machines, node `i` being `nodes[i]`.
    pub fn new(nodes: Vec<Box<dyn Machine>>) -> InProcess {
        let n = nodes.len();
        InProcess {
            deadlines: nodes.iter().map(|m| m.poll_timeout()).collect(),
            nodes,
            outs: (0..n).map(|_| Output::default()).collect(),
            line: Vec::new(),
        }
    }
}

impl Backend for InProcess {
    fn is_virtual(&self) -> bool {
        true
    }

    fn deliver(&mut self, now: Instant, node: usize, line: &[u8]) {
        self.line.clear();
        self.line.extend_from_slice(line);
        let len = self.line.len();
        self.line.resize(len + PADDING, b' ');
        self.nodes[node].handle_line(now, &mut self.line, len, &mut self.outs[node]);
        self.deadlines[node] = self.nodes[node].poll_timeout();
    }

    fn next_timer(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    fn fire_timers(&mut self, now: Instant) {
        for i in 0..self.nodes.len() {
            if self.deadlines[i].is_some_and(|t| t <= now) {
                self.nodes[i].handle_timeout(now, &mut self.outs[i]);
                self.deadlines[i] = self.nodes[i].poll_timeout();
            }
        }
    }

    fn wait(&mut self, until: Option<Instant>) -> Instant {
        until.unwrap_or(Instant::ZERO)
    }

    fn take_output(&mut self, sink: &mut Vec<(usize, Vec<u8>)>) {
        for (i, out) in self.outs.iter_mut().enumerate() {
            if out.msgs.is_empty() {
                continue;
            }
            for line in out.msgs.split(|&b| b == b'\n') {
                if !line.is_empty() {
                    sink.push((i, line.to_vec()));
                }
            }
            out.msgs.clear();
        }
    }

    fn take_logs(&mut self, logs: &mut [Vec<u8>]) {
        for (out, log) in self.outs.iter_mut().zip(logs.iter_mut()) {
            log.append(&mut out.log);
        }
    }

    fn stop(&mut self) -> Vec<BackendFault> {
        Vec::new()
    }
}
