//! A scalar, validating JSON parser for short lines, producing the same tape as simd-json.
//!
//! Maelstrom's messages are short (typically 60 to 200 bytes). On lines that short simd-json's
//! fixed per-document costs (64-byte SIMD blocks, structural index flattening, a second pass to
//! build the tape) dominate, and a single left-to-right scan is two to three times faster.
//! [`crate::proto::Parser`] therefore uses this scanner for lines up to
//! [`SMALL_LINE`] bytes and simd-json for longer ones, and both fill the same
//! `Vec<simd_json::Node>` tape, so everything downstream is identical.
//!
//! It is a complete RFC 8259 parser, differential-tested against simd-json: it validates
//! UTF-8, rejects control characters in strings, decodes every escape (surrogate pairs
//! included) in place, bounds nesting at [`crate::proto::MAX_DEPTH`], and types numbers as
//! simd-json does (`U64` for non-negative integers, `I64` for negative ones, `F64` for
//! fractions and exponents; anything beyond 64 bits, or an infinite float, is an error).
//!
//! One word-at-a-time pass first classifies the line. A line with no backslash (nearly every
//! machine-written message) needs no unescaping: it is borrowed as a `str` (all-ASCII lines
//! skip the UTF-8 pass, the one `unsafe` here) and each string goes onto the tape as it is met.
//! A line with escapes is scanned mutably, unescaping in place, and its strings are filled
//! in and UTF-8-checked once the scan is over. [`parse_message`] also reads a message's top
//! level itself, so only the body goes onto the tape.

use simd_json::{Node, StaticNode};

use super::encode::str_eq;
use super::{BodyHead, Val};
use crate::simd;

// The bytes that end the fast string scan are exactly those a JSON string cannot hold
// unescaped: `"`, `\\` and control characters.
use super::encode::find_stop;

/// Lines up to this many bytes take the scalar path; longer ones go to simd-json.
pub const SMALL_LINE: usize = 1024;

/// Why a line is not valid JSON (the scalar path's counterpart of simd-json's error).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ScanError {
    /// The input ended inside a value.
    Eof,
    /// A byte that cannot appear here.
    Unexpected(u8),
    /// A malformed number, or one beyond 64-bit range.
    Number,
    /// A bad escape sequence or unpaired surrogate.
    Escape,
    /// A control character inside a string.
    Control,
    /// Invalid UTF-8 in a string.
    Utf8,
    /// Nested deeper than the limit.
    Depth,
    /// Data after the top-level value.
    Trailing,
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScanError::Eof => f.write_str("unexpected end of input"),
            ScanError::Unexpected(b) => write!(f, "unexpected byte {:?}", char::from(*b)),
            ScanError::Number => f.write_str("invalid or out-of-range number"),
            ScanError::Escape => f.write_str("invalid escape sequence"),
            ScanError::Control => f.write_str("control character in a string"),
            ScanError::Utf8 => f.write_str("invalid UTF-8 in a string"),
            ScanError::Depth => f.write_str("nested too deeply"),
            ScanError::Trailing => f.write_str("trailing data after the value"),
        }
    }
}

/// An open container while scanning: its header's tape index and its member count so far.
#[derive(Copy, Clone, Debug)]
pub struct Open {
    at: usize,
    len: usize,
    object: bool,
}

/// Scratch space the caller keeps between lines, so scanning allocates nothing once grown.
#[derive(Debug, Default)]
pub struct Scratch {
    stack: Vec<Open>,
    /// `(tape index, start, len)` of every string, filled in after the scan.
    strings: Vec<(u32, u32, u32)>,
    /// The line's quote bitmap, one word per 64 bytes (see [`classify`]).
    quotes: Vec<u64>,
}

const fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

#[inline(always)]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    // Machine-written JSON rarely has whitespace: test one byte before looping.
    if i < b.len() && b[i] > b' ' {
        return i;
    }
    while i < b.len() && is_ws(b[i]) {
        i += 1;
    }
    i
}

fn hex4(b: &[u8], at: usize) -> Result<u32, ScanError> {
    let digits = b.get(at..at + 4).ok_or(ScanError::Eof)?;
    let mut v = 0u32;
    for &h in digits {
        let d = match h {
            b'0'..=b'9' => h - b'0',
            b'a'..=b'f' => h - b'a' + 10,
            b'A'..=b'F' => h - b'A' + 10,
            _ => return Err(ScanError::Escape),
        };
        v = v * 16 + u32::from(d);
    }
    Ok(v)
}

/// Scans the string whose opening quote is at `q`, unescaping it in place. Returns the span
/// of its decoded text and the index after the closing quote.
#[inline]
fn string(b: &mut [u8], q: usize) -> Result<(usize, usize, usize), ScanError> {
    let start = q + 1;
    let mut i = find_stop(b, start);
    match b.get(i) {
        None => return Err(ScanError::Eof),
        Some(b'"') => return Ok((start, i - start, i + 1)),
        Some(b'\\') => {}
        Some(_) => return Err(ScanError::Control),
    }
    // Escapes: decode in place; the output never outgrows the input.
    let mut w = i;
    loop {
        let c = *b.get(i).ok_or(ScanError::Eof)?;
        match c {
            b'"' => return Ok((start, w - start, i + 1)),
            b'\\' => {
                let e = *b.get(i + 1).ok_or(ScanError::Eof)?;
                i += 2;
                let out = match e {
                    b'"' => b'"',
                    b'\\' => b'\\',
                    b'/' => b'/',
                    b'b' => 0x08,
                    b'f' => 0x0c,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'u' => {
                        let hi = hex4(b, i)?;
                        i += 4;
                        let code = match hi {
                            0xD800..=0xDBFF => {
                                if b.get(i..i + 2) != Some(b"\\u") {
                                    return Err(ScanError::Escape);
                                }
                                let lo = hex4(b, i + 2)?;
                                if !(0xDC00..=0xDFFF).contains(&lo) {
                                    return Err(ScanError::Escape);
                                }
                                i += 6;
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            }
                            0xDC00..=0xDFFF => return Err(ScanError::Escape),
                            c => c,
                        };
                        let ch = char::from_u32(code).ok_or(ScanError::Escape)?;
                        let mut tmp = [0u8; 4];
                        let enc = ch.encode_utf8(&mut tmp).as_bytes();
                        b[w..w + enc.len()].copy_from_slice(enc);
                        w += enc.len();
                        continue;
                    }
                    _ => return Err(ScanError::Escape),
                };
                b[w] = out;
                w += 1;
            }
            0..=0x1f => return Err(ScanError::Control),
            _ => {
                b[w] = c;
                w += 1;
                i += 1;
            }
        }
    }
}

/// Skips one or more ASCII digits starting at `i`; none is an error.
#[inline]
fn digits(b: &[u8], mut i: usize) -> Result<usize, ScanError> {
    let start = i;
    while matches!(b.get(i), Some(b'0'..=b'9')) {
        i += 1;
    }
    if i == start { Err(ScanError::Number) } else { Ok(i) }
}

/// Scans the number starting at `i`. Returns it and the index after it.
#[inline(always)]
fn number(b: &[u8], i: usize) -> Result<(StaticNode, usize), ScanError> {
    // Shortest case first: one to seven digits within an eight-byte word, all read at once.
    if let Some(word) = b.get(i..).and_then(|r| r.first_chunk::<8>()) {
        if let Some((v, n)) = short_integer(u64::from_le_bytes(*word)) {
            if matches!(b.get(i + n), Some(b',' | b']' | b'}') | None) {
                return Ok((StaticNode::U64(v), i + n));
            }
        }
    }
    // The common case, every msg_id and most values: up to 19 digits with no leading zero,
    // no sign, fraction or exponent, then a delimiter. Nineteen digits cannot overflow.
    let mut v = 0u64;
    let mut j = i;
    while j < b.len() && j - i < 19 {
        let d = b[j].wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        v = v * 10 + u64::from(d);
        j += 1;
    }
    let first_ok = j == i + 1 || b[i] != b'0';
    if j > i && first_ok && matches!(b.get(j), Some(b',' | b']' | b'}') | None) {
        return Ok((StaticNode::U64(v), j));
    }
    number_slow(b, i)
}

/// The integer that `word`'s bytes (in memory order) start with, when it has one to seven
/// digits and no leading zero, and its digit count. SWAR: the digit test and the conversion
/// are a few word operations, no loop.
#[inline(always)]
fn short_integer(word: u64) -> Option<(u64, usize)> {
    const LOW: u64 = 0x0f0f_0f0f_0f0f_0f0f;
    let t = word ^ 0x3030_3030_3030_3030;
    // A byte is a digit iff `t` is 0..=9 there: high nibble zero, and low nibble + 6 not
    // reaching 16 (per-byte sums stay below 0x16, so no carry crosses a byte).
    let not_digit = (t & !LOW) | (((t & LOW) + 0x0606_0606_0606_0606) & 0x1010_1010_1010_1010);
    let n = (not_digit.trailing_zeros() / 8) as usize;
    if n == 0 || n == 8 || (n > 1 && t & 0xff == 0) {
        return None;
    }
    // Move the n digits to the top bytes (zero digits below them), then combine pairs,
    // quads and octets: the standard eight-digit multiply-shift reduction.
    let d = (t & LOW) << (8 * (8 - n));
    let d = (d * 10 + (d >> 8)) & 0x00ff_00ff_00ff_00ff;
    let d = (d * 100 + (d >> 16)) & 0x0000_ffff_0000_ffff;
    let d = (d * 10_000 + (d >> 32)) & 0xffff_ffff;
    Some((d, n))
}

/// [`number`] for everything else: signs, fractions, exponents, long or malformed numbers.
#[cold]
#[inline(never)]
fn number_slow(b: &[u8], mut i: usize) -> Result<(StaticNode, usize), ScanError> {
    let first = i;
    let negative = b[i] == b'-';
    if negative {
        i += 1;
    }
    let mut v: u64 = 0;
    let mut overflow = false;
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            // Nineteen digits cannot overflow a u64; only longer runs need checking.
            let start = i;
            while let Some(&d @ b'0'..=b'9') = b.get(i) {
                if i - start == 19 {
                    break;
                }
                v = v * 10 + u64::from(d - b'0');
                i += 1;
            }
            while let Some(&d @ b'0'..=b'9') = b.get(i) {
                match v.checked_mul(10).and_then(|v| v.checked_add(u64::from(d - b'0'))) {
                    Some(n) => v = n,
                    None => overflow = true,
                }
                i += 1;
            }
        }
        _ => return Err(ScanError::Number),
    }
    let mut float = false;
    if b.get(i) == Some(&b'.') {
        float = true;
        i = digits(b, i + 1)?;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        float = true;
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        i = digits(b, i)?;
    }
    // A number must end at a delimiter.
    if let Some(&c) = b.get(i) {
        if !matches!(c, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r') {
            return Err(ScanError::Number);
        }
    }
    let node = if float {
        // The bytes are ASCII digits, signs, dots and exponents.
        let text = std::str::from_utf8(&b[first..i]).map_err(|_| ScanError::Number)?;
        let f: f64 = text.parse().map_err(|_| ScanError::Number)?;
        if !f.is_finite() {
            return Err(ScanError::Number);
        }
        StaticNode::F64(f)
    } else if overflow {
        return Err(ScanError::Number);
    } else if negative {
        if v > 1 << 63 {
            return Err(ScanError::Number);
        }
        StaticNode::I64((v as i64).wrapping_neg())
    } else {
        StaticNode::U64(v)
    };
    Ok((node, i))
}

/// Parses `line[..len]` into `tape` (cleared first), using `scratch` for its stacks.
///
/// Two passes over the input pick the route: a line that is valid UTF-8 and holds no
/// backslash (almost every machine-written message) is scanned as a shared `&str`, each
/// string going onto the tape as it is met; any other line is scanned mutably, unescaping
/// in place, and its strings are filled in afterwards. Both routes run the same scanner.
pub fn parse<'i>(
    line: &'i mut [u8],
    len: usize,
    tape: &mut Vec<Node<'i>>,
    scratch: &mut Scratch,
    max_depth: usize,
) -> Result<(), ScanError> {
    tape.clear();
    let Scratch { stack, strings, quotes } = scratch;
    stack.clear();
    let end = len.min(line.len());
    let shape = classify(line, end, quotes);
    if shape.backslash {
        return parse_escaped(line, end, tape, stack, strings, max_depth);
    }
    let text = plain_text(line, end, shape.ascii)?;
    scan(&mut Plain::new(text, quotes, shape), tape, stack, max_depth)
}

/// `line[..end]` as text, for a line without backslashes; `ascii` says `classify` found it
/// all ASCII.
#[inline(always)]
fn plain_text(line: &[u8], end: usize, ascii: bool) -> Result<&str, ScanError> {
    if ascii {
        // SAFETY: `classify` found no byte with the high bit set in `line[..end]`, and ASCII
        // is valid UTF-8. This skips the second pass `from_utf8` would make over the line.
        Ok(unsafe { std::str::from_utf8_unchecked(&line[..end]) })
    } else {
        // No escapes: a line that is not UTF-8 cannot be JSON (every byte outside a string is
        // ASCII, and no escape can repair one inside), and one that is needs no rewriting.
        std::str::from_utf8(&line[..end]).map_err(|_| ScanError::Utf8)
    }
}

/// What the top level of a message line held, read by [`parse_message`].
///
/// Each field describes the FIRST member of that name, as a JSON object lookup would.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Envelope<'i> {
    /// `src`: `Some(None)` when present but not a string.
    pub src: Option<Option<&'i str>>,
    /// `dest`: `Some(None)` when present but not a string.
    pub dest: Option<Option<&'i str>>,
    /// `body`: `Some(true)` when it is an object, which is then the whole tape.
    pub body: Option<bool>,
    /// The body's `type`, `msg_id` and `in_reply_to`, when `body` is an object.
    pub head: BodyHead<'i>,
}

/// Parses a message line: like [`parse`], but the top-level object's members are read here
/// instead of going onto the tape. `src` and `dest` come back as borrowed strings and the tape
/// holds only the body, so nothing has to look them up afterwards.
///
/// `Ok(true)`: the top level was an object, read into `env` (which must come in as
/// `Envelope::default()`; it is filled in place rather than returned, as it is copied once
/// less that way). Lines with escapes, and lines whose value is not an object, are parsed
/// exactly as [`parse`] would and come back as `Ok(false)`: the tape then holds the whole
/// value, for the caller to read the usual way. Either way the line is validated completely,
/// so this accepts exactly the lines [`parse`] accepts.
pub fn parse_message<'i>(
    line: &'i mut [u8],
    len: usize,
    tape: &mut Vec<Node<'i>>,
    scratch: &mut Scratch,
    max_depth: usize,
    env: &mut Envelope<'i>,
) -> Result<bool, ScanError> {
    tape.clear();
    let Scratch { stack, strings, quotes } = scratch;
    stack.clear();
    let end = len.min(line.len());
    let shape = classify(line, end, quotes);
    if shape.backslash {
        return parse_escaped(line, end, tape, stack, strings, max_depth).map(|()| false);
    }
    // No escapes: the line is only read from here on, padding (if any) included.
    let line: &'i [u8] = line;
    let text: &'i str = plain_text(line, end, shape.ascii)?;
    let mut p = Plain::new(text, quotes, shape);
    if !shape.control {
        if compact(&mut p, line, tape, stack, max_depth, env).is_some() {
            return Ok(true);
        }
        // Not the common shape: start over on the general route, which also names the
        // fault if the line is not JSON.
        *env = Envelope::default();
        tape.clear();
        stack.clear();
    }
    general_message(&mut p, tape, stack, max_depth, env)
}

/// [`parse_message`]'s general route for a line with no backslash: any whitespace, any
/// member order, anything at the top level.
fn general_message<'i>(
    p: &mut Plain<'i, '_>,
    tape: &mut Vec<Node<'i>>,
    stack: &mut Vec<Open>,
    max_depth: usize,
    env: &mut Envelope<'i>,
) -> Result<bool, ScanError> {
    let b = p.text.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') || max_depth == 0 {
        return scan(p, tape, stack, max_depth).map(|()| false);
    }
    // Member values sit one level down.
    let inner = max_depth - 1;
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        i += 1;
    } else {
        loop {
            match b.get(i) {
                Some(b'"') => {}
                Some(&c) => return Err(ScanError::Unexpected(c)),
                None => return Err(ScanError::Eof),
            }
            let (key, next) = p.str(i)?;
            i = colon(b, next)?;
            // (`str_eq` against a literal is a length test and one or two loads.)
            let slot = if str_eq(key, "src") {
                Some(&mut env.src)
            } else if str_eq(key, "dest") {
                Some(&mut env.dest)
            } else {
                None
            };
            // Every value is scanned (the line must be valid JSON throughout); only the first
            // object `body` stays on the tape.
            let mark = tape.len();
            let mut keep = false;
            match slot {
                Some(slot) if b.get(i) == Some(&b'"') => {
                    let (s, next) = p.str(i)?;
                    i = next;
                    slot.get_or_insert(Some(s));
                }
                Some(slot) => {
                    i = value(p, i, tape, stack, inner)?;
                    slot.get_or_insert(None);
                }
                None if str_eq(key, "body") && env.body.is_none() => {
                    keep = b.get(i) == Some(&b'{');
                    i = if keep {
                        body(p, i, tape, stack, inner, &mut env.head)?
                    } else {
                        value(p, i, tape, stack, inner)?
                    };
                    env.body = Some(keep);
                }
                None => i = value(p, i, tape, stack, inner)?,
            }
            if !keep {
                tape.truncate(mark);
            }
            let j = skip_ws(b, i);
            match b.get(j) {
                Some(b',') => i = skip_ws(b, j + 1),
                Some(b'}') => {
                    i = j + 1;
                    break;
                }
                Some(&c) => return Err(ScanError::Unexpected(c)),
                None => return Err(ScanError::Eof),
            }
        }
    }
    let i = skip_ws(b, i);
    if i < b.len() {
        return Err(ScanError::Trailing);
    }
    Ok(true)
}

/// Quote positions of a line in order, read off its bitmap (see [`classify`]).
struct QuoteIter<'q> {
    words: &'q [u64],
    /// The word `bits` came from.
    w: usize,
    /// The quotes of word `w` not yet returned.
    bits: u64,
}

impl<'q> QuoteIter<'q> {
    /// The quotes at or after `at`.
    #[inline(always)]
    fn from(words: &'q [u64], at: usize) -> Self {
        let w = at / 64;
        let bits = words.get(w).map_or(0, |&b| b & (u64::MAX << (at % 64)));
        QuoteIter { words, w, bits }
    }

    /// The next quote's index.
    #[inline(always)]
    fn next(&mut self) -> Option<usize> {
        while self.bits == 0 {
            self.w += 1;
            self.bits = *self.words.get(self.w)?;
        }
        let k = self.w * 64 + self.bits.trailing_zeros() as usize;
        self.bits &= self.bits - 1;
        Some(k)
    }

    /// The string whose opening quote at `i` the caller has matched itself (the iterator
    /// starts after it), and the index after its closing quote.
    #[inline(always)]
    fn string_from<'i>(&mut self, text: &'i str, i: usize) -> Option<(&'i str, usize)> {
        let end = self.next()?;
        debug_assert!(text.as_bytes()[i] == b'"' && i < end);
        // SAFETY: `i` holds a quote (the caller matched it) and `end` is the next quote of
        // the bitmap after it, both ASCII and inside the line, so in valid UTF-8 text `i + 1`
        // and `end` are character boundaries, and `i < end < text.len()`.
        Some((unsafe { text.get_unchecked(i + 1..end) }, end + 1))
    }

    /// The string whose opening quote is at `i` (the iterator's next quote, or this is not a
    /// string) and the index after its closing quote.
    #[inline(always)]
    fn string<'i>(&mut self, text: &'i str, i: usize) -> Option<(&'i str, usize)> {
        if self.next()? != i {
            return None;
        }
        let end = self.next()?;
        // SAFETY: `i` and `end` hold ASCII quotes (the bitmap marks only quotes, and only
        // inside the line), so in valid UTF-8 text `i + 1` and `end` are character
        // boundaries, and `i < end < text.len()`.
        Some((unsafe { text.get_unchecked(i + 1..end) }, end + 1))
    }
}

/// The route nearly every message takes: a compact line (no whitespace between tokens) with
/// no backslash or control byte, whose top level is an object with `src` and `dest` strings
/// and a `body` object. With no whitespace to skip and no escapes, every string is the text
/// between one quote of the bitmap and the next, walked in order, and each separator is one
/// byte test. The envelope's keys in their usual form (`"src":"`, `"dest":"`, `"body":{`) are
/// each matched as one eight-byte word; other members go to [`compact_member`].
///
/// `None` means the line is not of this shape (or not JSON): the caller parses it again on
/// the general route, which accepts, rejects or reports it as it would any line. So this only
/// has to be right about the lines it accepts; values it does not read itself (nested
/// containers, signed numbers, literals) go through [`value`] just as on the general route.
#[inline(never)]
fn compact<'i>(
    p: &mut Plain<'i, '_>,
    padded: &[u8],
    tape: &mut Vec<Node<'i>>,
    stack: &mut Vec<Open>,
    max_depth: usize,
    env: &mut Envelope<'i>,
) -> Option<()> {
    let text = p.text;
    let b = text.as_bytes();
    let words = p.quotes?;
    if max_depth < 2 || b.first() != Some(&b'{') {
        return None;
    }
    let mut q = QuoteIter::from(words, 0);
    let mut i = 1;
    loop {
        // The envelope's own members, key, quotes, colon and the value's first byte, are
        // each one word compare; the quote iterator then skips to the value.
        match b.get(i..).and_then(|r| r.first_chunk::<8>()).map(|w| u64::from_le_bytes(*w)) {
            Some(w) if w & 0x00ff_ffff_ffff_ffff == SRC_KEY => {
                q = QuoteIter::from(words, i + 7);
                let (s, next) = q.string_from(text, i + 6)?;
                env.src.get_or_insert(Some(s));
                i = next;
            }
            Some(DEST_KEY) => {
                q = QuoteIter::from(words, i + 8);
                let (s, next) = q.string_from(text, i + 7)?;
                env.dest.get_or_insert(Some(s));
                i = next;
            }
            // `"id":` and a number: the envelope member Maelstrom's network puts first on every
            // message. Validated and dropped, as any other member would be, without the
            // general value scanner.
            Some(w)
                if w & 0x00ff_ffff_ffff == ID_KEY
                    && b.get(i + 5).is_some_and(u8::is_ascii_digit) =>
            {
                q = QuoteIter::from(words, i + 4);
                i = number(b, i + 5).ok()?.1;
            }
            Some(BODY_KEY) if env.body.is_none() => {
                q = QuoteIter::from(words, i + 7);
                i = compact_body(
                    p,
                    padded,
                    &mut q,
                    i + 7,
                    tape,
                    stack,
                    max_depth - 1,
                    &mut env.head,
                )?;
                env.body = Some(true);
            }
            _ => i = compact_member(p, &mut q, i, tape, stack, max_depth, env)?,
        }
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b'}') => break,
            _ => return None,
        }
    }
    (i + 1 == b.len()).then_some(())
}

/// `"src":"` as the low seven bytes of a little-endian word.
const SRC_KEY: u64 = u64::from_le_bytes(*b"\"src\":\"\0");
/// `"dest":"` as a little-endian word.
const DEST_KEY: u64 = u64::from_le_bytes(*b"\"dest\":\"");
/// `"body":{` as a little-endian word.
const BODY_KEY: u64 = u64::from_le_bytes(*b"\"body\":{");
/// `"id":` as the low five bytes of a little-endian word.
const ID_KEY: u64 = u64::from_le_bytes(*b"\"id\":\0\0\0");
/// `"type":"` as a little-endian word.
const TYPE_KEY: u64 = u64::from_le_bytes(*b"\"type\":\"");
/// `"msg_id"` as a little-endian word.
const MSG_ID_KEY: u64 = u64::from_le_bytes(*b"\"msg_id\"");

/// [`compact`]'s member at `i` when it is not one of the usual three in their usual form:
/// returns the index after its value.
#[inline(never)]
fn compact_member<'i>(
    p: &mut Plain<'i, '_>,
    q: &mut QuoteIter<'_>,
    i: usize,
    tape: &mut Vec<Node<'i>>,
    stack: &mut Vec<Open>,
    max_depth: usize,
    env: &mut Envelope<'i>,
) -> Option<usize> {
    let text = p.text;
    let b = text.as_bytes();
    {
        let (key, after) = q.string(text, i)?;
        if b.get(after) != Some(&b':') {
            return None;
        }
        let v = after + 1;
        if str_eq(key, "src") || str_eq(key, "dest") {
            let (s, next) = q.string(text, v)?;
            let slot = if key.len() == 3 { &mut env.src } else { &mut env.dest };
            slot.get_or_insert(Some(s));
            Some(next)
        } else if str_eq(key, "body") && env.body.is_none() {
            // (Written with whitespace or an unusual value: the general route takes it.)
            None
        } else {
            // Any other member (or a repeated `body`) is validated, not kept.
            let mark = tape.len();
            let next = match b.get(v)? {
                b'"' => q.string(text, v)?.1,
                _ => {
                    let next = value(p, v, tape, stack, max_depth - 1).ok()?;
                    *q = QuoteIter::from(q.words, next);
                    next
                }
            };
            tape.truncate(mark);
            Some(next)
        }
    }
}

/// [`compact`]'s body: the object whose `{` is at `i` onto the tape, each member fed to
/// `head`, as [`body`] does. Returns the index after its `}`.
///
/// `padded` is the line with whatever readable bytes follow it: a short integer is read as
/// one eight-byte word even near the end of the line (its digits are then checked to end
/// inside the line, at a `,` or `}`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn compact_body<'i>(
    p: &mut Plain<'i, '_>,
    padded: &[u8],
    q: &mut QuoteIter<'_>,
    mut i: usize,
    tape: &mut Vec<Node<'i>>,
    stack: &mut Vec<Open>,
    max_depth: usize,
    head: &mut BodyHead<'i>,
) -> Option<usize> {
    let text = p.text;
    let b = text.as_bytes();
    let at = tape.len();
    tape.push(Node::Object { len: 0, count: 0 });
    let mut len = 0;
    i += 1;
    if b.get(i) != Some(&b'}') {
        loop {
            // `"type":"` (key, colon and the value's opening quote) is one word compare, and
            // `"msg_id"` another: the two members every message body has, read without
            // walking the quote bitmap for the key or matching its name afterwards.
            let word =
                b.get(i..).and_then(|r| r.first_chunk::<8>()).map(|w| u64::from_le_bytes(*w));
            if word == Some(TYPE_KEY) {
                // SAFETY: bytes `i..i + 8` are `"type":"`, ASCII inside the text.
                let key = unsafe { text.get_unchecked(i + 1..i + 5) };
                tape.push(Node::String(key));
                *q = QuoteIter::from(q.words, i + 8);
                let (s, next) = q.string_from(text, i + 7)?;
                tape.push(Node::String(s));
                head.scalar("type", Some(s), None);
                i = next;
                len += 1;
                match b.get(i) {
                    Some(b',') => i += 1,
                    Some(b'}') => break,
                    _ => return None,
                }
                continue;
            }
            let (key, after) = if word == Some(MSG_ID_KEY) {
                *q = QuoteIter::from(q.words, i + 8);
                // SAFETY: bytes `i..i + 8` are `"msg_id"`, ASCII inside the text.
                (unsafe { text.get_unchecked(i + 1..i + 7) }, i + 8)
            } else {
                q.string(text, i)?
            };
            tape.push(Node::String(key));
            if b.get(after) != Some(&b':') {
                return None;
            }
            let v = after + 1;
            match b.get(v)? {
                b'"' => {
                    let (s, next) = q.string(text, v)?;
                    tape.push(Node::String(s));
                    head.scalar(key, Some(s), None);
                    i = next;
                }
                b'0'..=b'9' => {
                    let word = padded.get(v..).and_then(|r| r.first_chunk::<8>());
                    let short = word.and_then(|w| short_integer(u64::from_le_bytes(*w)));
                    let (n, next) = match short {
                        Some((n, len)) if matches!(b.get(v + len), Some(b',' | b'}')) => {
                            (StaticNode::U64(n), v + len)
                        }
                        _ => number(b, v).ok()?,
                    };
                    tape.push(Node::Static(n));
                    let n = match n {
                        StaticNode::U64(n) => Some(n),
                        _ => None,
                    };
                    head.scalar(key, None, n);
                    i = next;
                }
                _ => {
                    let k = tape.len();
                    i = value(p, v, tape, stack, max_depth - 1).ok()?;
                    if let Some(v) = Val::new(&tape[k..]) {
                        head.member(key, v);
                    }
                    *q = QuoteIter::from(q.words, i);
                }
            }
            len += 1;
            match b.get(i) {
                Some(b',') => i += 1,
                Some(b'}') => break,
                _ => return None,
            }
        }
    }
    tape[at] = Node::Object { len, count: tape.len() - at - 1 };
    Some(i + 1)
}

/// Scans the body object whose `{` is at `i` onto the tape, as [`value`] would, feeding each
/// member to `head` as it goes (so nothing walks the body again to find them). String and
/// integer members, nearly all of them, are read right here; other values go to [`value`].
/// The body may nest `max_depth` levels, itself included. Returns the index after its `}`.
#[inline(always)]
fn body<'i>(
    p: &mut Plain<'i, '_>,
    mut i: usize,
    tape: &mut Vec<Node<'i>>,
    stack: &mut Vec<Open>,
    max_depth: usize,
    head: &mut BodyHead<'i>,
) -> Result<usize, ScanError> {
    if max_depth == 0 {
        return Err(ScanError::Depth);
    }
    let b = p.text.as_bytes();
    let at = tape.len();
    tape.push(Node::Object { len: 0, count: 0 });
    let mut len = 0;
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        i += 1;
    } else {
        loop {
            match b.get(i) {
                Some(b'"') => {}
                Some(&c) => return Err(ScanError::Unexpected(c)),
                None => return Err(ScanError::Eof),
            }
            let (key, next) = p.str(i)?;
            tape.push(Node::String(key));
            i = colon(b, next)?;
            match b.get(i) {
                Some(b'"') => {
                    let (s, next) = p.str(i)?;
                    tape.push(Node::String(s));
                    head.scalar(key, Some(s), None);
                    i = next;
                }
                Some(b'0'..=b'9') => {
                    let (n, next) = number(b, i)?;
                    tape.push(Node::Static(n));
                    let n = match n {
                        StaticNode::U64(n) => Some(n),
                        _ => None,
                    };
                    head.scalar(key, None, n);
                    i = next;
                }
                _ => {
                    let k = tape.len();
                    i = value(p, i, tape, stack, max_depth - 1)?;
                    if let Some(v) = Val::new(&tape[k..]) {
                        head.member(key, v);
                    }
                }
            }
            len += 1;
            let j = skip_ws(b, i);
            match b.get(j) {
                Some(b',') => i = skip_ws(b, j + 1),
                Some(b'}') => {
                    i = j + 1;
                    break;
                }
                Some(&c) => return Err(ScanError::Unexpected(c)),
                None => return Err(ScanError::Eof),
            }
        }
    }
    tape[at] = Node::Object { len, count: tape.len() - at - 1 };
    Ok(i)
}

/// What [`classify`] found in a line.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Shape {
    /// Some byte is a backslash.
    backslash: bool,
    /// Every byte is ASCII.
    ascii: bool,
    /// Some byte is a control character (below 0x20).
    control: bool,
}

/// One pass over `line[..end]`, 16 bytes at a time ([`simd::classes`]): what kinds of bytes
/// it holds, and where its quotes are (`quotes` gets one word per 64 bytes, bit `k` of word
/// `w` for byte `64 * w + k`). Bytes of `line` past `end` may be read (a full lane is cheaper
/// than a partial one) but never count.
///
/// The lanes only say whether the line holds any special byte (backslash, control or
/// non-ASCII); when it does, which kinds is found byte by byte (such lines are rare, and take
/// slower routes anyway).
#[inline]
fn classify(line: &[u8], end: usize, quotes: &mut Vec<u64>) -> Shape {
    quotes.clear();
    let mut special = 0u16;
    let mut at = 0;
    // Whole 64-byte blocks: four lanes, one quote word.
    while let Some(block) = line[at..end].first_chunk::<64>() {
        let mut word = 0u64;
        for k in 0..4 {
            let c = simd::classes(block[16 * k..].first_chunk::<16>().expect("in the block"));
            special |= c.special;
            word |= u64::from(c.quote) << (16 * k);
        }
        quotes.push(word);
        at += 64;
    }
    // The rest: only the lanes it reaches, the last one masked to the line.
    if at < end {
        let mut word = 0u64;
        let mut shift = 0;
        while let Some(lane) = line[at..end].first_chunk::<16>() {
            let c = simd::classes(lane);
            special |= c.special;
            word |= u64::from(c.quote) << shift;
            at += 16;
            shift += 16;
        }
        let rest = end - at;
        if rest > 0 {
            let c = match line[at..].first_chunk::<16>() {
                Some(lane) => simd::classes(lane),
                None => {
                    let mut lane = [0u8; 16];
                    lane[..rest].copy_from_slice(&line[at..end]);
                    simd::classes(&lane)
                }
            };
            let keep = (1u16 << rest) - 1;
            special |= c.special & keep;
            word |= u64::from(c.quote & keep) << shift;
        }
        quotes.push(word);
    }
    if special == 0 {
        return Shape { backslash: false, ascii: true, control: false };
    }
    special_shape(&line[..end])
}

/// [`Shape`] of a line known to hold some special byte, in one pass with no early exit (which
/// the compiler vectorises).
#[cold]
#[inline(never)]
fn special_shape(line: &[u8]) -> Shape {
    let mut shape = Shape { backslash: false, ascii: true, control: false };
    for &c in line {
        shape.backslash |= c == b'\\';
        shape.control |= c < 0x20;
        shape.ascii &= c < 0x80;
    }
    shape
}

/// Index of the first quote at or after `from` according to the bitmap `quotes` (see
/// [`classify`]), or `len` when there is none.
#[inline(always)]
fn next_quote(quotes: &[u64], from: usize, len: usize) -> usize {
    let mut w = from / 64;
    let Some(&first) = quotes.get(w) else { return len };
    let mut bits = first & (u64::MAX << (from % 64));
    while bits == 0 {
        w += 1;
        match quotes.get(w) {
            Some(&b) => bits = b,
            None => return len,
        }
    }
    w * 64 + bits.trailing_zeros() as usize
}

/// The escaping route: scan mutably, unescaping in place, then fill in the strings.
fn parse_escaped<'i>(
    line: &'i mut [u8],
    end: usize,
    tape: &mut Vec<Node<'i>>,
    stack: &mut Vec<Open>,
    strings: &mut Vec<(u32, u32, u32)>,
    max_depth: usize,
) -> Result<(), ScanError> {
    strings.clear();
    scan(&mut Escaped { b: &mut line[..end], strings }, tape, stack, max_depth)?;
    // The scan is over: borrow the line as shared and fill in the strings. One UTF-8 check of
    // the whole line usually covers every string (slicing a `str` only checks boundaries);
    // when it fails (invalid bytes, or an escape's leftover bytes splitting a character) each
    // string is checked on its own.
    let line: &'i [u8] = line;
    let whole = std::str::from_utf8(&line[..end]).ok();
    for &(at, start, n) in strings.iter() {
        let (a, z) = (start as usize, (start + n) as usize);
        let s = match whole.and_then(|w| w.get(a..z)) {
            Some(s) => s,
            None => std::str::from_utf8(&line[a..z]).map_err(|_| ScanError::Utf8)?,
        };
        tape[at as usize] = Node::String(s);
    }
    Ok(())
}

/// The line as the scanner sees it: its bytes, and how a string gets onto the tape.
trait Input<'i> {
    /// The line's bytes (as they are now: the escaping route rewrites strings it has passed).
    fn bytes(&self) -> &[u8];
    /// Scans the string whose opening quote is at `q`, pushes its tape node and returns the
    /// index after its closing quote.
    fn string(&mut self, q: usize, tape: &mut Vec<Node<'i>>) -> Result<usize, ScanError>;
}

/// A line with no backslash that is valid UTF-8: strings are borrowed as they are met.
struct Plain<'i, 'q> {
    text: &'i str,
    /// The quote bitmap, when the line holds no control byte: then a string is exactly the
    /// text between one quote and the next, and its end is a bit lookup, not a search.
    quotes: Option<&'q [u64]>,
}

impl<'i, 'q> Plain<'i, 'q> {
    #[inline(always)]
    fn new(text: &'i str, quotes: &'q [u64], shape: Shape) -> Self {
        Plain { text, quotes: (!shape.control).then_some(quotes) }
    }
}

impl<'i> Input<'i> for Plain<'i, '_> {
    #[inline(always)]
    fn bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }

    #[inline(always)]
    fn string(&mut self, q: usize, tape: &mut Vec<Node<'i>>) -> Result<usize, ScanError> {
        let (s, next) = self.str(q)?;
        tape.push(Node::String(s));
        Ok(next)
    }
}

impl<'i> Plain<'i, '_> {
    /// The string whose opening quote is at `q`, and the index after its closing quote.
    #[inline(always)]
    fn str(&self, q: usize) -> Result<(&'i str, usize), ScanError> {
        let text = self.text;
        match text.as_bytes().get(q) {
            Some(b'"') => {}
            Some(&c) => return Err(ScanError::Unexpected(c)),
            None => return Err(ScanError::Eof),
        }
        let start = q + 1;
        let end = match self.quotes {
            Some(quotes) => next_quote(quotes, start, text.len()),
            None => find_stop(text.as_bytes(), start),
        };
        match text.as_bytes().get(end) {
            Some(b'"') => {
                // SAFETY: `start` follows the ASCII quote at `q` (checked above) and `end`
                // holds an ASCII quote, so in valid UTF-8 both are character boundaries, and
                // `start <= end < len` (`find_stop` never returns less than `start`).
                // (`str::get` would check this again out of line, 11 instructions a string.)
                Ok((unsafe { text.get_unchecked(start..end) }, end + 1))
            }
            None => Err(ScanError::Eof),
            // No backslash on this route: the stop is a control character.
            Some(_) => Err(ScanError::Control),
        }
    }
}

/// Any other line: scanned mutably, strings unescaped in place and recorded as spans, their
/// tape nodes placeholders until the scan is over.
struct Escaped<'a> {
    b: &'a mut [u8],
    strings: &'a mut Vec<(u32, u32, u32)>,
}

impl<'i> Input<'i> for Escaped<'_> {
    #[inline(always)]
    fn bytes(&self) -> &[u8] {
        self.b
    }

    #[inline]
    fn string(&mut self, q: usize, tape: &mut Vec<Node<'i>>) -> Result<usize, ScanError> {
        let (start, n, next) = string(self.b, q)?;
        // Lines here are at most SMALL_LINE bytes, far below u32::MAX.
        self.strings.push((tape.len() as u32, start as u32, n as u32));
        tape.push(Node::Static(StaticNode::Null));
        Ok(next)
    }
}

/// The scanner proper: one left-to-right pass, the innermost open container kept in locals
/// and the outer ones on `stack`.
fn scan<'i>(
    inp: &mut impl Input<'i>,
    tape: &mut Vec<Node<'i>>,
    stack: &mut Vec<Open>,
    max_depth: usize,
) -> Result<(), ScanError> {
    let start = skip_ws(inp.bytes(), 0);
    let end = value(inp, start, tape, stack, max_depth)?;
    let end = skip_ws(inp.bytes(), end);
    if end < inp.bytes().len() { Err(ScanError::Trailing) } else { Ok(()) }
}

/// Scans the one value starting at `i` (whitespace already skipped) onto the tape and returns
/// the index just after it. Containers nest at most `max_depth` deep.
fn value<'i>(
    inp: &mut impl Input<'i>,
    mut i: usize,
    tape: &mut Vec<Node<'i>>,
    stack: &mut Vec<Open>,
    max_depth: usize,
) -> Result<usize, ScanError> {
    // The innermost open container (meaningless while `depth == 0`).
    let mut cur = Open { at: 0, len: 0, object: false };
    let mut depth = 0usize;
    loop {
        // A value starts at `i` (whitespace already skipped).
        let Some(&c) = inp.bytes().get(i) else { return Err(ScanError::Eof) };
        match c {
            b'{' | b'[' => {
                if depth >= max_depth {
                    return Err(ScanError::Depth);
                }
                let object = c == b'{';
                if depth > 0 {
                    stack.push(cur);
                }
                depth += 1;
                cur = Open { at: tape.len(), len: 0, object };
                tape.push(if object {
                    Node::Object { len: 0, count: 0 }
                } else {
                    Node::Array { len: 0, count: 0 }
                });
                i = skip_ws(inp.bytes(), i + 1);
                match inp.bytes().get(i).copied() {
                    Some(b'}') if object => i += 1,
                    Some(b']') if !object => i += 1,
                    Some(b'"') if object => {
                        cur.len = 1;
                        i = inp.string(i, tape)?;
                        i = colon(inp.bytes(), i)?;
                        continue;
                    }
                    Some(_) if !object => {
                        cur.len = 1;
                        continue;
                    }
                    Some(c) => return Err(ScanError::Unexpected(c)),
                    None => return Err(ScanError::Eof),
                }
                // An empty container: closed at once.
                close(tape, &mut cur, stack, &mut depth);
            }
            b'"' => i = inp.string(i, tape)?,
            b'-' | b'0'..=b'9' => {
                let (n, next) = number(inp.bytes(), i)?;
                tape.push(Node::Static(n));
                i = next;
            }
            b't' | b'f' | b'n' => {
                let (word, node): (&[u8], _) = match c {
                    b't' => (b"true", StaticNode::Bool(true)),
                    b'f' => (b"false", StaticNode::Bool(false)),
                    _ => (b"null", StaticNode::Null),
                };
                if inp.bytes().get(i..i + word.len()) != Some(word) {
                    return Err(ScanError::Unexpected(c));
                }
                i += word.len();
                tape.push(Node::Static(node));
            }
            _ => return Err(ScanError::Unexpected(c)),
        }
        // After a value: done at the outermost level, else a separator or a closer.
        loop {
            if depth == 0 {
                return Ok(i);
            }
            i = skip_ws(inp.bytes(), i);
            let Some(&c) = inp.bytes().get(i) else { return Err(ScanError::Eof) };
            i += 1;
            match c {
                b',' => {
                    cur.len += 1;
                    i = skip_ws(inp.bytes(), i);
                    if cur.object {
                        match inp.bytes().get(i) {
                            Some(b'"') => {}
                            Some(&c) => return Err(ScanError::Unexpected(c)),
                            None => return Err(ScanError::Eof),
                        }
                        i = inp.string(i, tape)?;
                        i = colon(inp.bytes(), i)?;
                    }
                    break;
                }
                b'}' if cur.object => close(tape, &mut cur, stack, &mut depth),
                b']' if !cur.object => close(tape, &mut cur, stack, &mut depth),
                _ => return Err(ScanError::Unexpected(c)),
            }
        }
    }
}

/// Closes the innermost container `cur`: writes its member count and subtree size into its
/// header, and makes the enclosing container current.
#[inline(always)]
fn close(tape: &mut [Node<'_>], cur: &mut Open, stack: &mut Vec<Open>, depth: &mut usize) {
    let count = tape.len() - cur.at - 1;
    tape[cur.at] = if cur.object {
        Node::Object { len: cur.len, count }
    } else {
        Node::Array { len: cur.len, count }
    };
    *depth -= 1;
    if let Some(outer) = stack.pop() {
        *cur = outer;
    }
}

/// Expects `:` (after optional whitespace) at `i`; returns the index of the value after it
/// (whitespace skipped).
#[inline(always)]
fn colon(b: &[u8], i: usize) -> Result<usize, ScanError> {
    let i = skip_ws(b, i);
    match b.get(i) {
        Some(b':') => Ok(skip_ws(b, i + 1)),
        Some(&c) => Err(ScanError::Unexpected(c)),
        None => Err(ScanError::Eof),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn ours(json: &[u8]) -> Result<String, ScanError> {
        let mut buf = json.to_vec();
        let len = buf.len();
        let mut tape = Vec::new();
        parse(&mut buf, len, &mut tape, &mut Scratch::default(), 128)?;
        Ok(format!("{tape:?}"))
    }

    fn theirs(json: &[u8]) -> Option<String> {
        let mut buf = json.to_vec();
        let mut buffers = simd_json::Buffers::with_max_depth(json.len(), 128);
        let mut tape = simd_json::Tape::null();
        simd_json::fill_tape(&mut buf, &mut buffers, &mut tape).ok()?;
        Some(format!("{:?}", tape.0))
    }

    fn agree(json: &[u8]) {
        let a = ours(json).ok();
        let b = theirs(json);
        assert_eq!(a, b, "input {:?}", String::from_utf8_lossy(json));
    }

    #[test]
    fn classify_agrees_with_byte_tests() {
        let mut rng = Rng::new(7);
        for round in 0..20_000 {
            let len = rng.below(200) as usize;
            let line: Vec<u8> = (0..len)
                .map(|_| *rng.pick(&[b'a', b'"', b'\\', 0x5b, 0x5d, 0x7f, 0x80, 0xdc, 0x1c, 0xff]))
                .collect();
            let want = Shape {
                backslash: line.contains(&b'\\'),
                ascii: line.is_ascii(),
                control: line.iter().any(|&c| c < 0x20),
            };
            let mut quotes = Vec::new();
            // Measured on a prefix of a longer buffer too: bytes past the end never count.
            let mut padded = line.clone();
            padded.extend(std::iter::repeat_n(b'\\', 70));
            for buf in [&line, &padded] {
                assert_eq!(classify(buf, len, &mut quotes), want, "round {round}: {line:?}");
                for at in 0..=len {
                    let next = line[at..].iter().position(|&c| c == b'"').map_or(len, |k| at + k);
                    assert_eq!(next_quote(&quotes, at, len), next, "round {round} at {at}");
                }
            }
        }
    }

    #[test]
    fn short_integers_read_as_the_byte_loop_reads_them() {
        let mut rng = Rng::new(3);
        let alphabet = b"0123456789012345678901234567890123456789,}] -.e\x00\xff/:";
        for round in 0..300_000u32 {
            let mut word = [0u8; 8];
            for x in &mut word {
                *x = *rng.pick(alphabet);
            }
            if round % 3 == 0 {
                // Whole numbers of every length, then a delimiter.
                let digits = rng.below(9) as u32;
                let text = format!("{},", rng.below(10u64.pow(digits)));
                let k = text.len().min(8);
                word[..k].copy_from_slice(&text.as_bytes()[..k]);
            }
            let digits = word.iter().take_while(|c| c.is_ascii_digit()).count();
            let want = (1..8).contains(&digits) && (digits == 1 || word[0] != b'0');
            let want = want.then(|| {
                let text = std::str::from_utf8(&word[..digits]).unwrap();
                (text.parse::<u64>().unwrap(), digits)
            });
            assert_eq!(short_integer(u64::from_le_bytes(word)), want, "{word:?}");
        }
    }

    #[test]
    fn matches_simd_json_on_hand_picked_inputs() {
        for j in [
            "{}",
            "[]",
            "[[]]",
            "[{}]",
            "{\"a\":[]}",
            "0",
            "-0",
            "1",
            "-1",
            "1.5",
            "-1.5e3",
            "1E+2",
            "0.0",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "1e400",
            "1e-400",
            "01",
            "1.",
            ".5",
            "-",
            "1e",
            "+1",
            "true",
            "false",
            "null",
            "tru",
            "nul",
            "\"\"",
            "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"",
            "\"\\u00e9\\u4e2d\\ud83d\\ude00\"",
            "\"\\ud83d\"",
            "\"\\ude00\"",
            "\"\\u12\"",
            "\"\\x\"",
            "\"a\u{1}\"",
            "\"é中😀\"",
            "[1,2,]",
            "[,1]",
            "{\"a\":1,}",
            "{\"a\"1}",
            "{1:2}",
            "{\"a\":1 \"b\":2}",
            "[1 2]",
            " [ 1 , { \"k\" : [ true , null ] } ] ",
            "[1]]",
            "{}}",
            "{\"a\":{\"b\":{\"c\":[1,[2,[3]]]}}}",
            "\"unterminated",
            "[",
            "{",
            "{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":\"echo\",\"msg_id\":1,\"echo\":\"Please echo 3\"}}",
            "[1,2] 3",
            "1 2",
            "[-]",
            "[1e5,2.5E-3,-0.0]",
            "[0e0,0E+0]",
            "[123abc]",
            "[truex]",
        ] {
            agree(j.as_bytes());
        }
        agree(b"\"\xff\"");
        agree(b"\"\xc3\xa9\"");
        agree(b"[\"\xed\xa0\x80\"]");
    }

    /// A random JSON document.
    fn gen_value(rng: &mut Rng, depth: usize, out: &mut String) {
        let pick = if depth > 4 { rng.below(6) } else { rng.below(8) };
        match pick {
            0 => {
                let lit: &&str = rng.pick(&["null", "true", "false"]);
                out.push_str(lit);
            }
            1 => out.push_str(&format!("{}", rng.next_u64() >> rng.below(64))),
            2 => out.push_str(&format!("-{}", rng.next_u64() >> (1 + rng.below(63)))),
            3 => out.push_str(&format!(
                "{}",
                (rng.unit() - 0.5) * 10f64.powi(rng.below(40) as i32 - 20)
            )),
            4 | 5 => {
                out.push('"');
                for _ in 0..rng.below(12) {
                    let piece = *rng.pick(&[
                        "a",
                        "Z",
                        " ",
                        "\\n",
                        "\\\"",
                        "\\\\",
                        "\\u0041",
                        "é",
                        "😀",
                        "\\ud83d\\ude00",
                        "/",
                        "\\/",
                    ]);
                    out.push_str(piece);
                }
                out.push('"');
            }
            6 => {
                out.push('[');
                for i in 0..rng.below(5) {
                    if i > 0 {
                        out.push(',');
                    }
                    gen_value(rng, depth + 1, out);
                }
                out.push(']');
            }
            _ => {
                out.push('{');
                for i in 0..rng.below(5) {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&format!("\"k{}\":", rng.below(4)));
                    gen_value(rng, depth + 1, out);
                }
                out.push('}');
            }
        }
    }

    #[test]
    fn differential_against_simd_json_on_random_and_mutated_documents() {
        let mut rng = Rng::new(0x5eed);
        for round in 0..20_000 {
            let mut doc = String::new();
            gen_value(&mut rng, 0, &mut doc);
            let mut bytes = doc.into_bytes();
            agree(&bytes);
            // Mutate: flip, insert, delete or truncate a byte.
            if !bytes.is_empty() {
                let at = rng.below(bytes.len() as u64) as usize;
                match rng.below(4) {
                    0 => bytes[at] = *rng.pick(b"{}[],:\"\\0-1e.tfn \x01\xff"),
                    1 => bytes.insert(at, *rng.pick(b"{}[],:\"\\0-1e.tfn ")),
                    2 => {
                        bytes.remove(at);
                    }
                    _ => bytes.truncate(at),
                }
                if std::panic::catch_unwind(|| agree(&bytes)).is_err() {
                    panic!("round {round}: disagreement on {:?}", String::from_utf8_lossy(&bytes));
                }
            }
        }
    }

    #[test]
    fn depth_is_bounded_and_strings_borrow_unescaped_text() {
        let deep = "[".repeat(200) + &"]".repeat(200);
        let mut b = deep.into_bytes();
        let len = b.len();
        let mut tape = Vec::new();
        assert_eq!(
            parse(&mut b, len, &mut tape, &mut Scratch::default(), 128),
            Err(ScanError::Depth)
        );
        let mut b = br#"{"k":"a\nb"}"#.to_vec();
        let len = b.len();
        parse(&mut b, len, &mut tape, &mut Scratch::default(), 128).unwrap();
        assert!(matches!(tape[2], Node::String("a\nb")));
    }

    /// A message line, nearly always compact: `src`, `dest` and `body` in any order, sometimes
    /// repeated or of the wrong type, other members, body values of every kind (integers of
    /// every length and at the very end of the body included).
    fn gen_message(rng: &mut Rng) -> String {
        fn val(rng: &mut Rng) -> String {
            match rng.below(12) {
                0..=2 => format!("\"{}\"", rng.pick(&["", "x", "Please echo 9", "é", "a b", "{}"])),
                3..=5 => {
                    // Zero to twenty digits, now and then with a leading zero.
                    let n = rng.below(21) as usize;
                    let mut d: String =
                        (0..n).map(|_| char::from(b'0' + rng.below(10) as u8)).collect();
                    if d.is_empty() {
                        d.push('7');
                    }
                    d
                }
                6 => (*rng.pick(&["-3", "1.5", "2e3", "-0", "true", "false", "null"])).into(),
                7 => (*rng.pick(&["[]", "[1,2,3]", "[1, \"a\" ,{}]", "{\"n1\":[\"n2\"]}"])).into(),
                8 => (*rng.pick(&["{}", "{\"k\":{\"j\":[[]]}}", "[[[[1]]]]"])).into(),
                _ => rng.below(1000).to_string(),
            }
        }
        let mut body = Vec::new();
        for _ in 0..rng.below(6) {
            // (Near misses of the keys the compact route matches as whole words included.)
            let keys =
                ["type", "msg_id", "in_reply_to", "echo", "message", "x", "é", "typ", "msg_idx"];
            let k = *rng.pick(&keys);
            let v = match k {
                "type" if rng.chance(0.8) => format!("\"{}\"", rng.pick(&["echo", "broadcast"])),
                "msg_id" | "in_reply_to" if rng.chance(0.7) => rng.below(100_000).to_string(),
                _ => val(rng),
            };
            body.push(format!("\"{k}\":{v}"));
        }
        let mut top = vec![
            format!("\"src\":{}", if rng.chance(0.95) { "\"c1\"".into() } else { val(rng) }),
            format!("\"dest\":{}", if rng.chance(0.95) { "\"n1\"".into() } else { val(rng) }),
            if rng.chance(0.95) {
                format!("\"body\":{{{}}}", body.join(","))
            } else {
                format!("\"body\":{}", val(rng))
            },
        ];
        for _ in 0..rng.below(3) {
            let k = *rng.pick(&["id", "src", "dest", "body", "sr", "bodyx"]);
            top.push(format!("\"{k}\":{}", val(rng)));
        }
        rng.shuffle(&mut top);
        let mut line = format!("{{{}}}", top.join(","));
        if rng.chance(0.05) {
            let mut at = rng.below(line.len() as u64) as usize;
            while !line.is_char_boundary(at) {
                at -= 1;
            }
            line.insert(at, ' ');
        }
        line
    }

    #[test]
    fn the_compact_route_agrees_with_the_general_route() {
        let mut rng = Rng::new(0xc0c0);
        let (mut taken, mut declined) = (0, 0);
        for round in 0..40_000 {
            let mut line = gen_message(&mut rng).into_bytes();
            if rng.chance(0.25) {
                let at = rng.below(line.len() as u64) as usize;
                match rng.below(3) {
                    0 => line[at] = *rng.pick(b"{}[],:\"0 e-"),
                    1 => line.insert(at, *rng.pick(b"{}[],:\"0 ")),
                    _ => line.truncate(at),
                }
            }
            let len = line.len();
            // Whatever follows the line in the buffer must never be read as part of it:
            // digits and closers are what could extend a number at its end.
            let mut padded = line.clone();
            let tails: [&[u8]; 4] = [b"", b"12345678", b"}}}}}}}}", b"9,9}"];
            padded.extend_from_slice(tails[rng.below(4) as usize]);
            let mut quotes = Vec::new();
            let shape = classify(&padded, len, &mut quotes);
            assert!(!shape.backslash && !shape.control, "the generator makes neither");
            // (A cut through `é` is not UTF-8: rejected before either route.)
            let Ok(text) = plain_text(&padded, len, shape.ascii) else { continue };
            let (mut fast, mut general) = (Vec::new(), Vec::new());
            let mut stack = Vec::new();
            let mut env = Envelope::default();
            let mut p = Plain::new(text, &quotes, shape);
            let got = compact(&mut p, &padded, &mut fast, &mut stack, 128, &mut env);
            stack.clear();
            let mut want_env = Envelope::default();
            let want = general_message(&mut p, &mut general, &mut stack, 128, &mut want_env)
                .map(|message| message.then_some(want_env));
            let shown = String::from_utf8_lossy(&line);
            match got {
                Some(()) => {
                    taken += 1;
                    assert_eq!(want, Ok(Some(env)), "round {round}: {shown}");
                    assert_eq!(
                        format!("{fast:?}"),
                        format!("{general:?}"),
                        "round {round}: {shown}"
                    );
                }
                None => declined += 1,
            }
        }
        // Both outcomes in volume: most lines take the compact route, and the broken ones,
        // lines with whitespace and bodies that are not objects are handed back.
        assert!(taken > 15_000 && declined > 8_000, "taken {taken}, declined {declined}");
    }
}
