//! The committed database of the txn-list-append node: every key's list, the version it is at,
//! and the window of recent deltas that, with its base, is the root kept in lin-kv.
//!
//! A *delta* is one committed batch of appends, as JSON text `[tag,k1,e1,k2,e2,...]` (keys and
//! elements in the compact JSON the node's encoder writes). Version `v` is the state after the
//! first `v` deltas. The root for version `v` is `[base,[d(base+1),...,d(v)]]`: the deltas
//! above `base`, a multiple of [`BLOCK`]. The deltas at and below `base` live in lin-kv as
//! blocks of [`BLOCK`] (key `block-i` holds `[d(iB+1),...,d(iB+B)]`).
//!
//! The root is a pure function of the sequence of deltas: committing version `v` drops the
//! oldest [`BLOCK`] deltas from the window exactly when the window would otherwise exceed
//! `BLOCK + KEEP`. So every node that has applied the same deltas holds byte for byte the root
//! lin-kv holds, and a node can compute the root a commit will install (the CAS `to`) or that a
//! peer's announced commit installed.

use std::collections::VecDeque;
use std::ops::Range;

use hashbrown::HashMap;

use crate::proto::Val;
use crate::proto::encode::{write_u64, write_val};

/// Deltas per block moved out of the root.
pub const BLOCK: u64 = 16;
/// Deltas the root keeps beyond [`BLOCK`]; the window holds `KEEP + 1 ..= BLOCK + KEEP` deltas
/// once the first block has moved out. A node that fell behind by at most this many commits
/// catches up from the root alone.
pub const KEEP: u64 = 4;

/// The root of the empty database (version 0), as the node sends it for a CAS `from`.
pub const EMPTY_ROOT: &[u8] = b"[0,[]]";

/// One batch's appends, as JSON text and as (key, element) ranges into it.
#[derive(Clone, Debug, Default)]
pub struct Delta {
    /// `[tag,k1,e1,...]`, complete once [`Delta::finish`] has run.
    text: Vec<u8>,
    /// The batch's tag: unique per proposal across the cluster (`counter * n + node index`).
    tag: u64,
    /// Key and element of each append, in order, as ranges into `text`.
    pairs: Vec<(Range<u32>, Range<u32>)>,
}

impl Delta {
    /// Starts an empty delta tagged `tag`, keeping the buffers' allocations.
    pub fn begin(&mut self, tag: u64) {
        self.text.clear();
        self.pairs.clear();
        self.tag = tag;
        self.text.push(b'[');
        write_u64(&mut self.text, tag);
    }

    /// Appends `elem` to `key` (both compact JSON text).
    pub fn push(&mut self, key: &[u8], elem: &[u8]) {
        self.text.push(b',');
        let k = self.mark(|t| t.extend_from_slice(key));
        self.text.push(b',');
        let e = self.mark(|t| t.extend_from_slice(elem));
        self.pairs.push((k, e));
    }

    fn mark(&mut self, f: impl FnOnce(&mut Vec<u8>)) -> Range<u32> {
        let start = self.text.len() as u32;
        f(&mut self.text);
        start..self.text.len() as u32
    }

    /// Closes the JSON text.
    pub fn finish(&mut self) {
        self.text.push(b']');
    }

    /// Reads a delta from its JSON form (`[tag, k1, e1, ...]`) into `self`; false (and `self`
    /// unspecified) if `v` is not one.
    pub fn read(&mut self, v: Val<'_, '_>) -> bool {
        let Some(a) = v.as_array() else { return false };
        let mut it = a.iter();
        let Some(tag) = it.next().and_then(|t| t.as_u64()) else { return false };
        if a.len() % 2 == 0 {
            return false;
        }
        self.begin(tag);
        while let (Some(k), Some(e)) = (it.next(), it.next()) {
            self.text.push(b',');
            let k = self.mark(|t| write_val(t, k));
            self.text.push(b',');
            let e = self.mark(|t| write_val(t, e));
            self.pairs.push((k, e));
        }
        self.finish();
        true
    }

    /// The tag.
    pub fn tag(&self) -> u64 {
        self.tag
    }

    /// The JSON text (complete after [`Delta::finish`]).
    pub fn text(&self) -> &[u8] {
        &self.text
    }

    /// Number of appends.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether the delta appends nothing.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The appends, in order, as (key, element) JSON text.
    pub fn pairs(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.pairs.iter().map(|(k, e)| {
            (
                &self.text[k.start as usize..k.end as usize],
                &self.text[e.start as usize..e.end as usize],
            )
        })
    }
}

/// Every key's list at one committed version, and the root of that version.
#[derive(Debug)]
pub struct Db {
    /// Each key's elements as JSON text joined by commas. Invariant: no empty list is stored
    /// (a key is present iff something was appended to it).
    lists: HashMap<Box<[u8]>, Vec<u8>>,
    /// Number of deltas applied.
    version: u64,
    /// Deltas at or below this version have left the window (a multiple of [`BLOCK`]).
    base: u64,
    /// Texts of deltas `base + 1 ..= version`. Invariant: `base + window.len() == version`
    /// and `window.len() <= BLOCK + KEEP` (when the root is tracked).
    window: VecDeque<Vec<u8>>,
    /// The root's JSON text for `version`.
    root: Vec<u8>,
    /// Whether to keep the window and root (not needed by a one-node cluster).
    track_root: bool,
    /// Buffers of texts that left the window, for reuse.
    spare: Vec<Vec<u8>>,
    /// Bytes of list text held.
    bytes: usize,
}

impl Db {
    /// The empty database; `track_root` keeps the window and root text up to date.
    pub fn new(track_root: bool) -> Self {
        Db {
            lists: HashMap::new(),
            version: 0,
            base: 0,
            window: VecDeque::with_capacity((BLOCK + KEEP + 1) as usize),
            root: EMPTY_ROOT.to_vec(),
            track_root,
            spare: Vec::new(),
            bytes: 0,
        }
    }

    /// Deltas applied so far.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The root's base.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// The root's JSON text for the current version.
    pub fn root(&self) -> &[u8] {
        &self.root
    }

    /// Bytes of list text held (the database's size).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Number of keys with a non-empty list.
    pub fn keys(&self) -> usize {
        self.lists.len()
    }

    /// The elements of `key`'s list as comma-joined JSON text (empty if none).
    pub fn list(&self, key: &[u8]) -> &[u8] {
        self.lists.get(key).map_or(&[], Vec::as_slice)
    }

    /// Applies `d` as version `version() + 1`.
    pub fn apply(&mut self, d: &Delta) {
        for (key, elem) in d.pairs() {
            match self.lists.get_mut(key) {
                Some(list) => {
                    list.push(b',');
                    list.extend_from_slice(elem);
                    self.bytes += elem.len() + 1;
                }
                None => {
                    self.lists.insert(key.into(), elem.to_vec());
                    self.bytes += key.len() + elem.len();
                }
            }
        }
        self.version += 1;
        if !self.track_root {
            return;
        }
        let mut text = self.spare.pop().unwrap_or_default();
        text.clear();
        text.extend_from_slice(d.text());
        self.window.push_back(text);
        if self.window.len() as u64 > BLOCK + KEEP {
            self.spare.extend(self.window.drain(..BLOCK as usize));
            self.base += BLOCK;
        }
        let mut root = std::mem::take(&mut self.root);
        self.write_root(&mut root, None);
        self.root = root;
    }

    /// Writes the root `[base,[deltas]]` of the current version, or of the next one if `next`
    /// is the delta to commit as it.
    fn write_root(&self, buf: &mut Vec<u8>, next: Option<&Delta>) {
        buf.clear();
        let trims = next.is_some() && self.trims_next();
        let (base, skip) = if trims { (self.base + BLOCK, BLOCK as usize) } else { (self.base, 0) };
        buf.push(b'[');
        write_u64(buf, base);
        buf.extend_from_slice(b",[");
        let mut first = true;
        for d in self.window.iter().skip(skip).map(Vec::as_slice).chain(next.map(Delta::text)) {
            if !first {
                buf.push(b',');
            }
            first = false;
            buf.extend_from_slice(d);
        }
        buf.extend_from_slice(b"]]");
    }

    /// Writes the root that committing `d` as the next version installs (the CAS `to`).
    pub fn next_root(&self, d: &Delta, buf: &mut Vec<u8>) {
        self.write_root(buf, Some(d));
    }

    /// Whether committing the next version moves the oldest block out of the root (which
    /// needs that block written to lin-kv first).
    pub fn trims_next(&self) -> bool {
        self.track_root && self.window.len() as u64 >= BLOCK + KEEP
    }

    /// The block the next commit moves out of the root: its index and its text
    /// `[d(base+1),...,d(base+BLOCK)]` (every one of them committed). Only meaningful when
    /// [`Db::trims_next`].
    pub fn next_block(&self, buf: &mut Vec<u8>) -> u64 {
        buf.clear();
        buf.push(b'[');
        for (i, d) in self.window.iter().take(BLOCK as usize).enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            buf.extend_from_slice(d);
        }
        buf.push(b']');
        self.base / BLOCK
    }

    /// Replaces the root text of the current version by `text` (the same value as read from
    /// lin-kv), so a CAS `from` matches what lin-kv holds byte for byte.
    pub fn adopt_root_text(&mut self, text: &[u8]) {
        if self.root != text {
            self.root.clear();
            self.root.extend_from_slice(text);
        }
    }
}

/// The lin-kv key of block `i`.
pub fn block_key(i: u64, buf: &mut String) {
    use std::fmt::Write;
    buf.clear();
    // Writing to a String cannot fail.
    let _ = write!(buf, "block-{i}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Parser;

    fn delta(tag: u64, appends: &[(&str, &str)]) -> Delta {
        let mut d = Delta::default();
        d.begin(tag);
        for (k, e) in appends {
            d.push(k.as_bytes(), e.as_bytes());
        }
        d.finish();
        d
    }

    fn text(b: &[u8]) -> &str {
        std::str::from_utf8(b).unwrap()
    }

    #[test]
    fn lists_grow_in_order_and_absent_keys_are_empty() {
        let mut db = Db::new(true);
        assert_eq!(db.root(), EMPTY_ROOT);
        db.apply(&delta(1, &[("1", "5"), ("2", "\"x\""), ("1", "6")]));
        assert_eq!(text(db.list(b"1")), "5,6");
        assert_eq!(text(db.list(b"2")), "\"x\"");
        assert_eq!(db.list(b"3"), b"");
        assert_eq!(db.version(), 1);
        assert_eq!(text(db.root()), r#"[0,[[1,1,5,2,"x",1,6]]]"#);
        assert_eq!(db.keys(), 2);
    }

    #[test]
    fn the_root_moves_a_block_out_exactly_past_block_plus_keep() {
        let mut db = Db::new(true);
        let total = BLOCK + KEEP;
        for v in 1..=total {
            assert!(!db.trims_next(), "at {v}");
            db.apply(&delta(v, &[("1", &v.to_string())]));
        }
        assert_eq!(db.base(), 0);
        assert!(db.trims_next());
        let mut block = Vec::new();
        assert_eq!(db.next_block(&mut block), 0);
        let want: Vec<String> = (1..=BLOCK).map(|v| format!("[{v},1,{v}]")).collect();
        assert_eq!(text(&block), format!("[{}]", want.join(",")));
        let next = delta(total + 1, &[("2", "0")]);
        let mut to = Vec::new();
        db.next_root(&next, &mut to);
        db.apply(&next);
        assert_eq!(db.base(), BLOCK);
        assert_eq!(db.root(), &to[..], "next_root predicts the root apply makes");
        assert!(text(db.root()).starts_with(&format!("[{BLOCK},[[{},1,{}]", BLOCK + 1, BLOCK + 1)));
        assert_eq!(db.version(), total + 1);
    }

    #[test]
    fn a_delta_reads_back_from_its_json() {
        let d = delta(7, &[("1", "[1,{\"a\":2}]"), ("\"k\"", "3")]);
        let mut bytes = d.text().to_vec();
        let len = bytes.len();
        let mut p = Parser::new();
        let mut e = Delta::default();
        let ok = p.parse_value(&mut bytes, len, |v| e.read(v.unwrap().unwrap()));
        assert!(ok);
        assert_eq!(e.text(), d.text());
        assert_eq!(e.tag(), 7);
        assert_eq!(e.pairs().collect::<Vec<_>>(), d.pairs().collect::<Vec<_>>());
        for bad in ["[]", "[1,2]", "[\"t\",1,2]", "{}", "[-1,1,2]"] {
            let mut bytes = bad.as_bytes().to_vec();
            let len = bytes.len();
            assert!(!p.parse_value(&mut bytes, len, |v| e.read(v.unwrap().unwrap())), "{bad}");
        }
    }

    #[test]
    fn a_one_node_db_keeps_no_root() {
        let mut db = Db::new(false);
        for v in 1..100 {
            db.apply(&delta(v, &[("1", "2")]));
        }
        assert_eq!(db.root(), EMPTY_ROOT);
        assert!(!db.trims_next());
        assert_eq!(db.version(), 99);
    }
}
