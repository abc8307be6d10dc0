//! The Maelstrom wire protocol: parsing lines into borrowed messages, encoding replies.
//!
//! A [`Parser`] turns one line (a `&mut [u8]` unescaped in place) into a
//! [`Msg`] whose strings borrow from that line. The parser keeps its simd-json buffers and
//! tape between lines, so parsing allocates nothing once they have grown to the largest line.

pub mod encode;
pub mod error;
pub mod json;
pub mod scan;

use std::fmt;

use simd_json::{Buffers, Tape};

use self::encode::str_eq;

pub use self::error::ErrorCode;
pub use self::json::{Arr, Kind, Obj, Val};

/// Deepest JSON nesting the parser accepts; deeper lines are rejected as malformed.
///
/// Real messages nest a handful of levels (kafka `msgs` is four). The bound keeps the tape
/// walkers' explicit stacks small and rules out pathological input.
pub const MAX_DEPTH: usize = 128;

/// Extra bytes a caller may leave after a line so simd-json can skip its internal copy.
pub const PADDING: usize = simd_json::INPUT_PADDING;

/// One parsed message; every string borrows from the input line.
#[derive(Copy, Clone, Debug)]
pub struct Msg<'t, 'i> {
    /// Sender.
    pub src: &'i str,
    /// Destination.
    pub dest: &'i str,
    /// Body `type`.
    pub kind: &'i str,
    /// Body `msg_id`, when present.
    pub msg_id: Option<u64>,
    /// Body `in_reply_to`, when present (the message is a reply).
    pub in_reply_to: Option<u64>,
    /// The whole body object.
    pub body: Obj<'t, 'i>,
}

/// Why a line is not a message the node can act on.
#[derive(Debug)]
pub enum ParseError<'i> {
    /// Not JSON at all (or invalid UTF-8, or nested deeper than [`MAX_DEPTH`]).
    Json(JsonError),
    /// JSON, but without a usable envelope (`src`, `dest`, `body` object): nobody to answer.
    Envelope(&'static str),
    /// A usable envelope whose body is malformed; the sender can be told (error 12).
    Body {
        /// Who sent it.
        src: &'i str,
        /// Who it was sent to (us).
        dest: &'i str,
        /// The request's `msg_id`, if it had a valid one.
        msg_id: Option<u64>,
        /// What is wrong.
        why: FieldError,
    },
}

impl fmt::Display for ParseError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Json(e) => write!(f, "not valid JSON: {e}"),
            ParseError::Envelope(why) => write!(f, "not a message: {why}"),
            ParseError::Body { src, why, .. } => write!(f, "malformed body from {src}: {why}"),
        }
    }
}

/// Why a line is not valid JSON, from whichever parser read it.
#[derive(Debug)]
pub enum JsonError {
    /// From the scalar scanner (short lines).
    Scan(scan::ScanError),
    /// From simd-json (long lines).
    Simd(simd_json::Error),
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::Scan(e) => e.fmt(f),
            JsonError::Simd(e) => e.fmt(f),
        }
    }
}

/// A missing or ill-typed body field: the text of an error-12 reply.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The field's name.
    pub field: &'static str,
    /// What was expected, e.g. "a non-negative integer".
    pub expected: &'static str,
    /// True when the field was absent rather than of the wrong type.
    pub missing: bool,
}

impl FieldError {
    /// The field is absent.
    pub const fn missing(field: &'static str, expected: &'static str) -> Self {
        FieldError { field, expected, missing: true }
    }

    /// The field is present with the wrong type or an out-of-range value.
    pub const fn invalid(field: &'static str, expected: &'static str) -> Self {
        FieldError { field, expected, missing: false }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.missing {
            write!(f, "missing field `{}` ({})", self.field, self.expected)
        } else {
            write!(f, "field `{}` must be {}", self.field, self.expected)
        }
    }
}

/// The body members the runtime itself reads (`type`, `msg_id`, `in_reply_to`), gathered in
/// one pass over the body's members, in order.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct BodyHead<'i> {
    /// The last `type` member, if it was a string (a later non-string one clears it).
    pub kind: Option<&'i str>,
    /// Some member was named `type`.
    pub has_type: bool,
    /// The last valid `msg_id`.
    pub msg_id: Option<u64>,
    /// The last valid `in_reply_to`.
    pub in_reply_to: Option<u64>,
    /// The last ill-typed `msg_id` or `in_reply_to` (a reference to a constant: this struct
    /// is copied on every line, and a pointer is a fifth of a `FieldError`).
    pub bad: Option<&'static FieldError>,
}

static BAD_MSG_ID: FieldError = FieldError::invalid("msg_id", "a non-negative integer");
static BAD_IN_REPLY_TO: FieldError = FieldError::invalid("in_reply_to", "a non-negative integer");

impl<'i> BodyHead<'i> {
    /// Takes in the body member `key: val` (members are fed in order).
    #[inline]
    pub fn member(&mut self, key: &str, val: Val<'_, 'i>) {
        self.scalar(key, val.as_str(), val.as_u64());
    }

    /// [`BodyHead::member`] for a value already read: `s` if it is a string, `n` if it is a
    /// non-negative integer (neither for anything else).
    #[inline(always)]
    pub fn scalar(&mut self, key: &str, s: Option<&'i str>, n: Option<u64>) {
        // (`str_eq` against a literal is a length test and one or two loads, no `memcmp`.)
        if str_eq(key, "type") {
            self.kind = s;
            self.has_type = true;
        } else if str_eq(key, "msg_id") {
            match n {
                Some(id) => self.msg_id = Some(id),
                None => self.bad = Some(&BAD_MSG_ID),
            }
        } else if str_eq(key, "in_reply_to") {
            match n {
                Some(id) => self.in_reply_to = Some(id),
                None => self.bad = Some(&BAD_IN_REPLY_TO),
            }
        }
    }
}

impl<'t, 'i> Msg<'t, 'i> {
    /// Reads the envelope of a parsed line.
    pub fn from_val(v: Val<'t, 'i>) -> Result<Self, ParseError<'i>> {
        let top = v.as_object().ok_or(ParseError::Envelope("line is not a JSON object"))?;
        let (mut src, mut dest, mut body) = (None, None, None);
        for (k, val) in top.iter() {
            match k {
                "src" => src = src.or(Some(val)),
                "dest" => dest = dest.or(Some(val)),
                "body" => body = body.or(Some(val)),
                _ => {}
            }
        }
        let (src, dest) = (src.map(Val::as_str), dest.map(Val::as_str));
        Self::from_parts(src, dest, body.map(Val::as_object), None)
    }

    /// Builds a message from its top-level members (`Some(None)`: present with the wrong
    /// type) and the body's envelope fields (`head`; read from `body` when `None`).
    #[inline]
    pub fn from_parts(
        src: Option<Option<&'i str>>,
        dest: Option<Option<&'i str>>,
        body: Option<Option<Obj<'t, 'i>>>,
        head: Option<BodyHead<'i>>,
    ) -> Result<Self, ParseError<'i>> {
        let src = src.flatten().ok_or(ParseError::Envelope("`src` missing or not a string"))?;
        let dest = dest.flatten().ok_or(ParseError::Envelope("`dest` missing or not a string"))?;
        let body = body.flatten().ok_or(ParseError::Envelope("`body` missing or not an object"))?;
        let head = match head {
            Some(head) => head,
            None => {
                let mut head = BodyHead::default();
                for (k, val) in body.iter() {
                    head.member(k, val);
                }
                head
            }
        };
        let BodyHead { kind, has_type, msg_id, in_reply_to, bad } = head;
        let body_err = |why| ParseError::Body { src, dest, msg_id, why };
        if let Some(why) = bad {
            return Err(body_err(*why));
        }
        let Some(kind) = kind else {
            let why = if has_type {
                FieldError::invalid("type", "a string")
            } else {
                FieldError::missing("type", "a string")
            };
            return Err(body_err(why));
        };
        Ok(Msg { src, dest, kind, msg_id, in_reply_to, body })
    }

    /// A body field, if present.
    pub fn get(&self, field: &str) -> Option<Val<'t, 'i>> {
        self.body.get(field)
    }

    /// A required body field of any type.
    pub fn field(&self, field: &'static str) -> Result<Val<'t, 'i>, FieldError> {
        self.body.get(field).ok_or(FieldError::missing(field, "a value"))
    }

    fn typed<T>(
        &self,
        field: &'static str,
        expected: &'static str,
        conv: impl FnOnce(Val<'t, 'i>) -> Option<T>,
    ) -> Result<T, FieldError> {
        let v = self.body.get(field).ok_or(FieldError::missing(field, expected))?;
        conv(v).ok_or(FieldError::invalid(field, expected))
    }

    /// A required non-negative integer field.
    pub fn u64(&self, field: &'static str) -> Result<u64, FieldError> {
        self.typed(field, "a non-negative integer", Val::as_u64)
    }

    /// A required integer field.
    pub fn i64(&self, field: &'static str) -> Result<i64, FieldError> {
        self.typed(field, "an integer", Val::as_i64)
    }

    /// A required string field.
    pub fn str(&self, field: &'static str) -> Result<&'i str, FieldError> {
        self.typed(field, "a string", Val::as_str)
    }

    /// A required array field.
    pub fn arr(&self, field: &'static str) -> Result<Arr<'t, 'i>, FieldError> {
        self.typed(field, "an array", Val::as_array)
    }

    /// A required object field.
    pub fn obj(&self, field: &'static str) -> Result<Obj<'t, 'i>, FieldError> {
        self.typed(field, "an object", Val::as_object)
    }
}

/// Reusable line parser: owns the parsers' scratch buffers and the tape between lines.
pub struct Parser {
    buffers: Buffers,
    /// The scalar scanner's scratch space, reused.
    scratch: scan::Scratch,
    /// The tape's storage, kept empty between calls so its allocation is reused.
    tape: Option<Tape<'static>>,
}

impl Default for Parser {
    fn default() -> Self {
        Self::new()
    }
}

impl Parser {
    /// A parser with small initial buffers; they grow to the largest line seen.
    pub fn new() -> Self {
        Parser {
            buffers: Buffers::with_max_depth(4096, MAX_DEPTH),
            scratch: scan::Scratch::default(),
            tape: Some(Tape::null()),
        }
    }

    /// Parses `line[..len]` as a message and calls `f` with the result.
    ///
    /// simd-json unescapes strings in place, so `line[..len]` is clobbered. When
    /// `line.len() >= len + PADDING` the parser works on the line directly; otherwise it
    /// makes one internal copy first (into its reused buffer).
    pub fn parse<'i, R>(
        &mut self,
        line: &'i mut [u8],
        len: usize,
        f: impl FnOnce(Result<Msg<'_, 'i>, ParseError<'i>>) -> R,
    ) -> R {
        let mut tape: Tape<'i> = self.tape.take().unwrap_or_else(Tape::null).reset();
        let mut env = scan::Envelope::default();
        let parsed = if len <= scan::SMALL_LINE {
            scan::parse_message(line, len, &mut tape.0, &mut self.scratch, MAX_DEPTH, &mut env)
                .map_err(JsonError::Scan)
        } else {
            // A long line: simd-json fills the tape with the whole value.
            self.fill_large(line, len, &mut tape).map(|()| false)
        };
        // One call of `f`, so that it can be inlined here.
        let msg = match parsed {
            Err(e) => Err(ParseError::Json(e)),
            Ok(true) => {
                let body = env.body.map(|object| {
                    if object { Val::new(&tape.0).and_then(Val::as_object) } else { None }
                });
                Msg::from_parts(env.src, env.dest, body, Some(env.head))
            }
            Ok(false) => match Val::new(&tape.0) {
                None => Err(ParseError::Envelope("empty line")),
                Some(v) => Msg::from_val(v),
            },
        };
        let result = f(msg);
        self.tape = Some(tape.reset());
        result
    }

    /// Parses `line[..len]` as any JSON value (`None` for an empty tape) and calls `f`.
    ///
    /// Lines up to [`scan::SMALL_LINE`] bytes take the scalar scanner, longer ones simd-json;
    /// both fill the same tape.
    pub fn parse_value<'i, R>(
        &mut self,
        line: &'i mut [u8],
        len: usize,
        f: impl FnOnce(Result<Option<Val<'_, 'i>>, JsonError>) -> R,
    ) -> R {
        // `reset` re-types the (empty) tape to this line's lifetime, keeping its allocation.
        let mut tape: Tape<'i> = self.tape.take().unwrap_or_else(Tape::null).reset();
        let parsed = if len <= scan::SMALL_LINE {
            scan::parse(line, len, &mut tape.0, &mut self.scratch, MAX_DEPTH)
                .map_err(JsonError::Scan)
        } else {
            self.fill_large(line, len, &mut tape)
        };
        let result = match parsed {
            Err(e) => f(Err(e)),
            Ok(()) => f(Ok(Val::new(&tape.0))),
        };
        self.tape = Some(tape.reset());
        result
    }

    /// Fills `tape` from a line longer than [`scan::SMALL_LINE`] with simd-json (out of line:
    /// the common short line never comes here).
    #[inline(never)]
    fn fill_large<'i>(
        &mut self,
        line: &'i mut [u8],
        len: usize,
        tape: &mut Tape<'i>,
    ) -> Result<(), JsonError> {
        if line.len() >= len + PADDING {
            simd_json::fill_tape_padded(line, len, &mut self.buffers, tape).map_err(JsonError::Simd)
        } else {
            simd_json::fill_tape(&mut line[..len], &mut self.buffers, tape).map_err(JsonError::Simd)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str<R>(s: &str, f: impl FnOnce(Result<Msg<'_, '_>, ParseError<'_>>) -> R) -> R {
        let mut p = Parser::new();
        let mut bytes = s.as_bytes().to_vec();
        let len = bytes.len();
        p.parse(&mut bytes, len, f)
    }

    #[test]
    fn parses_an_envelope_and_body_fields() {
        parse_str(
            r#"{"src":"c1","dest":"n1","body":{"type":"add","msg_id":4,"delta":3,"s":"x\ty"}}"#,
            |m| {
                let m = m.unwrap();
                assert_eq!((m.src, m.dest, m.kind, m.msg_id), ("c1", "n1", "add", Some(4)));
                assert_eq!(m.in_reply_to, None);
                assert_eq!(m.u64("delta"), Ok(3));
                assert_eq!(m.str("s"), Ok("x\ty"));
                assert_eq!(
                    m.u64("nope"),
                    Err(FieldError::missing("nope", "a non-negative integer"))
                );
                assert_eq!(m.str("delta"), Err(FieldError::invalid("delta", "a string")));
            },
        );
    }

    #[test]
    fn classifies_bad_lines() {
        parse_str("{not json", |m| assert!(matches!(m, Err(ParseError::Json(_)))));
        parse_str("[1,2]", |m| assert!(matches!(m, Err(ParseError::Envelope(_)))));
        parse_str(r#"{"src":"c1","body":{}}"#, |m| {
            assert!(matches!(m, Err(ParseError::Envelope(_))))
        });
        parse_str(r#"{"src":"c1","dest":"n1","body":{"msg_id":2}}"#, |m| match m {
            Err(ParseError::Body { src: "c1", msg_id: Some(2), why, .. }) => {
                assert_eq!(why, FieldError::missing("type", "a string"));
            }
            other => panic!("{other:?}"),
        });
        parse_str(r#"{"src":"c1","dest":"n1","body":{"type":"x","msg_id":-1}}"#, |m| {
            assert!(matches!(m, Err(ParseError::Body { msg_id: None, .. })))
        });
        let deep = format!(
            r#"{{"src":"c1","dest":"n1","body":{{"type":"echo","msg_id":1,"echo":{}{}}}}}"#,
            "[".repeat(MAX_DEPTH + 10),
            "]".repeat(MAX_DEPTH + 10)
        );
        parse_str(&deep, |m| assert!(matches!(m, Err(ParseError::Json(_)))));
        let mut invalid_utf8 = br#"{"src":"c1","dest":"n1","body":{"type":"e\xff"}}"#.to_vec();
        let len = invalid_utf8.len();
        Parser::new()
            .parse(&mut invalid_utf8, len, |m| assert!(matches!(m, Err(ParseError::Json(_)))));
    }

    /// A random message-like line: top-level members in any order, sometimes repeated,
    /// missing or of the wrong type, with escapes, non-ASCII text and nested values.
    fn gen_line(rng: &mut crate::rng::Rng) -> String {
        fn scalar(rng: &mut crate::rng::Rng) -> String {
            rng.pick(&[
                "\"c1\"",
                "\"n1\"",
                "\"é\"",
                "\"a\\\"b\"",
                "\"\\u0041\"",
                "7",
                "-3",
                "1.5",
                "null",
                "true",
                "[1,\"x\",{}]",
                "{\"k\":[2]}",
                "\"\"",
            ])
            .to_string()
        }
        let mut members = Vec::new();
        // Usually a well-formed envelope, in any order; then extra or broken members.
        if rng.chance(0.7) {
            let ty = if rng.chance(0.9) { "\"echo\"" } else { "3" };
            members.push(format!("\"src\":{}", rng.pick(&["\"c1\"", "\"é\""])));
            members.push("\"dest\":\"n1\"".to_string());
            members.push(format!("\"body\":{{\"type\":{ty},\"msg_id\":{}}}", rng.below(9)));
            rng.shuffle(&mut members);
        }
        for _ in 0..rng.below(4) {
            let key = *rng.pick(&["src", "dest", "body", "id", "x", "s\\u0072c", "bodyx"]);
            let val = if key == "body" && rng.chance(0.8) {
                let mut fields = Vec::new();
                for _ in 0..rng.below(5) {
                    let k = *rng.pick(&["type", "msg_id", "in_reply_to", "echo", "t\\u0079pe"]);
                    let v = match k {
                        "type" if rng.chance(0.7) => (*rng.pick(&["\"echo\"", "\"e\\nx\""])).into(),
                        "msg_id" | "in_reply_to" if rng.chance(0.7) => rng.below(1000).to_string(),
                        _ => scalar(rng),
                    };
                    fields.push(format!("\"{k}\":{v}"));
                }
                format!("{{{}}}", fields.join(","))
            } else {
                scalar(rng)
            };
            members.push(format!("\"{key}\"{}:{}", if rng.chance(0.1) { " " } else { "" }, val));
        }
        let mut line = format!("{{{}}}", members.join(","));
        if rng.chance(0.05) {
            line = scalar(rng);
        }
        if rng.chance(0.05) {
            line = format!(" {line} ");
        }
        line
    }

    /// Parses through the general route (whole value on the tape, then `Msg::from_val`) and
    /// renders the outcome; JSON errors compare by class only (the routes may name different
    /// first faults).
    fn reference(line: &[u8]) -> String {
        let mut p = Parser::new();
        let mut b = line.to_vec();
        let len = b.len();
        p.parse_value(&mut b, len, |v| match v {
            Err(_) => "json error".to_string(),
            Ok(None) => "empty".to_string(),
            Ok(Some(v)) => render(Msg::from_val(v)),
        })
    }

    fn render(m: Result<Msg<'_, '_>, ParseError<'_>>) -> String {
        match m {
            Ok(m) => format!("{m:?}"),
            Err(ParseError::Json(_)) => "json error".to_string(),
            Err(e) => format!("{e:?}"),
        }
    }

    #[test]
    fn the_message_route_agrees_with_the_general_route() {
        let mut rng = crate::rng::Rng::new(0xe4e1);
        let mut routes = [0usize; 2];
        for round in 0..30_000 {
            let mut line = gen_line(&mut rng).into_bytes();
            if rng.chance(0.2) {
                // Whitespace anywhere: between tokens it must be skipped wherever it falls.
                for _ in 0..rng.range_inclusive(1, 6) {
                    let at = rng.below(line.len() as u64 + 1) as usize;
                    line.insert(at, *rng.pick(b" \t\r\n"));
                }
            }
            if rng.chance(0.3) && !line.is_empty() {
                let at = rng.below(line.len() as u64) as usize;
                match rng.below(3) {
                    0 => line[at] = *rng.pick(b"{}[],:\"\\0 \x01\xff"),
                    1 => line.insert(at, *rng.pick(b"{}[],:\"\\0 ")),
                    _ => line.truncate(at),
                }
            }
            let mut b = line.clone();
            let len = b.len();
            let got = Parser::new().parse(&mut b, len, render);
            let want = reference(&line);
            routes[usize::from(got.starts_with("Msg"))] += 1;
            assert_eq!(got, want, "round {round}: {:?}", String::from_utf8_lossy(&line));
        }
        // Both outcomes are exercised in volume.
        assert!(routes.iter().all(|&n| n > 3_000), "{routes:?}");
    }

    #[test]
    fn reuses_the_tape_across_lines_of_different_lifetimes() {
        let mut p = Parser::new();
        for i in 0..3 {
            let mut line =
                format!(r#"{{"src":"c{i}","dest":"n1","body":{{"type":"t"}}}}"#).into_bytes();
            line.resize(line.len() + PADDING, b' ');
            let len = line.len() - PADDING;
            let src = p.parse(&mut line, len, |m| m.unwrap().src.to_owned());
            assert_eq!(src, format!("c{i}"));
        }
    }
}
