//! The g-set's elements: any JSON value, held as a `u64` item. Non-negative integers below
//! 2^63 (all that Maelstrom's generator draws) are their own item and live in a bitmap or
//! hash set (the broadcast node's [`ValueSet`]); any other value is interned once, in a
//! canonical encoding, and its item is a tagged index into the intern table.
//!
//! Canonical encoding: compact JSON with object members sorted by key (a client that writes
//! `{"b":1,"a":2}` and one that writes `{"a":2,"b":1}` add the same element), strings
//! re-escaped the one way the encoder writes them, numbers as the parser read them (`1` and
//! `1.0` stay different elements, as they are in Maelstrom's Clojure checker).

use hashbrown::HashMap;

use crate::proto::encode::{ArrWriter, write_str, write_val};
use crate::proto::{Kind, Val};
use crate::workload::broadcast::queue::seen::ValueSet;

/// The item tag of an interned element; integers below it are themselves.
const INTERNED: u64 = 1 << 63;

/// The most distinct non-integer elements a node interns (each item's index must fit 32
/// bits); past it, adds of new ones are refused and gossip carrying them is rejected (the
/// sender retries). Even the shortest such element, `""`, costs ~40 bytes interned, so the
/// bound is past 150 GiB of elements.
pub const MAX_INTERNED: usize = u32::MAX as usize;

/// A set of JSON elements, each named by a `u64` item.
#[derive(Debug, Default)]
pub struct Elements {
    /// The integer elements (items below [`INTERNED`]).
    ints: ValueSet,
    /// The canonical encoding of every other element, by index (its item is
    /// `INTERNED | index`).
    interned: Vec<Box<[u8]>>,
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

    /// The item of element `v`, interning it if it is not a small integer, or `None` when
    /// the intern table is full ([`MAX_INTERNED`] distinct non-integer elements). Reading an
    /// element does not add it to the set; [`Elements::insert`] does.
    pub fn read(&mut self, v: Val<'_, '_>) -> Option<u64> {
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
        self.interned.push(bytes.clone());
        self.index.insert(bytes, i);
        Some(INTERNED | u64::from(i))
    }

    /// Adds the element named by `item` (from [`Elements::read`]); returns whether it was new.
    pub fn insert(&mut self, item: u64) -> bool {
        let fresh = if item < INTERNED {
            self.ints.insert(item)
        } else {
            debug_assert!(((item & !INTERNED) as usize) < self.interned.len(), "from read()");
            self.members.insert(item & !INTERNED)
        };
        self.len += usize::from(fresh);
        fresh
    }

    /// Number of elements in the set.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes the element named by `item` as one array element; returns about how many
    /// bytes that took (exactly, for an interned element).
    pub fn write(&self, item: u64, a: &mut ArrWriter<'_>) -> usize {
        if item < INTERNED {
            a.u64(item);
            8
        } else {
            let bytes = &self.interned[(item & !INTERNED) as usize];
            a.elem().extend_from_slice(bytes);
            bytes.len()
        }
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
