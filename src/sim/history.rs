//! The history of client operations: invocations and completions, as Jepsen records them.

use serde::Serialize;

/// The kind of a history entry.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OpType {
    /// The client started the operation.
    Invoke,
    /// It completed successfully.
    Ok,
    /// It definitely did not happen.
    Fail,
    /// Its outcome is unknown (timeout, indefinite error, malformed reply).
    Info,
}

/// One history entry.
#[derive(Clone, Debug, Serialize)]
pub struct Op<V> {
    /// Position in the history.
    pub index: usize,
    /// Nanoseconds since the test started.
    pub time: u64,
    /// The logical process (Jepsen's `:process`): a worker thread's number, plus the
    /// concurrency each time the thread's client was replaced after an indefinite outcome.
    pub process: usize,
    /// Invocation or completion kind.
    #[serde(rename = "type")]
    pub kind: OpType,
    /// The operation's function, e.g. `broadcast` or `read`.
    pub f: &'static str,
    /// The workload-specific value.
    pub value: V,
    /// Why an operation failed or is indefinite.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Set on final-phase operations (Jepsen's `:final?`).
    #[serde(rename = "final", skip_serializing_if = "std::ops::Not::not")]
    pub is_final: bool,
}

/// A whole history, in the order events happened.
#[derive(Clone, Debug)]
pub struct History<V> {
    /// Entries, `ops[i].index == i`.
    pub ops: Vec<Op<V>>,
}

impl<V> Default for History<V> {
    fn default() -> Self {
        History { ops: Vec::new() }
    }
}

/// An invocation with its completion (if it completed).
#[derive(Debug)]
pub struct Pair<'h, V> {
    /// The invocation.
    pub invoke: &'h Op<V>,
    /// The completion: ok, fail or info; `None` if the test ended first.
    pub complete: Option<&'h Op<V>>,
}

impl<V> History<V> {
    /// Appends an entry and returns its index.
    pub fn push(&mut self, mut op: Op<V>) -> usize {
        op.index = self.ops.len();
        self.ops.push(op);
        self.ops.len() - 1
    }

    /// Invocations paired with their completions, in invocation order.
    pub fn pairs(&self) -> Vec<Pair<'_, V>> {
        let mut open: hashbrown::HashMap<usize, usize> = hashbrown::HashMap::new();
        let mut pairs: Vec<Pair<'_, V>> = Vec::new();
        for op in &self.ops {
            if op.kind == OpType::Invoke {
                open.insert(op.process, pairs.len());
                pairs.push(Pair { invoke: op, complete: None });
            } else if let Some(i) = open.remove(&op.process) {
                pairs[i].complete = Some(op);
            }
        }
        pairs
    }

    /// Number of invocations.
    pub fn invocations(&self) -> usize {
        self.ops.iter().filter(|o| o.kind == OpType::Invoke).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(process: usize, kind: OpType, f: &'static str) -> Op<u32> {
        Op { index: 0, time: 0, process, kind, f, value: 0, error: None, is_final: false }
    }

    #[test]
    fn pairs_match_by_process() {
        let mut h = History::default();
        h.push(op(0, OpType::Invoke, "a"));
        h.push(op(1, OpType::Invoke, "b"));
        h.push(op(1, OpType::Ok, "b"));
        h.push(op(2, OpType::Invoke, "c"));
        h.push(op(0, OpType::Info, "a"));
        let p = h.pairs();
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].complete.unwrap().kind, OpType::Info);
        assert_eq!(p[1].complete.unwrap().index, 2);
        assert!(p[2].complete.is_none());
        assert_eq!(h.invocations(), 3);
    }
}
