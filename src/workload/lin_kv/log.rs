//! The Raft log: entries after the last snapshot, indexed from 1, with the snapshot's last
//! index and term standing in for everything it replaced.

use std::collections::VecDeque;

/// One log entry: the term it was created in and its command (`None`: a leader's no-op).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry<C> {
    /// Term of the leader that appended it.
    pub term: u64,
    /// The command, or `None` for the no-op a new leader appends.
    pub cmd: Option<C>,
}

/// The in-memory log.
///
/// Invariants: `entries[k]` has index `snap_index + 1 + k`; terms never decrease along the
/// log, and none is below `snap_term`.
#[derive(Clone, Debug)]
pub struct Log<C> {
    /// Index of the last entry the snapshot covers (0: none).
    snap_index: u64,
    /// Term of that entry (0: none).
    snap_term: u64,
    entries: VecDeque<Entry<C>>,
}

impl<C> Default for Log<C> {
    fn default() -> Self {
        Log { snap_index: 0, snap_term: 0, entries: VecDeque::new() }
    }
}

impl<C: Clone> Log<C> {
    /// An empty log.
    pub fn new() -> Self {
        Log::default()
    }

    /// Index of the last entry the snapshot replaced (0 if none).
    pub fn snap_index(&self) -> u64 {
        self.snap_index
    }

    /// Term of that entry.
    pub fn snap_term(&self) -> u64 {
        self.snap_term
    }

    /// Index of the last entry (the snapshot's if the log holds none).
    pub fn last_index(&self) -> u64 {
        self.snap_index + self.entries.len() as u64
    }

    /// Term of the last entry.
    pub fn last_term(&self) -> u64 {
        self.entries.back().map_or(self.snap_term, |e| e.term)
    }

    /// Number of entries held (after the snapshot).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no entry follows the snapshot.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The term at `index`: known for the snapshot point and every held entry, `None` below
    /// the snapshot point or past the end.
    pub fn term(&self, index: u64) -> Option<u64> {
        if index == self.snap_index {
            return Some(self.snap_term);
        }
        self.entry(index).map(|e| e.term)
    }

    /// The entry at `index`, if held.
    pub fn entry(&self, index: u64) -> Option<&Entry<C>> {
        let k = index.checked_sub(self.snap_index + 1)?;
        self.entries.get(usize::try_from(k).ok()?)
    }

    /// Appends an entry at `last_index() + 1`.
    pub fn push(&mut self, e: Entry<C>) {
        debug_assert!(e.term >= self.last_term(), "terms never decrease along the log");
        self.entries.push_back(e);
    }

    /// Removes every entry from `index` on. (`index` must be after the snapshot point.)
    pub fn truncate_from(&mut self, index: u64) {
        debug_assert!(index > self.snap_index, "the snapshot is never truncated");
        self.entries.truncate((index - self.snap_index - 1) as usize);
    }

    /// Drops every entry up to `index`, which the snapshot (taken at `index`, whose entry has
    /// `term`) now stands for. Entries after `index` are kept when `index` is held with that
    /// term; otherwise the log is emptied.
    pub fn compact(&mut self, index: u64, term: u64) {
        if index <= self.snap_index {
            return;
        }
        if self.term(index) == Some(term) {
            let k = (index - self.snap_index) as usize;
            self.entries.drain(..k);
        } else {
            self.entries.clear();
        }
        self.snap_index = index;
        self.snap_term = term;
    }

    /// Up to `max_entries` entries from `from` (at least one if any is held, whatever its
    /// size), stopping before the total [`Entry`] size passes `max_bytes`.
    pub fn slice(
        &self,
        from: u64,
        max_entries: usize,
        max_bytes: usize,
        size: impl Fn(&C) -> usize,
    ) -> Vec<Entry<C>> {
        let mut out = Vec::new();
        let mut bytes = 0;
        let mut i = from;
        while let Some(e) = self.entry(i) {
            let n = 8 + e.cmd.as_ref().map_or(0, &size);
            if out.len() == max_entries || (!out.is_empty() && bytes + n > max_bytes) {
                break;
            }
            bytes += n;
            out.push(e.clone());
            i += 1;
        }
        out
    }

    /// The first index of the run of entries that share `index`'s term, going back from
    /// `index` (never below the first held entry). For a follower's conflict hint.
    pub fn first_index_of_term_at(&self, index: u64) -> u64 {
        let Some(term) = self.term(index) else { return index };
        // Terms are sorted, so the run starts at the first entry with this term.
        let k = self.entries.partition_point(|e| e.term < term) as u64;
        (self.snap_index + 1 + k).min(index).max(self.snap_index + 1)
    }

    /// The last index holding an entry of `term`, if any entry of that term is held (or the
    /// snapshot point has it).
    pub fn last_index_of_term(&self, term: u64) -> Option<u64> {
        let k = self.entries.partition_point(|e| e.term <= term);
        if k > 0 && self.entries[k - 1].term == term {
            return Some(self.snap_index + k as u64);
        }
        (k == 0 && self.snap_term == term && self.snap_index > 0).then_some(self.snap_index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(terms: &[u64]) -> Log<u64> {
        let mut l = Log::new();
        for (i, &t) in terms.iter().enumerate() {
            l.push(Entry { term: t, cmd: Some(i as u64 + 1) });
        }
        l
    }

    #[test]
    fn indexes_terms_and_truncation() {
        let mut l = log(&[1, 1, 2, 3, 3]);
        assert_eq!((l.last_index(), l.last_term()), (5, 3));
        assert_eq!(l.term(0), Some(0));
        assert_eq!(l.term(3), Some(2));
        assert_eq!(l.term(6), None);
        assert_eq!(l.entry(4).unwrap().cmd, Some(4));
        l.truncate_from(4);
        assert_eq!((l.last_index(), l.last_term()), (3, 2));
    }

    #[test]
    fn term_lookups_for_fast_backtracking() {
        let l = log(&[1, 1, 2, 2, 2, 4]);
        assert_eq!(l.first_index_of_term_at(5), 3);
        assert_eq!(l.first_index_of_term_at(2), 1);
        assert_eq!(l.first_index_of_term_at(6), 6);
        assert_eq!(l.last_index_of_term(2), Some(5));
        assert_eq!(l.last_index_of_term(3), None);
        assert_eq!(l.last_index_of_term(4), Some(6));
        assert_eq!(l.last_index_of_term(5), None);
    }

    #[test]
    fn compaction_keeps_the_suffix_only_when_it_matches() {
        let mut l = log(&[1, 1, 2, 2, 3]);
        l.compact(3, 2);
        assert_eq!((l.snap_index(), l.snap_term(), l.len()), (3, 2, 2));
        assert_eq!(l.term(3), Some(2));
        assert_eq!(l.term(2), None);
        assert_eq!(l.entry(4).unwrap().cmd, Some(4));
        assert_eq!(l.first_index_of_term_at(4), 4, "never below the first held entry");
        assert_eq!(l.last_index_of_term(2), Some(4));
        l.compact(2, 1);
        assert_eq!(l.snap_index(), 3, "compaction never goes backwards");
        // A snapshot whose point disagrees with the log replaces it all.
        l.compact(5, 9);
        assert_eq!((l.last_index(), l.last_term(), l.len()), (5, 9, 0));
        assert_eq!(l.last_index_of_term(9), Some(5));
        l.compact(7, 9);
        assert_eq!((l.last_index(), l.len()), (7, 0), "a snapshot beyond the end");
    }

    #[test]
    fn slices_respect_both_limits_but_always_make_progress() {
        let l = log(&[1, 1, 1, 1, 1]);
        assert_eq!(l.slice(2, 2, 1000, |_| 1).len(), 2);
        assert_eq!(l.slice(1, 10, 20, |_| 1).len(), 2);
        assert_eq!(l.slice(1, 10, 0, |_| 1000).len(), 1);
        assert!(l.slice(6, 10, 1000, |_| 1).is_empty());
    }
}
