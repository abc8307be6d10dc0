//! EDN, the Clojure data notation Maelstrom's `results.edn` and `history.edn` are written
//! in: a writer (any `serde::Serialize` value, as Clojure's `pr` prints it) and a small
//! reader (for tests, and for reading Maelstrom's files back).
//!
//! The writer maps serde's data model onto what Jepsen writes:
//!
//! - struct fields become keywords, `snake_case` turned `kebab-case`, and `valid` and
//!   `final` become `:valid?` and `:final?`;
//! - [`Validity`](crate::sim::workloads::Validity) becomes `true`, `false` or `:unknown`;
//!   other unit enum variants become keywords (`OpType::Ok` is `:ok`);
//! - a value wrapped in [`Keyword`] becomes a keyword (`"r"` is `:r` in a transaction); one
//!   wrapped in [`Quantiles`](crate::sim::workloads::Quantiles) (a list of `(point, value)`
//!   pairs) becomes a map `{0 0, 0.5 159, ...}`, as Jepsen's quantile maps print;
//! - sequences become vectors, maps stay maps (string keys stay strings), `None` is `nil`,
//!   floats print as Clojure doubles do (`1.0`, `##NaN`, `##Inf`).
//!
//! In JSON, both wrappers are invisible: serde serializers pass newtype structs through.

use std::fmt::{self, Write as _};

use serde::ser::{self, Serialize};

/// A string written as an EDN keyword (`:name`); plain text in JSON.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Keyword<'a>(pub &'a str);

/// The newtype-struct name the writer recognises for [`Keyword`].
pub const KEYWORD: &str = "glomers.Keyword";
/// The newtype-struct name the writer recognises for quantile lists.
pub const QUANTILES: &str = "glomers.Quantiles";

impl Serialize for Keyword<'_> {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_newtype_struct(KEYWORD, self.0)
    }
}

/// Why writing stopped.
#[derive(Debug)]
pub enum Error {
    /// The byte budget of [`write_capped`] ran out.
    Full,
    /// A value serde could not express (a custom error).
    Custom(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Full => f.write_str("budget exhausted"),
            Error::Custom(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::Custom(msg.to_string())
    }
}

/// Appends `value` as EDN to `out`.
pub fn write<T: Serialize + ?Sized>(out: &mut String, value: &T) -> Result<(), Error> {
    value.serialize(&mut Writer { out, limit: usize::MAX, keyword_next: false, quantiles: false })
}

/// `value` as EDN.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> String {
    let mut s = String::new();
    if let Err(e) = write(&mut s, value) {
        s.clear();
        let _ = write!(s, "{{:error {}}}", quote(&e.to_string()));
    }
    s
}

/// Appends `value` as EDN to `out`, stopping once `out` is `budget` bytes longer (then
/// appends `…` and returns false). Cheap for huge values: nothing past the budget is built.
pub fn write_capped<T: Serialize + ?Sized>(out: &mut String, value: &T, budget: usize) -> bool {
    let limit = out.len().saturating_add(budget);
    match value.serialize(&mut Writer { out, limit, keyword_next: false, quantiles: false }) {
        Ok(()) => true,
        Err(_) => {
            let mut cut = limit.min(out.len());
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push('…');
            false
        }
    }
}

/// `s` as an EDN string literal.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_str_lit(&mut out, s);
    out
}

fn push_str_lit(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A struct field's keyword name: kebab-case, with Jepsen's `?` on predicates.
pub fn key_name(field: &str) -> String {
    match field {
        "valid" => "valid?".into(),
        "final" | "is_final" => "final?".into(),
        f => f.replace('_', "-"),
    }
}

/// Appends an enum variant's name in kebab-case (`MinorityThird` is `minority-third`).
fn push_kebab(out: &mut String, name: &str) {
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(if c == '_' { '-' } else { c });
        }
    }
}

/// Two-digit pairs "00".."99" for [`push_u64`].
const DIGIT_PAIRS: &str = "\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Appends `v` in decimal, two digits a step from a table (histories are mostly integers,
/// and `core::fmt` was the largest cost of writing them).
pub fn push_u64(out: &mut String, v: u64) {
    if v < 100 {
        let d = v as usize * 2;
        out.push_str(if v < 10 { &DIGIT_PAIRS[d + 1..d + 2] } else { &DIGIT_PAIRS[d..d + 2] });
    } else {
        push_u64(out, v / 100);
        let d = (v % 100) as usize * 2;
        out.push_str(&DIGIT_PAIRS[d..d + 2]);
    }
}

/// Appends `v` in decimal.
pub fn push_i64(out: &mut String, v: i64) {
    if v < 0 {
        out.push('-');
    }
    push_u64(out, v.unsigned_abs());
}

/// A double as Clojure prints it.
pub fn push_f64(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("##NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "##Inf" } else { "##-Inf" });
    } else {
        // `{:?}` always has a decimal point or an exponent, as a double must.
        let _ = write!(out, "{v:?}");
    }
}

struct Writer<'o> {
    out: &'o mut String,
    /// Stop with [`Error::Full`] once `out` reaches this length.
    limit: usize,
    /// The next string is written as a keyword.
    keyword_next: bool,
    /// The next sequence is a quantile list, written as a map.
    quantiles: bool,
}

impl Writer<'_> {
    fn check(&self) -> Result<(), Error> {
        if self.out.len() > self.limit { Err(Error::Full) } else { Ok(()) }
    }
}

impl<'a, 'o> ser::Serializer for &'a mut Writer<'o> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Seq<'a, 'o>;
    type SerializeTuple = Seq<'a, 'o>;
    type SerializeTupleStruct = Seq<'a, 'o>;
    type SerializeTupleVariant = Seq<'a, 'o>;
    type SerializeMap = Map<'a, 'o>;
    type SerializeStruct = Map<'a, 'o>;
    type SerializeStructVariant = Map<'a, 'o>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out.push_str(if v { "true" } else { "false" });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        push_i64(self.out, v);
        self.check()
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        push_u64(self.out, v);
        self.check()
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        push_f64(self.out, v);
        self.check()
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        let mut b = [0; 4];
        self.serialize_str(v.encode_utf8(&mut b))
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        if std::mem::take(&mut self.keyword_next) {
            self.out.push(':');
            self.out.push_str(v);
        } else {
            push_str_lit(self.out, v);
        }
        self.check()
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        use ser::SerializeSeq;
        let mut s = self.serialize_seq(Some(v.len()))?;
        for b in v {
            s.serialize_element(b)?;
        }
        s.end()
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.out.push_str("nil");
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Error> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.serialize_none()
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        self.serialize_none()
    }
    fn serialize_unit_variant(
        self,
        name: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        match (name, variant) {
            ("Validity", "true") => self.out.push_str("true"),
            ("Validity", "false") => self.out.push_str("false"),
            _ => {
                self.out.push(':');
                push_kebab(self.out, variant);
            }
        }
        self.check()
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        match name {
            KEYWORD => self.keyword_next = true,
            QUANTILES => self.quantiles = true,
            _ => {}
        }
        let r = v.serialize(&mut *self);
        self.keyword_next = false;
        self.quantiles = false;
        r
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        self.out.push_str("{:");
        self.out.push_str(&key_name(variant));
        self.out.push(' ');
        v.serialize(&mut *self)?;
        self.out.push('}');
        self.check()
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Seq<'a, 'o>, Error> {
        let as_map = std::mem::take(&mut self.quantiles);
        self.out.push(if as_map { '{' } else { '[' });
        Ok(Seq { w: self, first: true, as_map, close: if as_map { "}" } else { "]" } })
    }
    fn serialize_tuple(self, len: usize) -> Result<Seq<'a, 'o>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Seq<'a, 'o>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Seq<'a, 'o>, Error> {
        self.out.push_str("{:");
        self.out.push_str(&key_name(variant));
        self.out.push_str(" [");
        Ok(Seq { w: self, first: true, as_map: false, close: "]}" })
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Map<'a, 'o>, Error> {
        self.out.push('{');
        Ok(Map { w: self, first: true, close: "}" })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Map<'a, 'o>, Error> {
        self.serialize_map(None)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Map<'a, 'o>, Error> {
        self.out.push_str("{:");
        self.out.push_str(&key_name(variant));
        self.out.push_str(" {");
        Ok(Map { w: self, first: true, close: "}}" })
    }
}

#[doc(hidden)]
pub struct Seq<'a, 'o> {
    w: &'a mut Writer<'o>,
    first: bool,
    /// A quantile list: each element is a `(point, value)` pair written as `point value`.
    as_map: bool,
    close: &'static str,
}

impl Seq<'_, '_> {
    fn element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        if !self.first {
            self.w.out.push_str(if self.as_map { ", " } else { " " });
        }
        self.first = false;
        if self.as_map {
            v.serialize(&mut PairWriter { w: &mut *self.w })
        } else {
            v.serialize(&mut *self.w)
        }
    }
    fn finish(self) -> Result<(), Error> {
        self.w.out.push_str(self.close);
        self.w.check()
    }
}

impl ser::SerializeSeq for Seq<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.element(v)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}
impl ser::SerializeTuple for Seq<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.element(v)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}
impl ser::SerializeTupleStruct for Seq<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.element(v)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}
impl ser::SerializeTupleVariant for Seq<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.element(v)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

#[doc(hidden)]
pub struct Map<'a, 'o> {
    w: &'a mut Writer<'o>,
    first: bool,
    close: &'static str,
}

impl Map<'_, '_> {
    fn sep(&mut self) {
        if !self.first {
            self.w.out.push_str(", ");
        }
        self.first = false;
    }
}

impl ser::SerializeMap for Map<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), Error> {
        self.sep();
        k.serialize(&mut *self.w)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.w.out.push(' ');
        v.serialize(&mut *self.w)
    }
    fn end(self) -> Result<(), Error> {
        self.w.out.push_str(self.close);
        self.w.check()
    }
}
impl ser::SerializeStruct for Map<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        self.sep();
        self.w.out.push(':');
        self.w.out.push_str(&key_name(key));
        self.w.out.push(' ');
        v.serialize(&mut *self.w)
    }
    fn end(self) -> Result<(), Error> {
        self.w.out.push_str(self.close);
        self.w.check()
    }
}
impl ser::SerializeStructVariant for Map<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        ser::SerializeStruct::serialize_field(self, key, v)
    }
    fn end(self) -> Result<(), Error> {
        self.w.out.push_str(self.close);
        self.w.check()
    }
}

/// Writes a `(point, value)` pair of a quantile list as `point value`, whole points as
/// integers (Jepsen's points are `[0 0.5 0.95 0.99 1]`).
struct PairWriter<'a, 'o> {
    w: &'a mut Writer<'o>,
}

impl<'b, 'a, 'o> ser::Serializer for &'b mut PairWriter<'a, 'o> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = PairSeq<'b, 'a, 'o>;
    type SerializeTuple = PairSeq<'b, 'a, 'o>;
    type SerializeTupleStruct = ser::Impossible<(), Error>;
    type SerializeTupleVariant = ser::Impossible<(), Error>;
    type SerializeMap = ser::Impossible<(), Error>;
    type SerializeStruct = ser::Impossible<(), Error>;
    type SerializeStructVariant = ser::Impossible<(), Error>;

    fn serialize_seq(self, _: Option<usize>) -> Result<PairSeq<'b, 'a, 'o>, Error> {
        Ok(PairSeq { p: self, n: 0 })
    }
    fn serialize_tuple(self, _: usize) -> Result<PairSeq<'b, 'a, 'o>, Error> {
        Ok(PairSeq { p: self, n: 0 })
    }
    fn serialize_bool(self, _: bool) -> Result<(), Error> {
        Err(not_a_pair())
    }
    fn serialize_i8(self, _: i8) -> Result<(), Error> {
        Err(not_a_pair())
    }
    fn serialize_i16(self, _: i16) -> Result<(), Error> {
        Err(not_a_pair())
    }
    fn serialize_i32(self, _: i32) -> Result<(), Error> {
        Err(not_a_pair())
    }
    fn serialize_i64(self, _: i64) -> Result<(), Error> {
        Err(not_a_pair())
    }
    fn serialize_u8(self, _: u8) -> Result<(), Error> {
        Err(not_a_pair())
    }
    fn serialize_u16(self, _: u16) -> Result<(), Error> {
        Err(not_a_pair())
    }
    fn serialize_u32(self, _: u32) -> Result<(), Error> {
        Err(not_a_pair())
    }
    fn serialize_u64(self, _: u64) -> Result<(), Error> {
        Err(not_a_pair())
    }
    fn serialize_f32(self, _: f32) -> Result<(), Error> {
        Err(not_a_pair())
    }
    fn serialize_f64(self, _: f64) -> Result<(), Error> {
        Err(not_a_pair())
    }
    fn serialize_char(self, _: char) -> Result<(), Error> {
        Err(not_a_pair())
    }
    fn serialize_str(self, _: &str) -> Result<(), Error> {
        Err(not_a_pair())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Error> {
        Err(not_a_pair())
    }
    fn serialize_none(self) -> Result<(), Error> {
        Err(not_a_pair())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), Error> {
        Err(not_a_pair())
    }
    fn serialize_unit(self) -> Result<(), Error> {
        Err(not_a_pair())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        Err(not_a_pair())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), Error> {
        Err(not_a_pair())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<(), Error> {
        Err(not_a_pair())
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Error> {
        Err(not_a_pair())
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(not_a_pair())
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(not_a_pair())
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(not_a_pair())
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Error> {
        Err(not_a_pair())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(not_a_pair())
    }
}

fn not_a_pair() -> Error {
    Error::Custom("a quantile list holds (point, value) pairs".into())
}

#[doc(hidden)]
pub struct PairSeq<'b, 'a, 'o> {
    p: &'b mut PairWriter<'a, 'o>,
    n: usize,
}

impl PairSeq<'_, '_, '_> {
    fn element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        if self.n == 1 {
            self.p.w.out.push(' ');
        }
        if self.n == 0 {
            // The point: a whole number prints as an integer.
            let mut s = String::new();
            v.serialize(&mut Writer {
                out: &mut s,
                limit: usize::MAX,
                keyword_next: false,
                quantiles: false,
            })?;
            match s.strip_suffix(".0") {
                Some(whole) => self.p.w.out.push_str(whole),
                None => self.p.w.out.push_str(&s),
            }
        } else {
            v.serialize(&mut *self.p.w)?;
        }
        self.n += 1;
        Ok(())
    }
}

impl ser::SerializeSeq for PairSeq<'_, '_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.element(v)
    }
    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}
impl ser::SerializeTuple for PairSeq<'_, '_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.element(v)
    }
    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

/// A value read from EDN.
#[derive(Clone, Debug, PartialEq)]
pub enum Edn {
    /// `nil`.
    Nil,
    /// `true` or `false`.
    Bool(bool),
    /// An integer (`N` suffixes dropped).
    Int(i64),
    /// A double (ratios and `M` decimals read as doubles too).
    Float(f64),
    /// A string.
    Str(String),
    /// A character literal.
    Char(char),
    /// A keyword, without its colon.
    Keyword(String),
    /// A symbol.
    Symbol(String),
    /// `( ... )`.
    List(Vec<Edn>),
    /// `[ ... ]`.
    Vector(Vec<Edn>),
    /// `{ ... }`, in written order.
    Map(Vec<(Edn, Edn)>),
    /// `#{ ... }`.
    Set(Vec<Edn>),
    /// `#tag value` (records such as `#jepsen.history.Op{...}` included).
    Tagged(String, Box<Edn>),
}

impl Edn {
    /// The value under keyword `key`, if this is a map that has it.
    pub fn get(&self, key: &str) -> Option<&Edn> {
        match self {
            Edn::Map(kv) => {
                kv.iter().find(|(k, _)| matches!(k, Edn::Keyword(s) if s == key)).map(|(_, v)| v)
            }
            Edn::Tagged(_, v) => v.get(key),
            _ => None,
        }
    }

    /// The value at a path of keywords.
    pub fn at(&self, path: &[&str]) -> Option<&Edn> {
        path.iter().try_fold(self, |v, k| v.get(k))
    }

    /// A number as a double.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Edn::Int(i) => Some(*i as f64),
            Edn::Float(f) => Some(*f),
            _ => None,
        }
    }
}

/// Reads one EDN value from `s` (surrounding whitespace and comments allowed).
pub fn read(s: &str) -> Result<Edn, String> {
    let mut r = Reader { s: s.as_bytes(), i: 0, depth: 0 };
    let v = r.value()?.ok_or("no value")?;
    r.skip_ws();
    if r.i < r.s.len() {
        return Err(format!("trailing input at byte {}", r.i));
    }
    Ok(v)
}

/// Reads every EDN value in `s` (one per line in `history.edn`).
pub fn read_all(s: &str) -> Result<Vec<Edn>, String> {
    let mut r = Reader { s: s.as_bytes(), i: 0, depth: 0 };
    let mut out = Vec::new();
    while let Some(v) = r.value()? {
        out.push(v);
    }
    Ok(out)
}

/// Deepest nesting the reader accepts.
const MAX_DEPTH: usize = 512;

struct Reader<'s> {
    s: &'s [u8],
    i: usize,
    depth: usize,
}

fn is_delim(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(b, b',' | b'(' | b')' | b'[' | b']' | b'{' | b'}' | b'"' | b';')
}

impl Reader<'_> {
    fn skip_ws(&mut self) {
        while let Some(&b) = self.s.get(self.i) {
            if b.is_ascii_whitespace() || b == b',' {
                self.i += 1;
            } else if b == b';' {
                while self.s.get(self.i).is_some_and(|&b| b != b'\n') {
                    self.i += 1;
                }
            } else {
                break;
            }
        }
    }

    fn token(&mut self) -> &str {
        let start = self.i;
        while self.s.get(self.i).is_some_and(|&b| !is_delim(b)) {
            self.i += 1;
        }
        std::str::from_utf8(&self.s[start..self.i]).unwrap_or("")
    }

    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("{what} at byte {}", self.i))
    }

    /// The next value, or `None` at the end of input.
    fn value(&mut self) -> Result<Option<Edn>, String> {
        self.skip_ws();
        let Some(&b) = self.s.get(self.i) else { return Ok(None) };
        if self.depth > MAX_DEPTH {
            return self.err("nested too deeply");
        }
        let v = match b {
            b'(' => Edn::List(self.seq(b')')?),
            b'[' => Edn::Vector(self.seq(b']')?),
            b'{' => Edn::Map(self.map()?),
            b')' | b']' | b'}' => return self.err("unexpected closing bracket"),
            b'"' => Edn::Str(self.string()?),
            b'\\' => {
                self.i += 1;
                let start = self.i;
                self.i += 1; // the character itself, even a delimiter
                while self.s.get(self.i).is_some_and(|&b| !is_delim(b)) {
                    self.i += 1;
                }
                let t = std::str::from_utf8(&self.s[start..self.i.min(self.s.len())]).unwrap_or("");
                Edn::Char(match t {
                    "newline" => '\n',
                    "space" => ' ',
                    "tab" => '\t',
                    "return" => '\r',
                    t => t.chars().next().ok_or("empty character literal")?,
                })
            }
            b':' => {
                self.i += 1;
                Edn::Keyword(self.token().to_owned())
            }
            b'#' => {
                self.i += 1;
                match self.s.get(self.i) {
                    Some(b'{') => Edn::Set(self.seq(b'}')?),
                    Some(b'_') => {
                        self.i += 1;
                        self.value()?.ok_or("nothing after #_")?;
                        return self.value();
                    }
                    Some(b'#') => {
                        self.i += 1;
                        match self.token() {
                            "NaN" => Edn::Float(f64::NAN),
                            "Inf" => Edn::Float(f64::INFINITY),
                            "-Inf" => Edn::Float(f64::NEG_INFINITY),
                            t => return Err(format!("unknown symbolic value ##{t}")),
                        }
                    }
                    _ => {
                        let tag = self.token().to_owned();
                        if tag.is_empty() {
                            return self.err("bad dispatch");
                        }
                        let v = self.value()?.ok_or("nothing after a tag")?;
                        Edn::Tagged(tag, Box::new(v))
                    }
                }
            }
            _ => {
                let t = self.token();
                if t.is_empty() {
                    return self.err("unexpected character");
                }
                atom(t)
            }
        };
        Ok(Some(v))
    }

    fn seq(&mut self, close: u8) -> Result<Vec<Edn>, String> {
        self.i += 1;
        self.depth += 1;
        let mut v = Vec::new();
        loop {
            self.skip_ws();
            match self.s.get(self.i) {
                None => return self.err("unclosed collection"),
                Some(&b) if b == close => {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(v);
                }
                Some(_) => v.push(self.value()?.ok_or("unclosed collection")?),
            }
        }
    }

    fn map(&mut self) -> Result<Vec<(Edn, Edn)>, String> {
        let items = self.seq(b'}')?;
        if items.len() % 2 != 0 {
            return self.err("a map with an odd number of forms");
        }
        let mut it = items.into_iter();
        let mut kv = Vec::new();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            kv.push((k, v));
        }
        Ok(kv)
    }

    fn string(&mut self) -> Result<String, String> {
        self.i += 1;
        let mut out = String::new();
        loop {
            let start = self.i;
            while self.s.get(self.i).is_some_and(|&b| b != b'"' && b != b'\\') {
                self.i += 1;
            }
            out.push_str(std::str::from_utf8(&self.s[start..self.i]).map_err(|e| e.to_string())?);
            match self.s.get(self.i) {
                None => return self.err("unclosed string"),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(_) => {
                    let esc = self.s.get(self.i + 1).copied();
                    self.i += 2;
                    match esc {
                        Some(b'n') => out.push('\n'),
                        Some(b't') => out.push('\t'),
                        Some(b'r') => out.push('\r'),
                        Some(b'b') => out.push('\u{8}'),
                        Some(b'f') => out.push('\u{c}'),
                        Some(b'"') => out.push('"'),
                        Some(b'\\') => out.push('\\'),
                        Some(b'u') => {
                            let hex = self.s.get(self.i..self.i + 4).ok_or("short \\u escape")?;
                            let code =
                                u32::from_str_radix(std::str::from_utf8(hex).unwrap_or("x"), 16)
                                    .map_err(|_| "bad \\u escape")?;
                            out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                            self.i += 4;
                        }
                        _ => return self.err("bad escape"),
                    }
                }
            }
        }
    }
}

fn atom(t: &str) -> Edn {
    match t {
        "nil" => return Edn::Nil,
        "true" => return Edn::Bool(true),
        "false" => return Edn::Bool(false),
        _ => {}
    }
    let starts_numeric = t.as_bytes()[0].is_ascii_digit()
        || (t.len() > 1
            && matches!(t.as_bytes()[0], b'-' | b'+')
            && t.as_bytes()[1].is_ascii_digit());
    if starts_numeric {
        let n = t.trim_end_matches(['N', 'M']);
        if let Ok(i) = n.parse::<i64>() {
            return Edn::Int(i);
        }
        if let Some((a, b)) = n.split_once('/') {
            if let (Ok(a), Ok(b)) = (a.parse::<f64>(), b.parse::<f64>()) {
                return Edn::Float(a / b);
            }
        }
        if let Ok(f) = n.parse::<f64>() {
            return Edn::Float(f);
        }
    }
    Edn::Symbol(t.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::history::OpType;
    use crate::sim::workloads::{Quantiles, Validity};

    #[derive(serde::Serialize)]
    struct Sample {
        valid: Validity,
        attempt_count: usize,
        stable_latencies: Quantiles,
        lost: Vec<u64>,
        kind: OpType,
        note: Option<String>,
        ratio: f64,
        by_key: std::collections::BTreeMap<String, (i64, bool)>,
        mop: (Keyword<'static>, u64, Option<u64>),
    }

    fn sample() -> Sample {
        Sample {
            valid: Validity::Unknown,
            attempt_count: 3,
            stable_latencies: Quantiles(vec![(0.0, 0), (0.5, 159), (1.0, 350)]),
            lost: vec![1, 2],
            kind: OpType::Ok,
            note: Some("a \"quoted\"\nline".into()),
            ratio: 1.0,
            by_key: [("k1".to_owned(), (-4, true))].into_iter().collect(),
            mop: (Keyword("r"), 7, None),
        }
    }

    #[test]
    fn values_are_written_as_jepsen_prints_them() {
        assert_eq!(
            to_string(&sample()),
            "{:valid? :unknown, :attempt-count 3, :stable-latencies {0 0, 0.5 159, 1 350}, \
             :lost [1 2], :kind :ok, :note \"a \\\"quoted\\\"\\nline\", :ratio 1.0, \
             :by-key {\"k1\" [-4 true]}, :mop [:r 7 nil]}"
        );
        assert_eq!(to_string(&Validity::True), "true");
        assert_eq!(to_string(&f64::NAN), "##NaN");
    }

    #[test]
    fn the_wrappers_are_invisible_in_json() {
        let json = simd_json::to_string(&sample()).unwrap();
        assert!(json.contains("\"stable_latencies\":[[0.0,0],[0.5,159],[1.0,350]]"), "{json}");
        assert!(json.contains("\"mop\":[\"r\",7,null]"), "{json}");
    }

    #[test]
    fn what_is_written_reads_back() {
        let v = read(&to_string(&sample())).unwrap();
        assert_eq!(v.get("valid?"), Some(&Edn::Keyword("unknown".into())));
        assert_eq!(
            v.at(&["stable-latencies"]).and_then(|q| match q {
                Edn::Map(kv) => Some(kv.len()),
                _ => None,
            }),
            Some(3)
        );
        assert_eq!(v.get("note"), Some(&Edn::Str("a \"quoted\"\nline".into())));
        assert_eq!(v.get("ratio"), Some(&Edn::Float(1.0)));
        assert_eq!(
            v.get("mop"),
            Some(&Edn::Vector(vec![Edn::Keyword("r".into()), Edn::Int(7), Edn::Nil]))
        );
    }

    #[test]
    fn the_reader_takes_what_jepsen_writes() {
        let text = "; a comment\n{:perf {:valid? true}, :workload #{1 2}, :r 1/2, :big 12N, \
                    :ch \\a, :op #jepsen.history.Op{:index 0, :f :read}, #_ :skipped :x (1 \"s\"), \
                    :nan ##NaN, :sym foo/bar, :neg -3.5e2}";
        let v = read(text).unwrap();
        assert_eq!(v.at(&["perf", "valid?"]), Some(&Edn::Bool(true)));
        assert_eq!(v.get("workload"), Some(&Edn::Set(vec![Edn::Int(1), Edn::Int(2)])));
        assert_eq!(v.get("r"), Some(&Edn::Float(0.5)));
        assert_eq!(v.get("big"), Some(&Edn::Int(12)));
        assert_eq!(v.get("ch"), Some(&Edn::Char('a')));
        assert_eq!(v.at(&["op", "f"]), Some(&Edn::Keyword("read".into())));
        assert_eq!(v.get("skipped"), None);
        assert_eq!(v.get("x"), Some(&Edn::List(vec![Edn::Int(1), Edn::Str("s".into())])));
        assert!(v.get("nan").and_then(Edn::as_f64).is_some_and(f64::is_nan));
        assert_eq!(v.get("sym"), Some(&Edn::Symbol("foo/bar".into())));
        assert_eq!(v.get("neg"), Some(&Edn::Float(-350.0)));
        assert_eq!(read_all("{:a 1}\n{:a 2}\n").unwrap().len(), 2);
        for bad in ["{:a}", "[1 2", "\"open", ")", "{:a 1} 2"] {
            assert!(read(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn integers_print_in_decimal() {
        for v in [0u64, 7, 10, 99, 100, 12345, u64::MAX] {
            let mut s = String::new();
            push_u64(&mut s, v);
            assert_eq!(s, v.to_string());
        }
        let mut s = String::new();
        push_i64(&mut s, i64::MIN);
        assert_eq!(s, i64::MIN.to_string());
    }

    #[test]
    fn capped_writes_stop_at_the_budget() {
        let big: Vec<u64> = (0..100_000).collect();
        let mut s = String::from("x=");
        assert!(!write_capped(&mut s, &big, 50));
        assert!(s.len() <= 2 + 50 + 3 && s.ends_with('…'), "{s}");
        let mut t = String::new();
        assert!(write_capped(&mut t, &[1, 2], 50));
        assert_eq!(t, "[1 2]");
    }
}
