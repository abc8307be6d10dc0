//! What a kafka node stores: interned keys, one offset-ordered entry list per key, committed
//! offsets, and the arena holding every message's compact JSON.
//!
//! Messages are arbitrary JSON. Each is written once, compactly, into one append-only byte
//! arena; an [`Entry`] is 16 bytes (offset and arena span), and a poll reply copies the bytes
//! straight into the output line. The log is the node's data: it grows with what clients send
//! and is never trimmed (Maelstrom tests are short; a retention policy would go here).

use hashbrown::HashMap;

/// An interned key: an index into [`Logs`]' key table.
pub(super) type KeyId = u32;

/// Largest message (compact JSON bytes) a node stores; larger sends are refused.
pub(super) const MAX_MSG_BYTES: usize = 1 << 20;

/// One stored message.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) struct Entry {
    /// Its offset in the key's log.
    pub(super) offset: u64,
    /// Where its compact JSON starts in the arena.
    pub(super) start: u32,
    /// Its length in bytes.
    pub(super) len: u32,
}

/// One key's log and committed offset.
#[derive(Debug)]
pub(super) struct KeyLog {
    /// The key as clients spell it.
    pub(super) name: Box<str>,
    /// Every known entry. Invariant: strictly increasing offsets.
    pub(super) entries: Vec<Entry>,
    /// The highest offset any client committed, as far as this node knows.
    pub(super) committed: Option<u64>,
}

/// Why a message could not be stored. Either way nothing was stored.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum StoreError {
    /// The message is larger than [`MAX_MSG_BYTES`].
    TooLarge,
    /// The arena would pass 4 GiB (spans are `u32`).
    Full,
}

/// What [`Logs::insert`] did with an entry.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Inserted {
    /// It was new and is now stored.
    New,
    /// The same offset is already stored (a retransmission).
    Present,
}

/// Every key's log, plus the message arena.
#[derive(Debug, Default)]
pub(super) struct Logs {
    ids: HashMap<Box<str>, KeyId>,
    /// By [`KeyId`].
    keys: Vec<KeyLog>,
    /// Compact JSON of every stored message, back to back.
    arena: Vec<u8>,
}

impl Logs {
    /// The id of `name`, if the node has ever seen it.
    pub(super) fn id(&self, name: &str) -> Option<KeyId> {
        self.ids.get(name).copied()
    }

    /// The id of `name`, creating an empty log for it if needed. Allocates only for new keys.
    pub(super) fn intern(&mut self, name: &str) -> KeyId {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = KeyId::try_from(self.keys.len()).expect("fewer than 2^32 keys fit in memory");
        self.keys.push(KeyLog { name: name.into(), entries: Vec::new(), committed: None });
        self.ids.insert(name.into(), id);
        id
    }

    /// The log of key `id`.
    pub(super) fn key(&self, id: KeyId) -> &KeyLog {
        &self.keys[id as usize]
    }

    /// The stored bytes of an entry.
    pub(super) fn bytes(&self, start: u32, len: u32) -> &[u8] {
        &self.arena[start as usize..start as usize + len as usize]
    }

    /// Appends one message's JSON, written by `write`, to the arena and returns its span.
    pub(super) fn store(
        &mut self,
        write: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(u32, u32), StoreError> {
        let start = self.arena.len();
        write(&mut self.arena);
        let len = self.arena.len() - start;
        let span = match (u32::try_from(start), u32::try_from(self.arena.len())) {
            _ if len > MAX_MSG_BYTES => Err(StoreError::TooLarge),
            (Ok(s), Ok(_)) => Ok((s, len as u32)),
            _ => Err(StoreError::Full),
        };
        if span.is_err() {
            self.arena.truncate(start);
        }
        span
    }

    /// Appends an entry this node just assigned. Its offset must exceed every stored one.
    pub(super) fn append(&mut self, id: KeyId, e: Entry) {
        let entries = &mut self.keys[id as usize].entries;
        debug_assert!(entries.last().is_none_or(|l| l.offset < e.offset), "offsets increase");
        entries.push(e);
    }

    /// Whether key `id` already holds an entry at `offset`.
    pub(super) fn has(&self, id: KeyId, offset: u64) -> bool {
        self.keys[id as usize].entries.binary_search_by_key(&offset, |e| e.offset).is_ok()
    }

    /// Stores an entry from a peer in offset order (usually at the end).
    pub(super) fn insert(&mut self, id: KeyId, e: Entry) -> Inserted {
        let entries = &mut self.keys[id as usize].entries;
        match entries.binary_search_by_key(&e.offset, |x| x.offset) {
            Ok(_) => Inserted::Present,
            Err(at) => {
                entries.insert(at, e);
                Inserted::New
            }
        }
    }

    /// Raises key `id`'s committed offset to `offset`; true if it moved.
    pub(super) fn commit(&mut self, id: KeyId, offset: u64) -> bool {
        let c = &mut self.keys[id as usize].committed;
        if c.is_some_and(|c| c >= offset) {
            return false;
        }
        *c = Some(offset);
        true
    }

    /// Up to `limit` entries of key `id` with `from <= offset < below`, in offset order.
    pub(super) fn range(&self, id: KeyId, from: u64, below: u64, limit: usize) -> &[Entry] {
        let entries = &self.keys[id as usize].entries;
        let lo = entries.partition_point(|e| e.offset < from);
        let hi = entries.partition_point(|e| e.offset < below).max(lo);
        &entries[lo..hi.min(lo + limit)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(logs: &mut Logs, offset: u64, json: &str) -> Entry {
        let (start, len) = logs.store(|b| b.extend_from_slice(json.as_bytes())).unwrap();
        Entry { offset, start, len }
    }

    #[test]
    fn entries_stay_in_offset_order_and_ranges_respect_bounds() {
        let mut logs = Logs::default();
        let k = logs.intern("7");
        assert_eq!(logs.intern("7"), k);
        assert_eq!(logs.id("8"), None);
        for off in [0, 2, 4] {
            let e = entry(&mut logs, off, &off.to_string());
            logs.append(k, e);
        }
        let e3 = entry(&mut logs, 3, "\"three\"");
        assert_eq!(logs.insert(k, e3), Inserted::New);
        assert_eq!(logs.insert(k, e3), Inserted::Present);
        assert!(logs.has(k, 3) && !logs.has(k, 1));
        let offs = |r: &[Entry]| r.iter().map(|e| e.offset).collect::<Vec<_>>();
        assert_eq!(offs(logs.range(k, 1, u64::MAX, 10)), [2, 3, 4]);
        assert_eq!(offs(logs.range(k, 1, 4, 10)), [2, 3]);
        assert_eq!(offs(logs.range(k, 0, u64::MAX, 2)), [0, 2]);
        assert_eq!(offs(logs.range(k, 5, 3, 10)), [] as [u64; 0]);
        assert_eq!(logs.bytes(e3.start, e3.len), b"\"three\"");
    }

    #[test]
    fn commits_only_move_forward() {
        let mut logs = Logs::default();
        let k = logs.intern("a");
        assert!(logs.commit(k, 5));
        assert!(!logs.commit(k, 3));
        assert!(!logs.commit(k, 5));
        assert!(logs.commit(k, 6));
        assert_eq!(logs.key(k).committed, Some(6));
    }

    #[test]
    fn oversized_messages_are_refused_and_leave_no_bytes() {
        let mut logs = Logs::default();
        let before = logs.store(|b| b.push(b'1')).unwrap();
        assert_eq!(
            logs.store(|b| b.resize(b.len() + MAX_MSG_BYTES + 1, b' ')),
            Err(StoreError::TooLarge)
        );
        let after = logs.store(|b| b.push(b'2')).unwrap();
        assert_eq!(after.0, before.0 + 1, "the refused bytes were rolled back");
    }
}
