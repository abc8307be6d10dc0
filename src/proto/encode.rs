//! JSON encoding straight into a caller-owned, reused `Vec<u8>`: messages, bodies and values.
//!
//! Writers are closures over `&mut Vec<u8>` that append; they never allocate beyond growing the
//! caller's buffer, and every path through them produces valid JSON (keys and strings are
//! escaped, containers are always closed). A whole message is one line ending in `\n`.

use simd_json::{Node, StaticNode};
use smallvec::SmallVec;

use super::json::Val;

/// Appends the decimal digits of `v`.
///
/// Digits are computed eight at a time in a register (`digits8`) and stored straight into
/// the buffer as whole words, then the buffer is truncated to the digits used. Nothing is
/// assembled in a stack buffer first: reading back a block written byte by byte stalls on
/// store forwarding, which cost more than the arithmetic.
#[inline(always)]
pub fn write_u64(buf: &mut Vec<u8>, v: u64) {
    // Inlined for the usual ids and values (below 10^8); the rest is out of line, so callers
    // pay no register saves for a path they rarely take.
    if v < 100_000_000 {
        let (word, n) = trimmed(digits8(v as u32));
        let start = buf.len();
        buf.extend_from_slice(&word.to_le_bytes());
        buf.truncate(start + n);
    } else {
        write_u64_long(buf, v);
    }
}

/// [`write_u64`] for values of 9 digits or more.
#[inline(never)]
fn write_u64_long(buf: &mut Vec<u8>, v: u64) {
    const E8: u64 = 100_000_000;
    if v < E8 * E8 {
        let (word, n) = trimmed(digits8((v / E8) as u32));
        let start = buf.len();
        buf.extend_from_slice(&word.to_le_bytes());
        buf.truncate(start + n);
        buf.extend_from_slice(&ascii8(digits8((v % E8) as u32)).to_le_bytes());
    } else {
        write_u64_wide(buf, v);
    }
}

/// [`write_u64`] for values of 17 to 20 digits.
#[cold]
fn write_u64_wide(buf: &mut Vec<u8>, v: u64) {
    const E8: u64 = 100_000_000;
    const E16: u64 = E8 * E8;
    // The top part is below 1845, so four digits cover it.
    let (word, n) = trimmed(digits8((v / E16) as u32));
    let start = buf.len();
    buf.extend_from_slice(&word.to_le_bytes());
    buf.truncate(start + n);
    let rest = v % E16;
    buf.extend_from_slice(&ascii8(digits8((rest / E8) as u32)).to_le_bytes());
    buf.extend_from_slice(&ascii8(digits8((rest % E8) as u32)).to_le_bytes());
}

/// The eight decimal digits of `v < 10^8` as byte values 0..=9 in one word, most
/// significant digit in the lowest byte (so the word's little-endian bytes are in reading
/// order). Splits 4+4, then 2+2 per half, then 1+1, all lanes at once; the divisions by 100
/// and by 10 are multiply-and-shift, exact for lanes below 10,000 and 100.
#[inline(always)]
const fn digits8(v: u32) -> u64 {
    debug_assert!(v < 100_000_000);
    let v = v as u64;
    // 32-bit lanes: [v / 10^4, v % 10^4].
    let x = (v / 10_000) | ((v % 10_000) << 32);
    // 16-bit lanes: each half split into its top and bottom two digits.
    let t = ((x * 10_486) >> 20) & 0x0000_007f_0000_007f;
    let x = t | (x - t * 100) << 16;
    // 8-bit lanes: each pair split into tens and units.
    let t = ((x * 103) >> 10) & 0x000f_000f_000f_000f;
    t | (x - t * 10) << 8
}

/// ASCII text of a [`digits8`] word.
#[inline(always)]
const fn ascii8(d: u64) -> u64 {
    d + 0x3030_3030_3030_3030
}

/// A [`digits8`] word as ASCII without its leading zeros (one digit kept for zero), moved to
/// the low bytes, and how many digits that is.
#[inline(always)]
const fn trimmed(d: u64) -> (u64, usize) {
    let zeros = if d == 0 { 7 } else { d.trailing_zeros() / 8 };
    (ascii8(d) >> (zeros * 8), 8 - zeros as usize)
}

/// Appends the decimal digits of `v`, with a sign when negative.
pub fn write_i64(buf: &mut Vec<u8>, v: i64) {
    if v < 0 {
        buf.push(b'-');
    }
    write_u64(buf, v.unsigned_abs());
}

/// Appends a finite float so that it reads back as the same float (never as an integer).
///
/// Non-finite values cannot be JSON; they are written as `null`.
pub fn write_f64(buf: &mut Vec<u8>, v: f64) {
    use std::io::Write;
    if !v.is_finite() {
        buf.extend_from_slice(b"null");
        return;
    }
    // `{:?}` is the shortest representation that round-trips and always keeps a `.` or an
    // exponent (1.0, 1e300), so a float stays a float for the reader. Writing to a Vec
    // cannot fail.
    let _ = write!(buf, "{v:?}");
}

/// Bytes that must be escaped inside a JSON string: `"`, `\\` and control characters.
pub const NEEDS_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Index of the first `"`, `\\` or control byte at or after `i` (or `b.len()`), eight
/// bytes at a time.
#[inline(always)]
pub(crate) fn find_stop(b: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = b.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        // A byte is zero in `x` iff it matched; `(x - ONES) & !x & HIGH` flags zero bytes
        // (exactly for the lowest one, which is all we use).
        let quote = w ^ (ONES * u64::from(b'"'));
        let slash = w ^ (ONES * u64::from(b'\\'));
        let hits = (quote.wrapping_sub(ONES) & !quote)
            | (slash.wrapping_sub(ONES) & !slash)
            // Bytes below 0x20: subtracting 0x20 borrows into the high bit of such a byte
            // (only bytes without their own high bit count).
            | (w.wrapping_sub(ONES * 0x20) & !w);
        let hits = hits & HIGH;
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && !NEEDS_ESCAPE[usize::from(b[i])] {
        i += 1;
    }
    i
}

/// True when the eight bytes of `w` include a `"`, a `\\` or a control byte.
#[inline(always)]
const fn word_has_stop(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let quote = w ^ (ONES * b'"' as u64);
    let slash = w ^ (ONES * b'\\' as u64);
    let hits = (quote.wrapping_sub(ONES) & !quote)
        | (slash.wrapping_sub(ONES) & !slash)
        | (w.wrapping_sub(ONES * 0x20) & !w);
    hits & HIGH != 0
}

/// True when `b` holds a byte that must be escaped. Short strings (ids, types, keys) are
/// tested as one word built from overlapping loads, with no byte loop.
#[inline(always)]
fn needs_escape(b: &[u8]) -> bool {
    let n = b.len();
    let load4 = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"));
    let load8 = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
    match n {
        0 => false,
        // Lanes may repeat a byte: this is a membership test, repeats change nothing.
        1..=3 => word_has_stop(u64::from_le_bytes([
            b[0],
            b[n / 2],
            b[n - 1],
            b[0],
            b[0],
            b[0],
            b[0],
            b[0],
        ])),
        4..=8 => word_has_stop(u64::from(load4(0)) | u64::from(load4(n - 4)) << 32),
        9..=16 => word_has_stop(load8(0)) || word_has_stop(load8(n - 8)),
        _ => find_stop(b, 0) < n,
    }
}

/// Appends `s` as a JSON string literal, quotes included.
///
/// Inlined for short strings with nothing to escape (ids, types, keys, most payloads; for a
/// literal key the escape test folds away); anything else goes out of line.
#[inline(always)]
pub fn write_str(buf: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let n = bytes.len();
    if n <= 16 && !needs_escape(bytes) {
        // Quote, text, quote: a block of quotes goes in first, then the text is stored over
        // it as at most two overlapping fixed-size copies (no `memcpy` call for a few bytes),
        // and the block is cut to length. The byte after the text is still a quote.
        let start = buf.len();
        buf.extend_from_slice(&[b'"'; 18]);
        let block: &mut [u8; 18] = (&mut buf[start..]).try_into().expect("18 bytes");
        match n {
            0 => {}
            1..=3 => {
                block[1] = bytes[0];
                block[1 + n / 2] = bytes[n / 2];
                block[n] = bytes[n - 1];
            }
            4..=8 => {
                block[1..5].copy_from_slice(&bytes[..4]);
                block[n - 3..n + 1].copy_from_slice(&bytes[n - 4..]);
            }
            _ => {
                block[1..9].copy_from_slice(&bytes[..8]);
                block[n - 7..n + 1].copy_from_slice(&bytes[n - 8..]);
            }
        }
        buf.truncate(start + n + 2);
    } else {
        write_str_long(buf, bytes);
    }
}

/// [`write_str`] for strings over 16 bytes or with something to escape.
#[inline(never)]
fn write_str_long(buf: &mut Vec<u8>, bytes: &[u8]) {
    let stop = find_stop(bytes, 0);
    if stop == bytes.len() {
        // Nothing to escape: one reservation, one copy.
        buf.reserve(bytes.len() + 2);
        buf.push(b'"');
        buf.extend_from_slice(bytes);
        buf.push(b'"');
    } else {
        write_escaped(buf, bytes, stop);
    }
}

/// The slow path of [`write_str`]: `bytes[first]` is the first byte needing an escape.
#[cold]
fn write_escaped(buf: &mut Vec<u8>, bytes: &[u8], first: usize) {
    buf.push(b'"');
    buf.extend_from_slice(&bytes[..first]);
    let mut start = first;
    for (i, &b) in bytes.iter().enumerate().skip(first) {
        if !NEEDS_ESCAPE[usize::from(b)] {
            continue;
        }
        buf.extend_from_slice(&bytes[start..i]);
        match b {
            b'"' => buf.extend_from_slice(b"\\\""),
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                buf.extend_from_slice(b"\\u00");
                buf.push(HEX[usize::from(b >> 4)]);
                buf.push(HEX[usize::from(b & 0xf)]);
            }
        }
        start = i + 1;
    }
    buf.extend_from_slice(&bytes[start..]);
    buf.push(b'"');
}

/// Appends a parsed value by walking its tape: no intermediate tree, no recursion.
///
/// Depth is bounded by the parser's nesting limit; the explicit stack stays inline up to 32
/// levels.
#[inline(always)]
pub fn write_val(buf: &mut Vec<u8>, v: Val<'_, '_>) {
    // A scalar (the usual payload) needs no container bookkeeping.
    match v.nodes() {
        [Node::String(s)] => write_str(buf, s),
        [Node::Static(StaticNode::U64(u))] => write_u64(buf, *u),
        _ => write_tree(buf, v),
    }
}

/// [`write_val`] for anything but a string or a non-negative integer.
#[inline(never)]
fn write_tree(buf: &mut Vec<u8>, v: Val<'_, '_>) {
    /// An open container: is it an object, how many tape items it holds, how many written.
    struct Open {
        object: bool,
        items: usize,
        done: usize,
    }
    let mut stack: SmallVec<[Open; 32]> = SmallVec::new();
    for node in v.nodes() {
        if let Some(top) = stack.last_mut() {
            if top.object && top.done % 2 == 1 {
                buf.push(b':');
            } else if top.done > 0 {
                buf.push(b',');
            }
            top.done += 1;
        }
        match *node {
            Node::String(s) => write_str(buf, s),
            Node::Static(StaticNode::Null) => buf.extend_from_slice(b"null"),
            Node::Static(StaticNode::Bool(b)) => {
                buf.extend_from_slice(if b { b"true" } else { b"false" })
            }
            Node::Static(StaticNode::I64(i)) => write_i64(buf, i),
            Node::Static(StaticNode::U64(u)) => write_u64(buf, u),
            Node::Static(StaticNode::F64(f)) => write_f64(buf, f),
            Node::Object { len, .. } => {
                buf.push(b'{');
                stack.push(Open { object: true, items: 2 * len, done: 0 });
            }
            Node::Array { len, .. } => {
                buf.push(b'[');
                stack.push(Open { object: false, items: len, done: 0 });
            }
        }
        while let Some(top) = stack.last() {
            if top.done < top.items {
                break;
            }
            buf.push(if top.object { b'}' } else { b']' });
            stack.pop();
        }
    }
}

/// Writes the members of one JSON object. Created by message and container writers.
pub struct ObjWriter<'b> {
    buf: &'b mut Vec<u8>,
    /// Whether the next member is the first (no comma before it).
    first: bool,
}

impl<'b> ObjWriter<'b> {
    /// Starts an object's members after a `{` the caller already wrote.
    ///
    /// `has_members` says whether members were already written (so the next needs a comma).
    pub fn continuing(buf: &'b mut Vec<u8>, has_members: bool) -> Self {
        ObjWriter { buf, first: !has_members }
    }

    /// Writes `"key":` (with a comma when needed) and returns the buffer for the value.
    ///
    /// The caller must then append exactly one valid JSON value.
    ///
    /// Always inlined: keys are nearly always literals, and inlined the escape test on a
    /// literal folds away, leaving a few stores (out of line it was ~95 instructions a key).
    #[inline(always)]
    pub fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
        write_str(self.buf, key);
        self.buf.push(b':');
        self.buf
    }

    /// `"key": <u64>`
    #[inline]
    pub fn u64(&mut self, key: &str, v: u64) -> &mut Self {
        write_u64(self.key(key), v);
        self
    }

    /// `"key": <i64>`
    pub fn i64(&mut self, key: &str, v: i64) -> &mut Self {
        write_i64(self.key(key), v);
        self
    }

    /// `"key": "<str>"`
    #[inline]
    pub fn str(&mut self, key: &str, v: &str) -> &mut Self {
        write_str(self.key(key), v);
        self
    }

    /// `"key": true|false`
    pub fn bool(&mut self, key: &str, v: bool) -> &mut Self {
        self.key(key).extend_from_slice(if v { b"true" } else { b"false" });
        self
    }

    /// `"key": null`
    pub fn null(&mut self, key: &str) -> &mut Self {
        self.key(key).extend_from_slice(b"null");
        self
    }

    /// `"key": <parsed value>`, written from its tape.
    #[inline]
    pub fn val(&mut self, key: &str, v: Val<'_, '_>) -> &mut Self {
        write_val(self.key(key), v);
        self
    }

    /// `"key": [u64, ...]`
    pub fn u64s(&mut self, key: &str, items: impl IntoIterator<Item = u64>) -> &mut Self {
        self.arr(key, |a| {
            for v in items {
                a.u64(v);
            }
        })
    }

    /// `"key": [...]`, elements written by `f`.
    pub fn arr(&mut self, key: &str, f: impl FnOnce(&mut ArrWriter<'_>)) -> &mut Self {
        let buf = self.key(key);
        buf.push(b'[');
        f(&mut ArrWriter { buf, first: true });
        buf.push(b']');
        self
    }

    /// `"key": {...}`, members written by `f`.
    pub fn obj(&mut self, key: &str, f: impl FnOnce(&mut ObjWriter<'_>)) -> &mut Self {
        let buf = self.key(key);
        buf.push(b'{');
        f(&mut ObjWriter { buf, first: true });
        buf.push(b'}');
        self
    }
}

/// Writes the elements of one JSON array.
pub struct ArrWriter<'b> {
    buf: &'b mut Vec<u8>,
    /// Whether the next element is the first (no comma before it).
    first: bool,
}

impl ArrWriter<'_> {
    /// Writes a separating comma if needed and returns the buffer for one element.
    ///
    /// The caller must then append exactly one valid JSON value.
    pub fn elem(&mut self) -> &mut Vec<u8> {
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
        self.buf
    }

    /// A u64 element.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        write_u64(self.elem(), v);
        self
    }

    /// An i64 element.
    pub fn i64(&mut self, v: i64) -> &mut Self {
        write_i64(self.elem(), v);
        self
    }

    /// A string element.
    pub fn str(&mut self, v: &str) -> &mut Self {
        write_str(self.elem(), v);
        self
    }

    /// A `null` element.
    pub fn null(&mut self) -> &mut Self {
        self.elem().extend_from_slice(b"null");
        self
    }

    /// A parsed value, written from its tape.
    pub fn val(&mut self, v: Val<'_, '_>) -> &mut Self {
        write_val(self.elem(), v);
        self
    }

    /// A nested array.
    pub fn arr(&mut self, f: impl FnOnce(&mut ArrWriter<'_>)) -> &mut Self {
        let buf = self.elem();
        buf.push(b'[');
        f(&mut ArrWriter { buf, first: true });
        buf.push(b']');
        self
    }

    /// A nested object.
    pub fn obj(&mut self, f: impl FnOnce(&mut ObjWriter<'_>)) -> &mut Self {
        let buf = self.elem();
        buf.push(b'{');
        f(&mut ObjWriter { buf, first: true });
        buf.push(b'}');
        self
    }
}

/// Header fields of an outgoing message.
#[derive(Copy, Clone, Debug)]
pub struct Header<'a> {
    /// Sender node id.
    pub src: &'a str,
    /// Destination node id.
    pub dest: &'a str,
    /// Body `type`.
    pub kind: &'a str,
    /// Body `msg_id`, if any.
    pub msg_id: Option<u64>,
    /// Body `in_reply_to`, if this is a reply.
    pub in_reply_to: Option<u64>,
}

/// Appends one complete message line: `{"src":..,"dest":..,"body":{"type":..,...}}\n`.
///
/// `fields` writes the body's members after `type`, `msg_id` and `in_reply_to`.
pub fn write_message(buf: &mut Vec<u8>, h: Header<'_>, fields: impl FnOnce(&mut ObjWriter<'_>)) {
    buf.extend_from_slice(b"{\"src\":");
    write_str(buf, h.src);
    buf.extend_from_slice(b",\"dest\":");
    write_rest(buf, h, fields);
}

/// Message heads, `{"src":<src>,"dest":<dest>,"body":{"type":<kind>`, encoded once per
/// destination and type and copied after that, for one sender.
///
/// A node mostly sends a few types to a few peers and clients, so each head is built once and
/// reused: a reply then costs one copy plus its integers, instead of three string encodings
/// with their escape checks. The cache is direct-mapped with [`HeadCache::SLOTS`] slots
/// (bounded memory; a collision rebuilds the slot, reusing its allocations, so sending never
/// allocates once the slots have grown).
#[derive(Clone, Debug)]
pub struct HeadCache {
    /// `{"src":<src>,"dest":`, the start of every head.
    prefix: Vec<u8>,
    slots: Vec<Head>,
}

/// One cached head: the destination and type it was built for, and its bytes.
#[derive(Clone, Debug, Default)]
struct Head {
    dest: String,
    kind: String,
    bytes: Vec<u8>,
    /// `bytes` again, zero-padded, when it fits in [`SHORT_HEAD`] bytes (nearly always): then
    /// the copy is one fixed-size move of the whole block, cut to length, with no `memcpy`
    /// call.
    short: Option<Box<[u8; SHORT_HEAD]>>,
}

/// Heads up to this long are copied as one fixed-size block.
const SHORT_HEAD: usize = 64;

impl HeadCache {
    /// Number of cached heads.
    pub const SLOTS: usize = 16;

    /// Heads for messages from `src`.
    pub fn new(src: &str) -> Self {
        let mut prefix = b"{\"src\":".to_vec();
        write_str(&mut prefix, src);
        prefix.extend_from_slice(b",\"dest\":");
        HeadCache { prefix, slots: vec![Head::default(); Self::SLOTS] }
    }

    /// Appends the head of a message to `dest` of type `kind`.
    #[inline(always)]
    pub fn write(&mut self, buf: &mut Vec<u8>, dest: &str, kind: &str) {
        // Node and client ids differ mostly in their last characters and length.
        let last = dest.as_bytes().last().map_or(0, |&b| usize::from(b));
        let at = (last ^ dest.len() << 3 ^ kind.len() << 1) % Self::SLOTS;
        let slot = &mut self.slots[at];
        if slot.bytes.is_empty() || !str_eq(&slot.dest, dest) || !str_eq(&slot.kind, kind) {
            Self::fill(slot, &self.prefix, dest, kind);
        }
        match &slot.short {
            Some(block) => {
                let start = buf.len();
                buf.extend_from_slice(&block[..]);
                buf.truncate(start + slot.bytes.len());
            }
            None => buf.extend_from_slice(&slot.bytes),
        }
    }

    #[cold]
    fn fill(slot: &mut Head, prefix: &[u8], dest: &str, kind: &str) {
        slot.dest.clear();
        slot.dest.push_str(dest);
        slot.kind.clear();
        slot.kind.push_str(kind);
        slot.bytes.clear();
        slot.bytes.extend_from_slice(prefix);
        write_str(&mut slot.bytes, dest);
        slot.bytes.extend_from_slice(b",\"body\":{\"type\":");
        write_str(&mut slot.bytes, kind);
        let n = slot.bytes.len();
        if n <= SHORT_HEAD {
            let block = slot.short.get_or_insert_with(|| Box::new([0; SHORT_HEAD]));
            block[..n].copy_from_slice(&slot.bytes);
        } else {
            slot.short = None;
        }
    }
}

/// `a == b` for short strings (ids, types) without a call to `memcmp`: up to sixteen bytes
/// are compared as two overlapping loads.
#[inline(always)]
pub(crate) fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let load4 = |s: &[u8], at: usize| u32::from_le_bytes(s[at..at + 4].try_into().expect("4"));
    let load8 = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().expect("8"));
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=8 => load4(a, 0) == load4(b, 0) && load4(a, n - 4) == load4(b, n - 4),
        9..=16 => load8(a, 0) == load8(b, 0) && load8(a, n - 8) == load8(b, n - 8),
        _ => a == b,
    }
}

/// [`write_message`] for a sender whose heads are cached in `heads` (`h.src` is ignored).
pub fn write_message_cached(
    buf: &mut Vec<u8>,
    heads: &mut HeadCache,
    h: Header<'_>,
    fields: impl FnOnce(&mut ObjWriter<'_>),
) {
    heads.write(buf, h.dest, h.kind);
    write_tail(buf, h, fields);
}

/// Everything after `"dest":`.
#[inline(always)]
fn write_rest(buf: &mut Vec<u8>, h: Header<'_>, fields: impl FnOnce(&mut ObjWriter<'_>)) {
    write_str(buf, h.dest);
    buf.extend_from_slice(b",\"body\":{\"type\":");
    write_str(buf, h.kind);
    write_tail(buf, h, fields);
}

/// Everything after the body's `type`.
#[inline(always)]
fn write_tail(buf: &mut Vec<u8>, h: Header<'_>, fields: impl FnOnce(&mut ObjWriter<'_>)) {
    if let Some(id) = h.msg_id {
        buf.extend_from_slice(b",\"msg_id\":");
        write_u64(buf, id);
    }
    if let Some(id) = h.in_reply_to {
        buf.extend_from_slice(b",\"in_reply_to\":");
        write_u64(buf, id);
    }
    fields(&mut ObjWriter { buf, first: false });
    buf.extend_from_slice(b"}}\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(json: &str) -> String {
        let mut bytes = json.as_bytes().to_vec();
        let tape = simd_json::to_tape(&mut bytes).unwrap();
        let mut out = Vec::new();
        write_val(&mut out, Val::new(&tape.0).unwrap());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn needs_escape_finds_a_stop_byte_at_every_position_of_every_length() {
        for n in 0..40 {
            let clean: Vec<u8> = (0..n).map(|k| b"aZ ~\x7f\xc3\xa9!#"[k % 9]).collect();
            assert!(!needs_escape(&clean), "clean, length {n}");
            for at in 0..n {
                for stop in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
                    let mut b = clean.clone();
                    b[at] = stop;
                    assert!(needs_escape(&b), "length {n}, {stop:#x} at {at}");
                }
            }
        }
    }

    #[test]
    fn strings_and_integers_of_every_length_encode_exactly() {
        for n in 0..40 {
            let text: String = (0..n).map(|k| ['a', 'B', '7', ' ', 'é', '"', '~'][k % 7]).collect();
            let mut buf = b"xy".to_vec();
            write_str(&mut buf, &text);
            let mut want = b"xy\"".to_vec();
            want.extend_from_slice(text.replace('"', "\\\"").as_bytes());
            want.push(b'"');
            assert_eq!(buf, want, "length {n}");
        }
        let mut v = 1u64;
        for _ in 0..20 {
            for x in [v - 1, v, v + 1, v.saturating_mul(7)] {
                let mut buf = b"z".to_vec();
                write_u64(&mut buf, x);
                assert_eq!(buf, format!("z{x}").into_bytes());
            }
            v = v.saturating_mul(10);
        }
        let mut buf = Vec::new();
        write_u64(&mut buf, u64::MAX);
        assert_eq!(buf, u64::MAX.to_string().into_bytes());
    }

    #[test]
    fn clean_short_strings_encode_exactly_at_every_length() {
        for n in 0..=24 {
            let text: String = (0..n).map(|k| char::from(b'a' + (k * 7 % 26) as u8)).collect();
            let mut buf = b"head".to_vec();
            write_str(&mut buf, &text);
            assert_eq!(buf, format!("head\"{text}\"").into_bytes(), "length {n}");
        }
    }

    #[test]
    fn digit_lanes_divide_exactly() {
        // The multiply-and-shift divisions in `digits8`, over their whole lane ranges.
        for x in 0u64..10_000 {
            assert_eq!((x * 10_486) >> 20, x / 100, "{x}");
        }
        for x in 0u64..100 {
            assert_eq!((x * 103) >> 10, x / 10, "{x}");
        }
        let mut rng = crate::rng::Rng::new(7);
        let samples = (0..1_000_000u64).chain((0..200_000).map(|_| rng.next_u64()));
        let mut buf = Vec::new();
        for v in samples {
            for x in [v, v % 100_000_000, v % 10_000_000_000_000_000] {
                buf.clear();
                write_u64(&mut buf, x);
                assert_eq!(buf, x.to_string().as_bytes());
            }
        }
    }

    #[test]
    fn cached_heads_match_plain_messages_through_collisions_and_reuse() {
        let mut heads = HeadCache::new("n\"1");
        let mut rng = crate::rng::Rng::new(5);
        let dests = ["c1", "c2", "c11", "n0", "n10", "n24", "seq-kv", "lin-kv", "c\"q", ""];
        let kinds = ["echo_ok", "broadcast_ok", "g", "read", "x\ty", "a-much-longer-type-name"];
        for _ in 0..5_000 {
            let h = Header {
                src: "n\"1",
                dest: dests[rng.below(dests.len() as u64) as usize],
                kind: kinds[rng.below(kinds.len() as u64) as usize],
                msg_id: (rng.below(2) == 0).then(|| rng.below(1 << 40)),
                in_reply_to: (rng.below(2) == 0).then(|| rng.below(100)),
            };
            let (mut a, mut b) = (Vec::new(), b"prev".to_vec());
            write_message(&mut a, h, |o| {
                o.str("echo", "x");
            });
            write_message_cached(&mut b, &mut heads, h, |o| {
                o.str("echo", "x");
            });
            assert_eq!(&b[4..], &a[..], "{h:?}");
        }
        let mut a = Vec::new();
        write_message(
            &mut a,
            Header { src: "n\"1", dest: "c1", kind: "k", msg_id: None, in_reply_to: None },
            |_| {},
        );
        assert!(a.starts_with(br#"{"src":"n\"1","dest":"c1","body":{"type":"k""#));
    }

    #[test]
    fn short_string_equality_matches_str_eq() {
        let words = [
            "",
            "a",
            "b",
            "ab",
            "ba",
            "abc",
            "acc",
            "abcd",
            "abce",
            "abcdefgh",
            "abcdefgi",
            "bbcdefgh",
            "abcdefghi",
            "abcdefghj",
            "bbcdefghi",
            "abcdefghijklmnop",
            "abcdefghijklmnoq",
            "bbcdefghijklmnop",
            "abcdefghijklmnopq",
            "abcdefghijklmnopr",
        ];
        for a in words {
            for b in words {
                assert_eq!(str_eq(a, b), a == b, "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn values_round_trip_through_the_tape() {
        for json in [
            "null",
            "true",
            "0",
            "-12",
            "18446744073709551615",
            "1.5",
            "1.0",
            "1e300",
            r#""plain""#,
            r#""q\"b\\s\n\u0001""#,
            "[]",
            "{}",
            r#"[1,[2,[3,[]]],{"a":{"b":[{}]}}]"#,
            r#"{"k":[1,2],"e":{},"z":[[]]}"#,
        ] {
            let once = roundtrip(json);
            assert_eq!(roundtrip(&once), once, "stable for {json}");
            let reference: serde_json_like::V = serde_json_like::parse(json);
            assert_eq!(serde_json_like::parse(&once), reference, "same value for {json}");
        }
        assert_eq!(roundtrip("1.0"), "1.0", "a float stays a float");
        assert_eq!(roundtrip(r#"{"a" : [ 1 , 2 ] }"#), r#"{"a":[1,2]}"#);
    }

    /// A tiny comparison model: parse with simd-json's owned values.
    mod serde_json_like {
        pub(super) type V = simd_json::OwnedValue;
        pub(super) fn parse(s: &str) -> V {
            let mut b = s.as_bytes().to_vec();
            simd_json::to_owned_value(&mut b).unwrap()
        }
    }

    #[test]
    fn deep_nesting_does_not_recurse() {
        let depth = 1000;
        let json = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert_eq!(roundtrip(&json), json);
    }

    #[test]
    fn strings_are_escaped() {
        let mut out = Vec::new();
        write_str(&mut out, "a\"b\\c\n\u{1}é");
        assert_eq!(out, r#""a\"b\\c\n\u0001é""#.as_bytes());
    }

    #[test]
    fn integers_format_at_the_edges() {
        let mut out = Vec::new();
        let powers = (0..20).flat_map(|p| {
            let x = 10u64.pow(p);
            [x - 1, x, x + 1]
        });
        for v in powers.chain([99, 100, 101, 12_345, u64::MAX, u64::MAX - 1]) {
            out.clear();
            write_u64(&mut out, v);
            assert_eq!(out, v.to_string().as_bytes());
        }
        out.clear();
        write_i64(&mut out, i64::MIN);
        assert_eq!(out, i64::MIN.to_string().as_bytes());
    }

    #[test]
    fn messages_are_one_line_with_header_first() {
        let mut out = Vec::new();
        let h = Header {
            src: "n1",
            dest: "c1",
            kind: "read_ok",
            msg_id: Some(3),
            in_reply_to: Some(7),
        };
        write_message(&mut out, h, |b| {
            b.u64s("messages", [1, 2]).obj("m", |o| {
                o.str("k", "v");
            });
        });
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            "{\"src\":\"n1\",\"dest\":\"c1\",\"body\":{\"type\":\"read_ok\",\"msg_id\":3,\
             \"in_reply_to\":7,\"messages\":[1,2],\"m\":{\"k\":\"v\"}}}\n"
        );
    }
}
