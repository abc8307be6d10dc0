//! The replicated state machine: a map from JSON keys to JSON values, and the commands that
//! change it.
//!
//! Keys and values are arbitrary JSON held as their compact encoding ([`Json`]), so two values
//! are equal when they encode the same (objects therefore compare by member order, as the
//! bench's own KV services do). Maelstrom's lin-kv workload only ever sends small integers,
//! which stay inline without an allocation.
//!
//! [`Kv::apply`] is deterministic: every replica applying the same committed commands in the
//! same order reaches the same map and computes the same result for each command. That
//! includes the one refusal the store itself makes: a command that would grow the store past
//! [`MAX_STORE_BYTES`] fails on every replica alike, so it is a definite error.

use hashbrown::HashMap;
use smallvec::SmallVec;

use crate::proto::encode::write_val;
use crate::proto::{ErrorCode, Val};

/// Largest encoded key or value accepted from a client, in bytes. Bigger ones are refused
/// with error 12 before anything is proposed, which bounds every log entry.
pub const MAX_ITEM_BYTES: usize = 64 * 1024;

/// Largest total encoded size of the store's keys and values. A write or CAS that would grow
/// the store beyond it fails (error 11, definite: it fails on every replica). This bounds the
/// snapshot, which travels as one message.
pub const MAX_STORE_BYTES: usize = 16 * 1024 * 1024;

/// A JSON value in compact encoding (no whitespace; the encoder's escaping).
///
/// Invariant: holds exactly one valid JSON value.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Json(SmallVec<[u8; 22]>);

impl Json {
    /// The encoding of a parsed value. `scratch` is a reusable buffer.
    pub fn from_val(v: Val<'_, '_>, scratch: &mut Vec<u8>) -> Json {
        scratch.clear();
        write_val(scratch, v);
        Json(SmallVec::from_slice(scratch))
    }

    /// The JSON text of an unsigned integer.
    pub fn from_u64(v: u64) -> Json {
        let mut buf = Vec::with_capacity(20);
        crate::proto::encode::write_u64(&mut buf, v);
        Json(SmallVec::from_slice(&buf))
    }

    /// The encoded bytes (valid JSON text).
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// Encoded length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: a JSON value is never empty text. (For clippy's `len` convention.)
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Json {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

/// A command in the log: a client write or compare-and-set. (Reads never enter the log; the
/// leader serves them by read-index. Leaders' no-op entries are the Raft core's own.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Set `key` to `value`.
    Write {
        /// The key.
        key: Json,
        /// Its new value.
        value: Json,
    },
    /// Set `key` to `to` if it holds `from`.
    Cas {
        /// The key.
        key: Json,
        /// The value it must hold.
        from: Json,
        /// The value to store.
        to: Json,
        /// A missing key counts as holding `from` (the KV services' `create_if_not_exists`).
        create: bool,
    },
}

impl super::raft::Command for Op {
    fn size(&self) -> usize {
        match self {
            Op::Write { key, value } => 16 + key.len() + value.len(),
            Op::Cas { key, from, to, .. } => 20 + key.len() + from.len() + to.len(),
        }
    }
}

/// A snapshot of the whole map, as of one log index. Sorted by key, so equal maps give equal
/// snapshots (tests compare them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Every `(key, value)` pair, sorted by key bytes.
    pub pairs: Vec<(Json, Json)>,
}

/// The key-value map.
#[derive(Debug, Default)]
pub struct Kv {
    map: HashMap<Json, Json>,
    /// Invariant: the sum of `key.len() + value.len()` over `map`; at most
    /// [`MAX_STORE_BYTES`].
    bytes: usize,
}

impl Kv {
    /// An empty map.
    pub fn new() -> Kv {
        Kv::default()
    }

    /// The value of `key`.
    pub fn get(&self, key: &Json) -> Option<&Json> {
        self.map.get(key)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no key is set.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Applies a committed command. `Err` is the error the client gets; it is definite (the
    /// map did not change).
    pub fn apply(&mut self, op: &Op) -> Result<(), ErrorCode> {
        let (key, value) = match op {
            Op::Write { key, value } => (key, value),
            Op::Cas { key, from, to, create } => match self.map.get(key) {
                None if !create => return Err(ErrorCode::KeyDoesNotExist),
                None => (key, to),
                Some(cur) if cur != from => return Err(ErrorCode::PreconditionFailed),
                Some(_) => (key, to),
            },
        };
        let old = self.map.get(key).map_or(0, |v| key.len() + v.len());
        let new = self.bytes - old + key.len() + value.len();
        if new > MAX_STORE_BYTES {
            return Err(ErrorCode::TemporarilyUnavailable);
        }
        self.bytes = new;
        self.map.insert(key.clone(), value.clone());
        Ok(())
    }

    /// The whole map, sorted by key.
    pub fn snapshot(&self) -> Snapshot {
        let mut pairs: Vec<(Json, Json)> =
            self.map.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        pairs.sort_unstable_by(|a, b| a.0.bytes().cmp(b.0.bytes()));
        Snapshot { pairs }
    }

    /// Replaces the map with a snapshot's.
    pub fn restore(&mut self, snap: &Snapshot) {
        self.map.clear();
        self.bytes = 0;
        for (k, v) in &snap.pairs {
            self.bytes += k.len() + v.len();
            self.map.insert(k.clone(), v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(v: u64) -> Json {
        Json::from_u64(v)
    }

    #[test]
    fn write_read_cas_follow_the_lin_kv_contract() {
        let mut kv = Kv::new();
        let cas = |from, to| Op::Cas { key: j(1), from: j(from), to: j(to), create: false };
        assert_eq!(kv.apply(&cas(0, 1)), Err(ErrorCode::KeyDoesNotExist));
        assert_eq!(kv.apply(&Op::Write { key: j(1), value: j(3) }), Ok(()));
        assert_eq!(kv.get(&j(1)), Some(&j(3)));
        assert_eq!(kv.apply(&cas(2, 4)), Err(ErrorCode::PreconditionFailed));
        assert_eq!(kv.get(&j(1)), Some(&j(3)));
        assert_eq!(kv.apply(&cas(3, 4)), Ok(()));
        assert_eq!(kv.get(&j(1)), Some(&j(4)));
        let create = Op::Cas { key: j(2), from: j(0), to: j(7), create: true };
        assert_eq!(kv.apply(&create), Ok(()));
        assert_eq!(kv.get(&j(2)), Some(&j(7)));
    }

    #[test]
    fn snapshots_restore_the_same_map() {
        let mut kv = Kv::new();
        for i in 0..50 {
            kv.apply(&Op::Write { key: j(i % 7), value: j(i) }).unwrap();
        }
        let snap = kv.snapshot();
        let mut other = Kv::new();
        other.apply(&Op::Write { key: j(99), value: j(1) }).unwrap();
        other.restore(&snap);
        assert_eq!(other.snapshot(), snap);
        assert_eq!(other.bytes, kv.bytes);
    }

    #[test]
    fn the_store_refuses_to_grow_past_its_bound_on_every_replica_alike() {
        let mut kv = Kv::new();
        let big = Json(SmallVec::from_slice(format!("\"{}\"", "x".repeat(60_000)).as_bytes()));
        let mut n = 0;
        while kv.apply(&Op::Write { key: j(n), value: big.clone() }).is_ok() {
            n += 1;
        }
        assert!(kv.bytes <= MAX_STORE_BYTES);
        assert!(kv.bytes + 60_002 + j(n).len() > MAX_STORE_BYTES, "refused only when full");
        assert_eq!(kv.len() as u64, n);
        // Overwriting an existing key with something no bigger still works.
        assert_eq!(kv.apply(&Op::Write { key: j(0), value: j(1) }), Ok(()));
    }
}
