//! The g-set's elements: any JSON value, held as a `u64` item, and the block digests a
//! resync compares ([`Set`], so the broadcast node's queue and gossip layers carry them).
//!
//! Non-negative integers below 2^63 (all that Maelstrom's generator draws) are their own item
//! and live in the broadcast node's [`ValueSet`] (a bitmap for counter values). Any other value
//! is interned once, in a canonical encoding, and its item is a tagged index into the intern
//! table; items are local to a node, and only elements travel.
//!
//! Canonical encoding: compact JSON with object members sorted by key (a client that writes
//! `{"b":1,"a":2}` and one that writes `{"a":2,"b":1}` add the same element), strings
//! re-escaped the one way the encoder writes them, numbers as the parser read them (`1` and
//! `1.0` stay different elements, as they are in Maelstrom's Clojure checker).
//!
//! # Blocks
//!
//! The integers use the [`ValueSet`]'s blocks (`[0, BLOCKS)`). Interned elements are spread
//! over [`JSON_BUCKETS`] more blocks by a 64-bit hash of their canonical encoding, which every
//! node computes alike; a block's digest combines its elements' hashes, and a receiver
//! describes a block whose digest differs by its elements' hashes, from which the sender finds
//! the elements it lacks. (Two distinct elements with the same 64-bit hash would look alike
//! to a resync; with a few million elements the odds are below 10^-6.)

use hashbrown::HashMap;

use crate::proto::encode::{ArrWriter, write_str, write_val};
use crate::proto::{Kind, Val};
use crate::rng::fnv1a;
use crate::workload::broadcast::queue::Set;
use crate::workload::broadcast::queue::seen::{BLOCKS, ValueSet};

/// The item tag of an interned element; integers below it are themselves.
const INTERNED: u64 = 1 << 63;

/// The most distinct non-integer elements a node interns (each item's index must fit 32
/// bits); past it, adds of new ones are refused and gossip carrying them is rejected (the
/// sender retries). Even the shortest such element, `""`, costs ~40 bytes interned, so the
/// bound is past 150 GiB of elements.
pub const MAX_INTERNED: usize = u32::MAX as usize;

/// Blocks of interned elements: `[BLOCKS, BLOCKS + JSON_BUCKETS)`.
pub const JSON_BUCKETS: u32 = 256;

/// A 64-bit finaliser (splitmix64's).
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The hash of a canonical encoding, the same on every node.
fn hash(bytes: &[u8]) -> u64 {
    mix(fnv1a(bytes))
}

/// The block of an interned element with hash `h`.
fn bucket(h: u64) -> u32 {
    BLOCKS + (h >> 56) as u32
}

/// A set of JSON elements, each named by a `u64` item.
#[derive(Debug, Default)]
pub struct Elements {
    /// The integer elements (items below [`INTERNED`]).
    ints: ValueSet,
    /// The canonical encoding of every element read so far that is not a small integer, by
    /// index (its item is `INTERNED | index`).
    interned: Vec<Box<[u8]>>,
    /// `hashes[i]` is the hash of `interned[i]`.
    hashes: Vec<u64>,
    /// Index into `interned` by canonical encoding. Invariant: the inverse of `interned`.
    index: HashMap<Box<[u8]>, u32>,
    /// The indices in `interned` of the elements in the set (an element is interned when
    /// read, and a member once inserted).
    members: ValueSet,
    /// Number of elements in the set.
    len: usize,
    /// Scratch for one canonical encoding.
    scratch: Vec<u8>,
}

impl Elements {
    /// An empty set.
    pub fn new() -> Self {
        Elements::default()
    }

    /// Number of elements in the set.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every element's item: the integers in ascending order, then the others in the order
    /// they were interned.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.ints.iter().chain(self.members.iter().map(|i| INTERNED | i))
    }

    /// The interned members in block `b` (`BLOCKS <= b`), with their hashes.
    fn in_bucket(&self, b: u32) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.members.iter().filter_map(move |i| {
            let h = self.hashes[i as usize];
            (bucket(h) == b).then_some((h, INTERNED | i))
        })
    }

    /// The digests of the interned members' blocks, by block minus `BLOCKS` (0 when empty).
    fn json_digests(&self) -> Vec<u64> {
        let mut sums = vec![0u64; JSON_BUCKETS as usize];
        let mut counts = vec![0u64; JSON_BUCKETS as usize];
        for i in self.members.iter() {
            let h = self.hashes[i as usize];
            let k = (bucket(h) - BLOCKS) as usize;
            sums[k] = sums[k].wrapping_add(mix(h ^ 0xD1CE));
            counts[k] += 1;
        }
        sums.iter()
            .zip(&counts)
            .map(|(&s, &c)| if c == 0 { 0 } else { mix(s ^ c.wrapping_mul(0x9E37_79B9)).max(1) })
            .collect()
    }
}

impl Set for Elements {
    type Item = u64;

    fn insert(&mut self, item: u64) -> bool {
        let fresh = if item < INTERNED {
            self.ints.insert(item)
        } else {
            debug_assert!(((item & !INTERNED) as usize) < self.interned.len(), "from read()");
            self.members.insert(item & !INTERNED)
        };
        self.len += usize::from(fresh);
        fresh
    }

    fn len(&self) -> usize {
        self.len
    }

    fn accepts(_: Val<'_, '_>) -> bool {
        true
    }

    /// The item of element `v`, interning it if it is not a small integer, or `None` when
    /// the intern table is full ([`MAX_INTERNED`] distinct non-integer elements). Reading an
    /// element does not add it to the set; [`Set::insert`] does.
    fn read(&mut self, v: Val<'_, '_>) -> Option<u64> {
        if let Some(x) = v.as_u64().filter(|&x| x < INTERNED) {
            return Some(x);
        }
        self.scratch.clear();
        canonical(&mut self.scratch, v);
        if let Some(&i) = self.index.get(self.scratch.as_slice()) {
            return Some(INTERNED | u64::from(i));
        }
        if self.interned.len() >= MAX_INTERNED {
            return None;
        }
        let i = self.interned.len() as u32;
        let bytes: Box<[u8]> = self.scratch.as_slice().into();
        self.hashes.push(hash(&bytes));
        self.interned.push(bytes.clone());
        self.index.insert(bytes, i);
        Some(INTERNED | u64::from(i))
    }

    fn write(&self, item: u64, a: &mut ArrWriter<'_>) {
        if item < INTERNED {
            a.u64(item);
        } else {
            a.elem().extend_from_slice(&self.interned[(item & !INTERNED) as usize]);
        }
    }

    fn size(&self, item: u64) -> usize {
        if item < INTERNED { 8 } else { self.interned[(item & !INTERNED) as usize].len() }
    }

    fn digests(&self, from: u32, max: usize, out: &mut Vec<u64>) -> Option<u32> {
        let start = out.len();
        if from < BLOCKS {
            if let Some(cut) = self.ints.digests(from, max, out) {
                return Some(cut);
            }
        }
        let mut listed = (out.len() - start) / 2;
        if self.members.is_empty() {
            return None;
        }
        let json = self.json_digests();
        for b in from.max(BLOCKS)..BLOCKS + JSON_BUCKETS {
            let d = json[(b - BLOCKS) as usize];
            if d != 0 {
                if listed == max {
                    return Some(b);
                }
                out.extend([u64::from(b), d]);
                listed += 1;
            }
        }
        None
    }

    fn compare(
        &self,
        theirs: &[u64],
        budget: usize,
        out: &mut Vec<u64>,
    ) -> Result<Option<u32>, &'static str> {
        if theirs.len() % 2 != 0 {
            return Err("a digest list is block and digest pairs");
        }
        let start = out.len();
        let mut json: Option<Vec<u64>> = None;
        for pair in theirs.chunks_exact(2) {
            let b = match u32::try_from(pair[0]) {
                Ok(b) if b < BLOCKS + JSON_BUCKETS => b,
                _ => return Err("a block number out of range"),
            };
            if out.len() > start && out.len() - start >= budget {
                return Ok(Some(b));
            }
            if b < BLOCKS {
                // One block at a time, so the budget is ours to keep.
                self.ints.compare(pair, usize::MAX, out)?;
                continue;
            }
            let mine = json.get_or_insert_with(|| self.json_digests())[(b - BLOCKS) as usize];
            if mine == pair[1] {
                continue;
            }
            out.extend([u64::from(b), 0]);
            let at = out.len();
            out.extend(self.in_bucket(b).map(|(h, _)| h));
            out[at - 1] = (out.len() - at) as u64;
        }
        Ok(None)
    }

    fn missing(
        &self,
        have: &mut [u64],
        budget: usize,
        out: &mut Vec<u64>,
    ) -> Result<Option<u32>, &'static str> {
        let start = out.len();
        let mut i = 0;
        while i < have.len() {
            let b = match u32::try_from(have[i]) {
                Ok(b) if b < BLOCKS + JSON_BUCKETS => b,
                _ => return Err("a block number out of range"),
            };
            let k = have.get(i + 1).ok_or("a block without its count")?;
            let k = usize::try_from(*k).map_err(|_| "a count out of range")?;
            let end = (i + 2).checked_add(k).filter(|&e| e <= have.len());
            let end = end.ok_or("a description longer than the message")?;
            if out.len() > start && out.len() - start >= budget {
                return Ok(Some(b));
            }
            if b < BLOCKS {
                self.ints.missing(&mut have[i..end], usize::MAX, out)?;
            } else {
                let desc = &mut have[i + 2..end];
                desc.sort_unstable();
                out.extend(
                    self.in_bucket(b)
                        .filter(|(h, _)| desc.binary_search(h).is_err())
                        .map(|(_, item)| item),
                );
            }
            i = end;
        }
        Ok(None)
    }
}

/// Appends the canonical encoding of `v` to `buf`.
fn canonical(buf: &mut Vec<u8>, v: Val<'_, '_>) {
    match v.kind() {
        Kind::Object => {
            let obj = v.as_object().expect("an object");
            let mut members: Vec<(&str, Val<'_, '_>)> = obj.iter().collect();
            members.sort_by(|a, b| a.0.cmp(b.0));
            buf.push(b'{');
            for (k, (key, val)) in members.into_iter().enumerate() {
                if k > 0 {
                    buf.push(b',');
                }
                write_str(buf, key);
                buf.push(b':');
                canonical(buf, val);
            }
            buf.push(b'}');
        }
        Kind::Array => {
            buf.push(b'[');
            for (k, e) in v.as_array().expect("an array").iter().enumerate() {
                if k > 0 {
                    buf.push(b',');
                }
                canonical(buf, e);
            }
            buf.push(b']');
        }
        _ => write_val(buf, v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::encode::ObjWriter;
    use crate::proto::{PADDING, Parser};
    use crate::rng::Rng;

    /// Reads the JSON text `json` into `set` (not inserting it); returns its item.
    fn read(set: &mut Elements, json: &str) -> u64 {
        let mut line = json.as_bytes().to_vec();
        let len = line.len();
        line.resize(len + PADDING, b' ');
        Parser::new().parse_value(&mut line, len, |v| {
            set.read(v.expect("JSON").expect("a value")).expect("room in the table")
        })
    }

    /// The element named by `item`, as `set` writes it.
    fn text(set: &Elements, item: u64) -> String {
        let mut buf = Vec::new();
        ObjWriter::continuing(&mut buf, false).arr("x", |a| set.write(item, a));
        let s = String::from_utf8(buf).unwrap();
        s["\"x\":[".len()..s.len() - 1].to_owned()
    }

    /// One full digest exchange from `a` to `b`: the elements `b` lacks of `a`, as text.
    fn lacking(a: &Elements, b: &Elements, max_digests: usize, budget: usize) -> Vec<String> {
        let (mut items, mut from, mut rounds) = (Vec::new(), Some(0), 0);
        while let Some(f) = from {
            rounds += 1;
            assert!(rounds < 10_000, "the exchange makes progress");
            let mut d = Vec::new();
            let cut = a.digests(f, max_digests, &mut d);
            let mut h = Vec::new();
            let stop = b.compare(&d, budget, &mut h).expect("well-formed digests");
            assert_eq!(a.missing(&mut h, usize::MAX, &mut items), Ok(None));
            from = stop.or(cut);
        }
        let mut out: Vec<String> = items.iter().map(|&x| text(a, x)).collect();
        out.sort();
        out
    }

    #[test]
    fn a_digest_exchange_finds_exactly_the_json_elements_the_receiver_lacks() {
        let mut rng = Rng::new(7);
        for case in 0..40 {
            let (mut a, mut b) = (Elements::new(), Elements::new());
            let mut want = std::collections::BTreeSet::new();
            let mut in_b = std::collections::BTreeSet::new();
            for _ in 0..rng.below(3_000) {
                let json = match rng.below(5) {
                    0 => format!("{}", rng.below(100_000)),
                    1 => format!("{}", rng.next_u64()),
                    2 => format!(r#""s{}""#, rng.below(5_000)),
                    3 => format!(r#"{{"k":{},"v":[{}]}}"#, rng.below(2_000), rng.below(3)),
                    _ => format!("{}", -(rng.below(1_000) as i64) - 1),
                };
                let (xa, xb) = (read(&mut a, &json), read(&mut b, &json));
                let canon = text(&a, xa);
                match rng.below(4) {
                    0 => {
                        a.insert(xa);
                        want.insert(canon);
                    }
                    1 => {
                        b.insert(xb);
                        in_b.insert(canon);
                    }
                    _ => {
                        a.insert(xa);
                        b.insert(xb);
                        in_b.insert(canon);
                    }
                }
            }
            let want: Vec<String> = want.difference(&in_b).cloned().collect();
            let (max, budget) = [(1, 1), (3, 17), (4096, 1 << 20)][case % 3];
            assert_eq!(lacking(&a, &b, max, budget), want, "case {case}");
            assert!(lacking(&a, &a, max, budget).is_empty());
            assert_eq!(lacking(&a, &Elements::new(), max, budget).len(), a.len());
        }
    }

    #[test]
    fn malformed_descriptions_are_errors_not_panics() {
        let mut a = Elements::new();
        let x = read(&mut a, r#""x""#);
        a.insert(x);
        let mut out = Vec::new();
        for bad in [&[u64::from(BLOCKS + JSON_BUCKETS), 0][..], &[u64::from(BLOCKS), 5, 1], &[1]] {
            assert!(a.missing(&mut bad.to_vec(), 10, &mut out).is_err(), "{bad:?}");
        }
        assert!(a.compare(&[u64::from(BLOCKS + JSON_BUCKETS), 1], 10, &mut out).is_err());
        assert!(a.compare(&[1, 2, 3], 10, &mut out).is_err());
    }
}
