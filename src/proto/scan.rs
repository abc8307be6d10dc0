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
//! Strings borrow from the line without `unsafe`: the scan works on the line mutably
//! (unescaping in place) and records each string's span; once the whole line is scanned it is
//! re-borrowed as shared and the string nodes are filled in, each validated as UTF-8.

use simd_json::{Node, StaticNode};

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
#[inline]
fn number(b: &[u8], mut i: usize) -> Result<(StaticNode, usize), ScanError> {
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
pub fn parse<'i>(
    line: &'i mut [u8],
    len: usize,
    tape: &mut Vec<Node<'i>>,
    scratch: &mut Scratch,
    max_depth: usize,
) -> Result<(), ScanError> {
    tape.clear();
    let Scratch { stack, strings } = scratch;
    stack.clear();
    strings.clear();
    let end = len.min(line.len());
    scan(&mut line[..end], tape, stack, strings, max_depth)?;
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

/// Pushes a string placeholder and records its span.
#[inline]
fn push_string(
    b: &mut [u8],
    i: usize,
    tape: &mut Vec<Node<'_>>,
    strings: &mut Vec<(u32, u32, u32)>,
) -> Result<usize, ScanError> {
    let (start, n, next) = string(b, i)?;
    // Lines here are at most SMALL_LINE bytes, far below u32::MAX.
    strings.push((tape.len() as u32, start as u32, n as u32));
    tape.push(Node::Static(StaticNode::Null));
    Ok(next)
}

fn scan(
    b: &mut [u8],
    tape: &mut Vec<Node<'_>>,
    stack: &mut Vec<Open>,
    strings: &mut Vec<(u32, u32, u32)>,
    max_depth: usize,
) -> Result<(), ScanError> {
    let mut i = 0;
    // Expecting a value (true) or, inside a container, a separator/closer (false).
    let mut want_value = true;
    loop {
        i = skip_ws(b, i);
        let Some(&c) = b.get(i) else {
            return if stack.is_empty() && !want_value { Ok(()) } else { Err(ScanError::Eof) };
        };
        if !want_value {
            let Some(top) = stack.last().copied() else { return Err(ScanError::Trailing) };
            i += 1;
            match c {
                b',' if top.object => {
                    // A key, then a value.
                    i = skip_ws(b, i);
                    if b.get(i) != Some(&b'"') {
                        return Err(b.get(i).map_or(ScanError::Eof, |&c| ScanError::Unexpected(c)));
                    }
                    i = push_string(b, i, tape, strings)?;
                    i = skip_ws(b, i);
                    match b.get(i) {
                        Some(b':') => i += 1,
                        Some(&c) => return Err(ScanError::Unexpected(c)),
                        None => return Err(ScanError::Eof),
                    }
                    want_value = true;
                }
                b',' => want_value = true,
                b'}' if top.object => close(tape, stack, true)?,
                b']' if !top.object => close(tape, stack, false)?,
                _ => return Err(ScanError::Unexpected(c)),
            }
            continue;
        }
        if let Some(top) = stack.last_mut() {
            top.len += 1;
        }
        match c {
            b'{' | b'[' => {
                if stack.len() >= max_depth {
                    return Err(ScanError::Depth);
                }
                i += 1;
                let object = c == b'{';
                stack.push(Open { at: tape.len(), len: 0, object });
                tape.push(if object {
                    Node::Object { len: 0, count: 0 }
                } else {
                    Node::Array { len: 0, count: 0 }
                });
                i = skip_ws(b, i);
                match (object, b.get(i)) {
                    (true, Some(b'}')) | (false, Some(b']')) => {
                        i += 1;
                        close(tape, stack, object)?;
                        want_value = false;
                    }
                    (true, Some(b'"')) => {
                        i = push_string(b, i, tape, strings)?;
                        i = skip_ws(b, i);
                        match b.get(i) {
                            Some(b':') => i += 1,
                            Some(&c) => return Err(ScanError::Unexpected(c)),
                            None => return Err(ScanError::Eof),
                        }
                    }
                    (true, Some(&c)) => return Err(ScanError::Unexpected(c)),
                    (_, None) => return Err(ScanError::Eof),
                    (false, Some(_)) => {}
                }
                continue;
            }
            b'"' => i = push_string(b, i, tape, strings)?,
            b'-' | b'0'..=b'9' => {
                let (n, next) = number(b, i)?;
                tape.push(Node::Static(n));
                i = next;
            }
            b't' | b'f' | b'n' => {
                let (word, node): (&[u8], _) = match c {
                    b't' => (b"true", StaticNode::Bool(true)),
                    b'f' => (b"false", StaticNode::Bool(false)),
                    _ => (b"null", StaticNode::Null),
                };
                if b.get(i..i + word.len()) != Some(word) {
                    return Err(ScanError::Unexpected(c));
                }
                i += word.len();
                tape.push(Node::Static(node));
            }
            _ => return Err(ScanError::Unexpected(c)),
        }
        want_value = false;
    }
}

/// Closes the innermost container, writing its member count and subtree size.
fn close(tape: &mut [Node<'_>], stack: &mut Vec<Open>, object: bool) -> Result<(), ScanError> {
    let unexpected = ScanError::Unexpected(if object { b'}' } else { b']' });
    let open = stack.pop().ok_or(unexpected)?;
    if open.object != object {
        return Err(unexpected);
    }
    let count = tape.len() - open.at - 1;
    tape[open.at] = if object {
        Node::Object { len: open.len, count }
    } else {
        Node::Array { len: open.len, count }
    };
    Ok(())
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
}
