//! EDN, the Clojure data notation Jepsen and Maelstrom store histories and results in: the
//! one reader and the one writer of the crate. A strict, fast reader that borrows from its
//! input ([`Reader`], [`read_one`], [`read_all`]); a printer of what it read
//! ([`Edn`]'s `Display`); and a writer of any `serde::Serialize` value and of EDN by hand
//! ([`write`](mod@write): `results.edn`, `history.edn`).
//!
//! The reader takes what Clojure's printer writes (`prn` of maps, vectors, lists, sets,
//! keywords, symbols, strings, characters, integers with or without `N` (and hex, which
//! `#object[...]` prints), doubles including `##Inf` and `##NaN`, `M` decimals and ratios)
//! plus comments (`;`), discards (`#_`) and
//! tagged literals (`#jepsen.history.Op{...}`, `#object[...]`, `#inst "..."`), and rejects
//! everything else with the line and column where reading stopped: reader macros that are not
//! EDN (`'x`, `@x`, `#"re"`, `#(...)`, `#:ns{}`), octal and radix integers, unbalanced or
//! mismatched delimiters, maps with an odd number of forms, bad escapes, and nesting deeper
//! than [`MAX_DEPTH`].
//!
//! Values borrow from the text: keywords, symbols, tags, unusual numbers and strings without
//! escapes are slices of it, so reading allocates only the collections.
//!
//! Not checked: duplicate map keys and set elements (Clojure's reader rejects them; the
//! history reader looks up the keys it needs and checks those).

use std::borrow::Cow;
use std::fmt::{self, Write as _};

pub mod write;

pub use write::{
    Keyword, push_f32, push_f64, push_i64, push_json, push_str, push_u64, to_string, write_capped,
};

/// Deepest nesting of collections (and tags) the reader accepts.
pub const MAX_DEPTH: usize = 256;

/// An EDN value.
#[derive(Clone, Debug, PartialEq)]
pub enum Edn<'a> {
    /// `nil`.
    Nil,
    /// `true` or `false`.
    Bool(bool),
    /// An integer that fits an `i64` (an `N` suffix is dropped).
    Int(i64),
    /// A double: `1.5`, `1e3`, `##Inf`, `##NaN`.
    Float(f64),
    /// Any other number, as written: integers beyond 64 bits, `M` decimals, ratios.
    Number(&'a str),
    /// A string (borrowed when it has no escapes).
    Str(Cow<'a, str>),
    /// A character literal.
    Char(char),
    /// A keyword, without its colon: `:final?` is `Keyword("final?")`.
    Keyword(&'a str),
    /// A symbol.
    Symbol(&'a str),
    /// `( ... )`.
    List(Vec<Edn<'a>>),
    /// `[ ... ]`.
    Vector(Vec<Edn<'a>>),
    /// `{ ... }`, pairs in written order.
    Map(Vec<(Edn<'a>, Edn<'a>)>),
    /// `#{ ... }`, in written order.
    Set(Vec<Edn<'a>>),
    /// `#tag value`.
    Tagged(&'a str, Box<Edn<'a>>),
}

impl<'a> Edn<'a> {
    /// The elements of a vector or list.
    pub fn as_seq(&self) -> Option<&[Edn<'a>]> {
        match self {
            Edn::Vector(v) | Edn::List(v) => Some(v),
            _ => None,
        }
    }

    /// The pairs of a map.
    pub fn as_map(&self) -> Option<&[(Edn<'a>, Edn<'a>)]> {
        match self {
            Edn::Map(m) => Some(m),
            _ => None,
        }
    }

    /// An integer.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Edn::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The text of a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Edn::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The name of a keyword, or the text of a string (JSON writes keywords as strings).
    pub fn as_name(&self) -> Option<&str> {
        match self {
            Edn::Keyword(k) => Some(k),
            Edn::Str(s) => Some(s),
            _ => None,
        }
    }

    /// True for `nil`.
    pub fn is_nil(&self) -> bool {
        matches!(self, Edn::Nil)
    }

    /// The value under `key` in a map (or a record, `#jepsen.history.Op{...}`), the key being
    /// the keyword or the string `key`.
    pub fn get(&self, key: &str) -> Option<&Edn<'a>> {
        let map = match self {
            Edn::Tagged(_, inner) => inner.as_map()?,
            _ => self.as_map()?,
        };
        map.iter().find(|(k, _)| k.as_name() == Some(key)).map(|(_, v)| v)
    }

    /// The value at a path of keys ([`Edn::get`] one after another).
    pub fn at(&self, path: &[&str]) -> Option<&Edn<'a>> {
        path.iter().try_fold(self, |v, k| v.get(k))
    }

    /// A number as a double: integers, doubles, and ratios, bigints and decimals as written.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Edn::Int(i) => Some(*i as f64),
            Edn::Float(f) => Some(*f),
            Edn::Number(n) => {
                let n = n.trim_end_matches(['N', 'M']);
                match n.split_once('/') {
                    Some((a, b)) => Some(a.parse::<f64>().ok()? / b.parse::<f64>().ok()?),
                    None => n.parse().ok(),
                }
            }
            _ => None,
        }
    }

    /// A JSON value as EDN (object keys become strings, integers beyond 64 bits doubles).
    pub fn from_json(v: crate::proto::Val<'_, '_>) -> Edn<'static> {
        use crate::proto::Kind;
        match v.kind() {
            Kind::Null => Edn::Nil,
            Kind::Bool => Edn::Bool(v.as_bool() == Some(true)),
            Kind::Int => match v.as_i64() {
                Some(i) => Edn::Int(i),
                None => Edn::Float(v.as_u64().unwrap_or(u64::MAX) as f64),
            },
            Kind::Float => match v.nodes()[0] {
                simd_json::Node::Static(simd_json::StaticNode::F64(f)) => Edn::Float(f),
                _ => Edn::Float(f64::NAN),
            },
            Kind::Str => Edn::Str(v.as_str().unwrap_or_default().to_owned().into()),
            Kind::Array => Edn::Vector(
                v.as_array().into_iter().flat_map(|a| a.iter()).map(Edn::from_json).collect(),
            ),
            Kind::Object => Edn::Map(
                v.as_object()
                    .into_iter()
                    .flat_map(|o| o.iter())
                    .map(|(k, e)| (Edn::Str(k.to_owned().into()), Edn::from_json(e)))
                    .collect(),
            ),
        }
    }

    /// Appends this value as compact JSON, if it is one JSON can carry: `nil`, booleans,
    /// integers, finite doubles, strings, vectors and lists, and maps whose keys are strings
    /// or keywords (a keyword key becomes its name, as JSON parsers keywordize them back).
    /// Returns false, leaving `out` as it was, for anything else.
    pub fn write_json(&self, out: &mut String) -> bool {
        let mark = out.len();
        let ok = self.write_json_inner(out);
        if !ok {
            out.truncate(mark);
        }
        ok
    }

    fn write_json_inner(&self, out: &mut String) -> bool {
        match self {
            Edn::Nil => out.push_str("null"),
            Edn::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Edn::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Edn::Float(f) if f.is_finite() => {
                let _ = write!(out, "{f:?}");
            }
            Edn::Str(s) => json_string(out, s),
            Edn::Vector(v) | Edn::List(v) => {
                out.push('[');
                for (i, e) in v.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    if !e.write_json_inner(out) {
                        return false;
                    }
                }
                out.push(']');
            }
            Edn::Map(m) => {
                out.push('{');
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let Some(name) = k.as_name() else { return false };
                    json_string(out, name);
                    out.push(':');
                    if !v.write_json_inner(out) {
                        return false;
                    }
                }
                out.push('}');
            }
            _ => return false,
        }
        true
    }

    /// This value printed as EDN, cut to about `max` bytes (for error messages).
    pub fn brief(&self, max: usize) -> String {
        let mut s = self.to_string();
        if s.len() > max {
            let mut cut = max;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
            s.push_str(" ...");
        }
        s
    }
}

/// Appends `s` as a JSON string literal.
pub fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends `s` as an EDN string literal, escaped as Clojure's printer escapes it.
pub fn edn_string(out: &mut impl fmt::Write, s: &str) -> fmt::Result {
    out.write_char('"')?;
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\t' => "\\t",
            b'\r' => "\\r",
            8 => "\\b",
            12 => "\\f",
            _ => continue,
        };
        out.write_str(&s[start..i])?;
        out.write_str(esc)?;
        start = i + 1;
    }
    out.write_str(&s[start..])?;
    out.write_char('"')
}

/// Character names Clojure prints and reads (`\newline`, ...).
const CHAR_NAMES: &[(&str, char)] = &[
    ("newline", '\n'),
    ("space", ' '),
    ("tab", '\t'),
    ("return", '\r'),
    ("backspace", '\u{8}'),
    ("formfeed", '\u{c}'),
];

fn write_seq(
    f: &mut fmt::Formatter<'_>,
    open: &str,
    items: &[Edn<'_>],
    close: char,
) -> fmt::Result {
    f.write_str(open)?;
    for (i, e) in items.iter().enumerate() {
        if i > 0 {
            f.write_char(' ')?;
        }
        write!(f, "{e}")?;
    }
    f.write_char(close)
}

/// Prints EDN the reader reads back to an equal value (maps as `{k v, k v}`, like `prn`).
impl fmt::Display for Edn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Edn::Nil => f.write_str("nil"),
            Edn::Bool(b) => write!(f, "{b}"),
            Edn::Int(i) => write!(f, "{i}"),
            Edn::Float(x) => {
                let mut s = String::new();
                push_f64(&mut s, *x);
                f.write_str(&s)
            }
            Edn::Number(n) => f.write_str(n),
            Edn::Str(s) => edn_string(f, s),
            Edn::Char(c) => match CHAR_NAMES.iter().find(|(_, ch)| ch == c) {
                Some((name, _)) => write!(f, "\\{name}"),
                None if c.is_control() => write!(f, "\\u{:04x}", *c as u32),
                None => write!(f, "\\{c}"),
            },
            Edn::Keyword(k) => write!(f, ":{k}"),
            Edn::Symbol(s) => f.write_str(s),
            Edn::List(v) => write_seq(f, "(", v, ')'),
            Edn::Vector(v) => write_seq(f, "[", v, ']'),
            Edn::Set(v) => write_seq(f, "#{", v, '}'),
            Edn::Map(m) => {
                f.write_char('{')?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k} {v}")?;
                }
                f.write_char('}')
            }
            Edn::Tagged(t, v) => write!(f, "#{t} {v}"),
        }
    }
}

/// Why reading stopped, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// Byte offset in the text.
    pub pos: usize,
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub col: usize,
    /// What was wrong.
    pub msg: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}: {}", self.line, self.col, self.msg)
    }
}

impl std::error::Error for Error {}

/// The line (from 1) and column (in characters, from 1) of byte offset `pos` in `text`.
pub fn line_col(text: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(text.len());
    let before = &text.as_bytes()[..pos];
    let line = memchr::memchr_iter(b'\n', before).count() + 1;
    let start = memchr::memrchr(b'\n', before).map_or(0, |i| i + 1);
    let mut p = pos;
    while !text.is_char_boundary(p) {
        p -= 1;
    }
    (line, text[start..p].chars().count() + 1)
}

/// Bytes that end a token (symbol, keyword, number, character): whitespace, commas and the
/// characters Clojure's reader treats as macros, except `#` and `'` inside a token.
const ENDS_TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let ends = b" \t\n\r\x0c,()[]{}\";\\@^`~";
    let mut i = 0;
    while i < ends.len() {
        t[ends[i] as usize] = true;
        i += 1;
    }
    t
};

/// Whether `b` ends a token.
fn ends_token(b: u8) -> bool {
    ENDS_TOKEN[b as usize]
}

/// A reader over one text: values one after another ([`Reader::next_value`]), or the
/// elements of one top-level vector or list one at a time ([`Reader::enter_seq`],
/// [`Reader::next_in_seq`]), so a huge history never needs to be held as one value.
pub struct Reader<'a> {
    text: &'a str,
    b: &'a [u8],
    pos: usize,
    depth: usize,
    /// Elements of the collections being read, innermost last: each collection is moved out
    /// into a vector of its exact size when it closes.
    stack: Vec<Edn<'a>>,
}

type R<T> = Result<T, Error>;

impl<'a> Reader<'a> {
    /// A reader at the start of `text`.
    pub fn new(text: &'a str) -> Reader<'a> {
        Reader { text, b: text.as_bytes(), pos: 0, depth: 0, stack: Vec::new() }
    }

    /// The byte offset reading has reached.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// An error at byte offset `pos`.
    pub fn error_at(&self, pos: usize, msg: impl Into<String>) -> Error {
        let (line, col) = line_col(self.text, pos);
        Error { pos, line, col, msg: msg.into() }
    }

    fn err<T>(&self, pos: usize, msg: impl Into<String>) -> R<T> {
        Err(self.error_at(pos, msg))
    }

    /// Skips whitespace, commas, comments and `#_` discards; returns the next byte, if any.
    pub fn skip_blank(&mut self) -> R<Option<u8>> {
        loop {
            let Some(&c) = self.b.get(self.pos) else { return Ok(None) };
            match c {
                b' ' | b'\t' | b'\n' | b'\r' | b',' | 0x0c => self.pos += 1,
                b';' => {
                    self.pos = match memchr::memchr(b'\n', &self.b[self.pos..]) {
                        Some(i) => self.pos + i + 1,
                        None => self.b.len(),
                    }
                }
                b'#' if self.b.get(self.pos + 1) == Some(&b'_') => {
                    let at = self.pos;
                    self.pos += 2;
                    if self.value()?.is_none() {
                        return self.err(at, "#_ discards nothing");
                    }
                }
                _ => return Ok(Some(c)),
            }
        }
    }

    /// The next top-level value, or `None` at the end of the text.
    pub fn next_value(&mut self) -> R<Option<Edn<'a>>> {
        match self.value()? {
            Some(v) => Ok(Some(v)),
            None => match self.b.get(self.pos) {
                None => Ok(None),
                Some(&c) => self.err(self.pos, format!("unmatched `{}`", c as char)),
            },
        }
    }

    /// If the next value is a vector or list, consumes its opening bracket and returns the
    /// closing one to pass to [`Reader::next_in_seq`].
    pub fn enter_seq(&mut self) -> R<Option<u8>> {
        match self.skip_blank()? {
            Some(b'[') => {
                self.pos += 1;
                Ok(Some(b']'))
            }
            Some(b'(') => {
                self.pos += 1;
                Ok(Some(b')'))
            }
            _ => Ok(None),
        }
    }

    /// The next element of the sequence entered with [`Reader::enter_seq`], or `None` once
    /// its `close` is consumed.
    pub fn next_in_seq(&mut self, close: u8) -> R<Option<Edn<'a>>> {
        match self.value()? {
            Some(v) => Ok(Some(v)),
            None => match self.b.get(self.pos) {
                Some(&c) if c == close => {
                    self.pos += 1;
                    Ok(None)
                }
                Some(&c) => self
                    .err(self.pos, format!("expected `{}`, found `{}`", close as char, c as char)),
                None => self
                    .err(self.pos, format!("the text ends before the closing `{}`", close as char)),
            },
        }
    }

    /// Reads one value; `None` (with the position on it) at a closing delimiter or the end.
    fn value(&mut self) -> R<Option<Edn<'a>>> {
        let Some(c) = self.skip_blank()? else { return Ok(None) };
        let at = self.pos;
        let v = match c {
            b')' | b']' | b'}' => return Ok(None),
            b'(' => Edn::List(self.seq(b')')?),
            b'[' => Edn::Vector(self.seq(b']')?),
            b'{' => self.map()?,
            b'"' => Edn::Str(self.string()?),
            b'\\' => Edn::Char(self.character()?),
            b'#' => self.dispatch()?,
            b'\'' | b'@' | b'^' | b'`' | b'~' => {
                return self.err(at, format!("`{}` is a Clojure reader macro, not EDN", c as char));
            }
            _ => self.atom()?,
        };
        Ok(Some(v))
    }

    fn descend(&mut self, at: usize) -> R<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err(at, format!("nested deeper than {MAX_DEPTH}"));
        }
        Ok(())
    }

    /// The elements up to `close`; the position is on the opening delimiter.
    fn seq(&mut self, close: u8) -> R<Vec<Edn<'a>>> {
        let mark = self.elements(close)?;
        Ok(self.stack.drain(mark..).collect())
    }

    /// Reads the elements up to `close` onto the stack and returns where they begin; the
    /// position is on the opening delimiter.
    fn elements(&mut self, close: u8) -> R<usize> {
        let at = self.pos;
        self.descend(at)?;
        self.pos += 1;
        let mark = self.stack.len();
        loop {
            match self.value()? {
                Some(v) => self.stack.push(v),
                None => match self.b.get(self.pos) {
                    Some(&c) if c == close => break,
                    Some(&c) => {
                        let opened = line_col(self.text, at).0;
                        let open = self.b[at] as char;
                        let msg = format!(
                            "`{}` closes a collection opened with `{open}` at line {opened}",
                            c as char
                        );
                        return self.err(self.pos, msg);
                    }
                    None => {
                        return self.err(at, format!("`{}` is never closed", self.b[at] as char));
                    }
                },
            }
        }
        self.pos += 1;
        self.depth -= 1;
        Ok(mark)
    }

    fn map(&mut self) -> R<Edn<'a>> {
        let at = self.pos;
        let mark = self.elements(b'}')?;
        if (self.stack.len() - mark) % 2 == 1 {
            return self.err(at, "a map needs an even number of forms");
        }
        let mut pairs = Vec::with_capacity((self.stack.len() - mark) / 2);
        let mut it = self.stack.drain(mark..);
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            pairs.push((k, v));
        }
        Ok(Edn::Map(pairs))
    }

    /// `#{...}`, `##Inf`, `#tag value`; the position is on the `#`.
    fn dispatch(&mut self) -> R<Edn<'a>> {
        let at = self.pos;
        match self.b.get(at + 1) {
            Some(b'{') => {
                self.pos += 1;
                Ok(Edn::Set(self.seq(b'}')?))
            }
            Some(b'#') => {
                self.pos += 2;
                let tok = self.token();
                match tok {
                    "Inf" => Ok(Edn::Float(f64::INFINITY)),
                    "-Inf" => Ok(Edn::Float(f64::NEG_INFINITY)),
                    "NaN" => Ok(Edn::Float(f64::NAN)),
                    _ => self.err(at, format!("unknown symbolic value ##{tok}")),
                }
            }
            Some(c) if c.is_ascii_alphabetic() => {
                self.pos += 1;
                let tag = self.token();
                self.descend(at)?;
                let Some(v) = self.value()? else {
                    return self.err(at, format!("tag #{tag} has no value"));
                };
                self.depth -= 1;
                Ok(Edn::Tagged(tag, Box::new(v)))
            }
            Some(b'"') => self.err(at, "regular expressions (#\"...\") are not EDN"),
            Some(&c) => {
                self.err(at, format!("`#{}` is a Clojure reader macro, not EDN", c as char))
            }
            None => self.err(at, "the text ends after `#`"),
        }
    }

    /// The token starting at the position (up to a delimiter); may be empty.
    fn token(&mut self) -> &'a str {
        let start = self.pos;
        let mut i = start;
        while i < self.b.len() && !ends_token(self.b[i]) {
            i += 1;
        }
        self.pos = i;
        &self.text[start..i]
    }

    /// A keyword, symbol, number, `nil`, `true` or `false`.
    fn atom(&mut self) -> R<Edn<'a>> {
        let at = self.pos;
        let tok = self.token();
        let bytes = tok.as_bytes();
        let Some(&first) = bytes.first() else {
            return self.err(at, format!("unexpected `{}`", self.b[at] as char));
        };
        if first.is_ascii_digit()
            || (matches!(first, b'+' | b'-') && bytes.get(1).is_some_and(u8::is_ascii_digit))
        {
            return number(tok).map_err(|m| self.error_at(at, m));
        }
        match tok {
            "nil" => return Ok(Edn::Nil),
            "true" => return Ok(Edn::Bool(true)),
            "false" => return Ok(Edn::Bool(false)),
            _ => {}
        }
        if first == b':' {
            let name = &tok[1..];
            if !valid_name(name) || name.starts_with(':') {
                return self.err(at, format!("invalid keyword `{tok}`"));
            }
            return Ok(Edn::Keyword(name));
        }
        if first == b'#' || !valid_name(tok) {
            return self.err(at, format!("invalid symbol `{tok}`"));
        }
        Ok(Edn::Symbol(tok))
    }

    /// A string; the position is on the opening quote.
    fn string(&mut self) -> R<Cow<'a, str>> {
        let open = self.pos;
        let start = open + 1;
        let Some(i) = memchr::memchr2(b'"', b'\\', &self.b[start..]) else {
            return self.err(open, "this string is never closed");
        };
        if self.b[start + i] == b'"' {
            self.pos = start + i + 1;
            return Ok(Cow::Borrowed(&self.text[start..start + i]));
        }
        let mut s = String::with_capacity(i + 16);
        let mut p = start;
        loop {
            let Some(i) = memchr::memchr2(b'"', b'\\', &self.b[p..]) else {
                return self.err(open, "this string is never closed");
            };
            s.push_str(&self.text[p..p + i]);
            p += i;
            if self.b[p] == b'"' {
                self.pos = p + 1;
                return Ok(Cow::Owned(s));
            }
            let esc = p;
            let c = match self.b.get(p + 1) {
                Some(b'"') => '"',
                Some(b'\\') => '\\',
                Some(b'n') => '\n',
                Some(b't') => '\t',
                Some(b'r') => '\r',
                Some(b'b') => '\u{8}',
                Some(b'f') => '\u{c}',
                Some(b'u') => {
                    let (c, len) = self.unicode_escape(p + 2, esc)?;
                    s.push(c);
                    p += 2 + len;
                    continue;
                }
                Some(d) if (b'0'..=b'7').contains(d) => {
                    let mut n = 0u32;
                    let mut len = 0;
                    while len < 3
                        && self.b.get(p + 1 + len).is_some_and(|d| (b'0'..=b'7').contains(d))
                    {
                        n = n * 8 + u32::from(self.b[p + 1 + len] - b'0');
                        len += 1;
                    }
                    if n > 0o377 {
                        return self.err(esc, "octal escape beyond \\377");
                    }
                    s.push(char::from_u32(n).expect("below 256"));
                    p += 1 + len;
                    continue;
                }
                _ => {
                    let shown = self.text[p..].chars().take(2).collect::<String>();
                    return self.err(esc, format!("unsupported escape `{shown}` in a string"));
                }
            };
            s.push(c);
            p += 2;
        }
    }

    /// `XXXX` hex digits (a surrogate pair as two `\uXXXX`) at `p`: the char and bytes used.
    fn unicode_escape(&self, p: usize, esc: usize) -> R<(char, usize)> {
        let hex = |q: usize| -> Option<u32> {
            let h = self.text.get(q..q + 4)?;
            if !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            u32::from_str_radix(h, 16).ok()
        };
        let Some(hi) = hex(p) else { return self.err(esc, "\\u needs four hex digits") };
        if (0xD800..0xDC00).contains(&hi) {
            if self.b.get(p + 4..p + 6) == Some(b"\\u") {
                if let Some(lo) = hex(p + 6).filter(|lo| (0xDC00..0xE000).contains(lo)) {
                    let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                    return Ok((char::from_u32(c).expect("valid pair"), 10));
                }
            }
            return self.err(esc, "unpaired surrogate in a \\u escape");
        }
        match char::from_u32(hi) {
            Some(c) => Ok((c, 4)),
            None => self.err(esc, "unpaired surrogate in a \\u escape"),
        }
    }

    /// A character literal; the position is on the backslash.
    fn character(&mut self) -> R<char> {
        let at = self.pos;
        self.pos += 1;
        // The first character is taken whatever it is (`\(` is a paren), then the token goes on.
        let Some(first) = self.text[self.pos..].chars().next() else {
            return self.err(at, "the text ends after `\\`");
        };
        let start = self.pos;
        self.pos += first.len_utf8();
        while self.pos < self.b.len() && !ends_token(self.b[self.pos]) {
            self.pos += 1;
        }
        let tok = &self.text[start..self.pos];
        if tok.len() == first.len_utf8() {
            return Ok(first);
        }
        if let Some((_, c)) = CHAR_NAMES.iter().find(|(n, _)| *n == tok) {
            return Ok(*c);
        }
        if let Some(h) = tok.strip_prefix('u').filter(|h| h.len() == 4) {
            if let Some(c) = u32::from_str_radix(h, 16).ok().and_then(char::from_u32) {
                return Ok(c);
            }
        }
        if let Some(o) = tok.strip_prefix('o').filter(|o| (1..=3).contains(&o.len())) {
            if let Some(c) =
                u32::from_str_radix(o, 8).ok().filter(|n| *n <= 0o377).and_then(char::from_u32)
            {
                return Ok(c);
            }
        }
        self.err(at, format!("invalid character literal `\\{tok}`"))
    }
}

/// Whether `name` can be a symbol or a keyword's name: letters, digits and
/// `* + ! - _ ' ? < > = / . & % $ # | :`, not ending with `/` (`/` alone is a symbol).
fn valid_name(name: &str) -> bool {
    const ASCII: [bool; 128] = {
        let mut t = [false; 128];
        let mut c = 0;
        while c < 128 {
            t[c] = (c as u8).is_ascii_alphanumeric();
            c += 1;
        }
        let extra = b"*+!-_'?<>=/.&%$#|:";
        let mut i = 0;
        while i < extra.len() {
            t[extra[i] as usize] = true;
            i += 1;
        }
        t
    };
    let ok = |c: char| match c {
        c if c.is_ascii() => ASCII[c as usize],
        c => c.is_alphanumeric(),
    };
    !name.is_empty()
        && (name == "/" || !name.ends_with('/'))
        && if name.is_ascii() {
            name.bytes().all(|b| ASCII[b as usize])
        } else {
            name.chars().all(ok)
        }
}

/// Whether `name` prints as a keyword that reads back (`:name`).
pub fn is_keyword_name(name: &str) -> bool {
    valid_name(name) && !name.starts_with(':')
}

/// A number token (starts with a digit, or a sign and a digit).
fn number(tok: &str) -> Result<Edn<'_>, String> {
    let bad = || format!("invalid number `{tok}`");
    let (neg, digits) = match tok.as_bytes()[0] {
        b'-' => (true, &tok[1..]),
        b'+' => (false, &tok[1..]),
        _ => (false, tok),
    };
    let int_part = digits.bytes().take_while(u8::is_ascii_digit).count();
    let rest = &digits[int_part..];
    let leading_zero = int_part > 1 && digits.starts_with('0');
    match rest {
        "" | "N" => {
            if leading_zero {
                return Err(format!("octal integers such as `{tok}` are not supported"));
            }
            let mut n: i64 = 0;
            for d in digits[..int_part].bytes() {
                let d = i64::from(d - b'0');
                match n
                    .checked_mul(10)
                    .and_then(|n| if neg { n.checked_sub(d) } else { n.checked_add(d) })
                {
                    Some(m) => n = m,
                    None => return Ok(Edn::Number(tok)),
                }
            }
            Ok(Edn::Int(n))
        }
        _ if rest.starts_with('/') => {
            let den = &rest[1..];
            if !den.is_empty() && den.bytes().all(|b| b.is_ascii_digit()) && !leading_zero {
                Ok(Edn::Number(tok))
            } else {
                Err(bad())
            }
        }
        _ if rest.starts_with(['.', 'e', 'E']) => {
            if leading_zero {
                return Err(bad());
            }
            if let Some(dec) = tok.strip_suffix('M') {
                return dec.parse::<f64>().map(|_| Edn::Number(tok)).map_err(|_| bad());
            }
            // Rust accepts forms Clojure does not ("1.e5" is fine in both); reject letters
            // other than the exponent first.
            if rest
                .bytes()
                .any(|b| !(b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-')))
            {
                return Err(bad());
            }
            tok.parse::<f64>().map(Edn::Float).map_err(|_| bad())
        }
        "M" if !leading_zero => Ok(Edn::Number(tok)),
        _ if int_part == 1 && digits.starts_with('0') && rest.starts_with(['x', 'X']) => {
            // Hex, which Clojure prints in `#object[... 0x5e1f ...]`.
            let hex = rest[1..].strip_suffix('N').unwrap_or(&rest[1..]);
            if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad());
            }
            Ok(match i64::from_str_radix(hex, 16) {
                Ok(n) if neg => Edn::Int(-n),
                Ok(n) => Edn::Int(n),
                Err(_) => Edn::Number(tok),
            })
        }
        _ if rest.starts_with('r') => {
            Err(format!("radix integers such as `{tok}` are not supported"))
        }
        _ => Err(bad()),
    }
}

/// Reads every top-level value of `text`.
pub fn read_all(text: &str) -> Result<Vec<Edn<'_>>, Error> {
    let mut r = Reader::new(text);
    let mut out = Vec::new();
    while let Some(v) = r.next_value()? {
        out.push(v);
    }
    Ok(out)
}

/// Reads exactly one value from `text` (comments and blanks around it allowed).
pub fn read_one(text: &str) -> Result<Edn<'_>, Error> {
    let mut r = Reader::new(text);
    let Some(v) = r.next_value()? else { return Err(r.error_at(text.len(), "no value")) };
    if r.skip_blank()?.is_some() {
        let p = r.pos();
        return Err(r.error_at(p, "more than one value"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests;
