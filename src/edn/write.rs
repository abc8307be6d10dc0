//! Writing EDN: any `serde::Serialize` value as Clojure's `pr` prints it (`results.edn`,
//! the workload checkers' maps), the numbers and strings of hand-written EDN (`history.edn`),
//! and JSON text as Maelstrom holds it once parsed ([`push_json`]).
//!
//! The serde writer maps serde's data model onto what Jepsen writes:
//!
//! - struct fields become keywords, `snake_case` turned `kebab-case`, and `valid` and
//!   `final` become `:valid?` and `:final?`;
//! - [`Validity`](crate::sim::workloads::Validity) becomes `true`, `false` or `:unknown`;
//!   other unit enum variants become keywords (`OpType::Ok` is `:ok`);
//! - a value wrapped in [`Keyword`] becomes a keyword (`"r"` is `:r` in a transaction); one
//!   wrapped in [`Quantiles`](crate::sim::workloads::Quantiles) (a list of `(point, value)`
//!   pairs) becomes a map `{0 0, 0.5 159, ...}`, as Jepsen's quantile maps print;
//! - sequences become vectors, maps stay maps (string keys stay strings), `None` is `nil`;
//! - numbers print as the JVM prints them: `f64` as a `Double` (`1.0`, `1.0E7`, `##NaN`),
//!   `f32` as a `Float` (Jepsen's `(float x)`: `0.8333333`), strings escaped as Clojure's
//!   printer escapes them ([`super::edn_string`]).
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
pub enum WriteError {
    /// The byte budget of [`write_capped`] ran out.
    Full,
    /// A value serde could not express (a custom error).
    Custom(String),
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::Full => f.write_str("budget exhausted"),
            WriteError::Custom(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for WriteError {}

impl ser::Error for WriteError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        WriteError::Custom(msg.to_string())
    }
}

/// Appends `value` as EDN to `out`.
pub fn write<T: Serialize + ?Sized>(out: &mut String, value: &T) -> Result<(), WriteError> {
    value.serialize(&mut Writer { out, limit: usize::MAX, keyword_next: false, quantiles: false })
}

/// `value` as EDN.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> String {
    let mut s = String::new();
    if let Err(e) = write(&mut s, value) {
        s.clear();
        s.push_str("{:error ");
        push_str(&mut s, &e.to_string());
        s.push('}');
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

/// Appends `s` as an EDN string literal ([`super::edn_string`]).
pub fn push_str(out: &mut String, s: &str) {
    let _ = super::edn_string(out, s);
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

/// Appends a double as Clojure prints it: as the JVM's `Double.toString` (`1.0`, `0.001`,
/// `1.0E7`, `1.5E-4`), and `##NaN`, `##Inf`, `##-Inf`.
pub fn push_f64(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("##NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "##Inf" } else { "##-Inf" });
    } else {
        push_jvm(out, v, plain(v));
    }
}

/// Appends a float (a `java.lang.Float`, which Jepsen's `(float x)` makes) as the JVM's
/// `Float.toString` prints it: the shortest digits that read back as the same `f32`.
pub fn push_f32(out: &mut String, v: f32) {
    let wide = f64::from(v);
    if wide.is_finite() { push_jvm(out, v, plain(wide)) } else { push_f64(out, wide) }
}

/// Whether the JVM prints a finite `v` without an exponent.
fn plain(v: f64) -> bool {
    v == 0.0 || (1e-3..1e7).contains(&v.abs())
}

/// The JVM's two forms: plain decimals with at least one fraction digit between 10^-3 and
/// 10^7, else one digit, a fraction and an exponent (`1.0E7`). Rust's shortest round-trip
/// digits are the JVM's (since JDK 19).
fn push_jvm<T: fmt::Debug + fmt::LowerExp>(out: &mut String, v: T, plain: bool) {
    if plain {
        // In this range `{:?}` is plain and always has a point: `1234567.0`, `0.001`.
        let _ = write!(out, "{v:?}");
        return;
    }
    let start = out.len();
    let _ = write!(out, "{v:e}");
    let e = start + out[start..].find('e').expect("`{:e}` has an exponent");
    out.replace_range(e..=e, "E");
    if !out[start..e].contains('.') {
        out.insert_str(e, ".0");
    }
}

/// Appends JSON text as EDN, as Maelstrom holds a value it parsed from JSON: arrays become
/// vectors, objects maps with string keys (keywords at the top level with
/// `keyword_keys`, as Maelstrom keywordizes a message body's own keys), numbers as the JVM
/// prints them. Text that is not JSON is written as a string.
pub fn push_json(out: &mut String, json: &str, keyword_keys: bool) {
    let mut bytes = json.as_bytes().to_vec();
    let Ok(tape) = simd_json::to_tape(&mut bytes) else { return push_str(out, json) };
    match crate::proto::Val::new(&tape.0) {
        Some(v) => push_json_val(out, v, keyword_keys),
        None => push_str(out, json),
    }
}

/// Appends a parsed JSON value as EDN ([`push_json`]).
pub fn push_json_val(out: &mut String, v: crate::proto::Val<'_, '_>, keyword_keys: bool) {
    use crate::proto::Kind;
    match v.kind() {
        Kind::Null => out.push_str("nil"),
        Kind::Bool => out.push_str(if v.as_bool() == Some(true) { "true" } else { "false" }),
        Kind::Str => push_str(out, v.as_str().unwrap_or_default()),
        Kind::Int => match (v.as_i64(), v.as_u64()) {
            (Some(i), _) => push_i64(out, i),
            // Beyond a long: a bigint, which Clojure's reader takes with its `N`.
            (None, Some(u)) => {
                push_u64(out, u);
                out.push('N');
            }
            (None, None) => out.push_str("nil"),
        },
        Kind::Float => match v.nodes()[0] {
            simd_json::Node::Static(simd_json::StaticNode::F64(f)) => push_f64(out, f),
            _ => out.push_str("##NaN"),
        },
        Kind::Array => {
            out.push('[');
            for (i, e) in v.as_array().into_iter().flat_map(|a| a.iter()).enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                push_json_val(out, e, false);
            }
            out.push(']');
        }
        Kind::Object => {
            out.push('{');
            for (i, (k, e)) in v.as_object().into_iter().flat_map(|o| o.iter()).enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                if keyword_keys && super::is_keyword_name(k) {
                    out.push(':');
                    out.push_str(k);
                } else {
                    push_str(out, k);
                }
                out.push(' ');
                push_json_val(out, e, false);
            }
            out.push('}');
        }
    }
}

struct Writer<'o> {
    out: &'o mut String,
    /// Stop with [`WriteError::Full`] once `out` reaches this length.
    limit: usize,
    /// The next string is written as a keyword.
    keyword_next: bool,
    /// The next sequence is a quantile list, written as a map.
    quantiles: bool,
}

impl Writer<'_> {
    fn check(&self) -> Result<(), WriteError> {
        if self.out.len() > self.limit { Err(WriteError::Full) } else { Ok(()) }
    }
    /// An enum variant with data is a one-key map: `{:variant ` then `open`.
    fn open_variant(&mut self, variant: &str, open: &str) {
        self.out.push_str("{:");
        self.out.push_str(&key_name(variant));
        self.out.push_str(open);
    }
}

/// Serializer methods for numbers, each widened and printed by one `push_*`.
macro_rules! numbers {
    ($($method:ident: $t:ty => $push:ident),*) => {$(
        fn $method(self, v: $t) -> Result<(), WriteError> {
            $push(self.out, v.into());
            self.check()
        }
    )*};
}

impl<'a, 'o> ser::Serializer for &'a mut Writer<'o> {
    type Ok = ();
    type Error = WriteError;
    type SerializeSeq = Seq<'a, 'o>;
    type SerializeTuple = Seq<'a, 'o>;
    type SerializeTupleStruct = Seq<'a, 'o>;
    type SerializeTupleVariant = Seq<'a, 'o>;
    type SerializeMap = Map<'a, 'o>;
    type SerializeStruct = Map<'a, 'o>;
    type SerializeStructVariant = Map<'a, 'o>;

    fn serialize_bool(self, v: bool) -> Result<(), WriteError> {
        self.out.push_str(if v { "true" } else { "false" });
        Ok(())
    }
    numbers!(
        serialize_i8: i8 => push_i64,
        serialize_i16: i16 => push_i64,
        serialize_i32: i32 => push_i64,
        serialize_i64: i64 => push_i64,
        serialize_u8: u8 => push_u64,
        serialize_u16: u16 => push_u64,
        serialize_u32: u32 => push_u64,
        serialize_u64: u64 => push_u64,
        serialize_f32: f32 => push_f32,
        serialize_f64: f64 => push_f64
    );
    fn serialize_char(self, v: char) -> Result<(), WriteError> {
        let mut b = [0; 4];
        self.serialize_str(v.encode_utf8(&mut b))
    }
    fn serialize_str(self, v: &str) -> Result<(), WriteError> {
        if std::mem::take(&mut self.keyword_next) {
            self.out.push(':');
            self.out.push_str(v);
        } else {
            push_str(self.out, v);
        }
        self.check()
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), WriteError> {
        use ser::SerializeSeq;
        let mut s = self.serialize_seq(Some(v.len()))?;
        for b in v {
            s.serialize_element(b)?;
        }
        s.end()
    }
    fn serialize_none(self) -> Result<(), WriteError> {
        self.out.push_str("nil");
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), WriteError> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), WriteError> {
        self.serialize_none()
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), WriteError> {
        self.serialize_none()
    }
    fn serialize_unit_variant(
        self,
        name: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), WriteError> {
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
    ) -> Result<(), WriteError> {
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
    ) -> Result<(), WriteError> {
        self.open_variant(variant, " ");
        v.serialize(&mut *self)?;
        self.out.push('}');
        self.check()
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Seq<'a, 'o>, WriteError> {
        let as_map = std::mem::take(&mut self.quantiles);
        self.out.push(if as_map { '{' } else { '[' });
        Ok(Seq { w: self, first: true, as_map, close: if as_map { "}" } else { "]" } })
    }
    fn serialize_tuple(self, len: usize) -> Result<Seq<'a, 'o>, WriteError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> Result<Seq<'a, 'o>, WriteError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Seq<'a, 'o>, WriteError> {
        self.open_variant(variant, " [");
        Ok(Seq { w: self, first: true, as_map: false, close: "]}" })
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Map<'a, 'o>, WriteError> {
        self.out.push('{');
        Ok(Map { w: self, first: true, close: "}" })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Map<'a, 'o>, WriteError> {
        self.serialize_map(None)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Map<'a, 'o>, WriteError> {
        self.open_variant(variant, " {");
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
    fn element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), WriteError> {
        if !self.first {
            self.w.out.push_str(if self.as_map { ", " } else { " " });
        }
        self.first = false;
        if !self.as_map {
            return v.serialize(&mut *self.w);
        }
        // A `(point, value)` pair, written `[point value]`, becomes `point value`, a whole
        // point an integer (Jepsen's points are `[0 0.5 0.95 0.99 1]`).
        let mut pair = String::new();
        v.serialize(&mut Writer {
            out: &mut pair,
            limit: usize::MAX,
            keyword_next: false,
            quantiles: false,
        })?;
        let not_a_pair = || WriteError::Custom("a quantile list holds (point, value) pairs".into());
        let inner = pair.strip_prefix('[').and_then(|p| p.strip_suffix(']'));
        let (point, value) = inner.and_then(|p| p.split_once(' ')).ok_or_else(not_a_pair)?;
        self.w.out.push_str(point.strip_suffix(".0").unwrap_or(point));
        self.w.out.push(' ');
        self.w.out.push_str(value);
        self.w.check()
    }
    fn finish(self) -> Result<(), WriteError> {
        self.w.out.push_str(self.close);
        self.w.check()
    }
}

/// The four serde sequence traits, all writing elements one after another.
macro_rules! seq_impls {
    ($($tr:ident :: $f:ident),*) => {$(
        impl ser::$tr for Seq<'_, '_> {
            type Ok = ();
            type Error = WriteError;
            fn $f<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), WriteError> {
                self.element(v)
            }
            fn end(self) -> Result<(), WriteError> {
                self.finish()
            }
        }
    )*};
}

seq_impls!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

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
    fn field<T: Serialize + ?Sized>(&mut self, key: &str, v: &T) -> Result<(), WriteError> {
        self.sep();
        self.w.out.push(':');
        self.w.out.push_str(&key_name(key));
        self.w.out.push(' ');
        v.serialize(&mut *self.w)
    }
    fn close(self) -> Result<(), WriteError> {
        self.w.out.push_str(self.close);
        self.w.check()
    }
}

impl ser::SerializeMap for Map<'_, '_> {
    type Ok = ();
    type Error = WriteError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), WriteError> {
        self.sep();
        k.serialize(&mut *self.w)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), WriteError> {
        self.w.out.push(' ');
        v.serialize(&mut *self.w)
    }
    fn end(self) -> Result<(), WriteError> {
        self.close()
    }
}

/// The two serde struct traits: fields as keyword keys.
macro_rules! struct_impls {
    ($($tr:ident),*) => {$(
        impl ser::$tr for Map<'_, '_> {
            type Ok = ();
            type Error = WriteError;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                v: &T,
            ) -> Result<(), WriteError> {
                self.field(key, v)
            }
            fn end(self) -> Result<(), WriteError> {
                self.close()
            }
        }
    )*};
}

struct_impls!(SerializeStruct, SerializeStructVariant);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edn::Edn;
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
        let text = to_string(&sample());
        let v = crate::edn::read_one(&text).unwrap();
        assert_eq!(v.get("valid?"), Some(&Edn::Keyword("unknown")));
        assert_eq!(v.at(&["stable-latencies"]).and_then(Edn::as_map).map(<[_]>::len), Some(3));
        assert_eq!(v.get("note"), Some(&Edn::Str("a \"quoted\"\nline".into())));
        assert_eq!(v.get("ratio"), Some(&Edn::Float(1.0)));
        assert_eq!(
            v.get("mop"),
            Some(&Edn::Vector(vec![Edn::Keyword("r"), Edn::Int(7), Edn::Nil]))
        );
    }

    #[test]
    fn numbers_print_as_the_jvm_prints_them() {
        let f64s = |v: f64| {
            let mut s = String::new();
            push_f64(&mut s, v);
            s
        };
        let f32s = |v: f32| {
            let mut s = String::new();
            push_f32(&mut s, v);
            s
        };
        for (v, want) in [
            (1.0, "1.0"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (0.001, "0.001"),
            (1234567.5, "1234567.5"),
            (1e7, "1.0E7"),
            (12345678.9, "1.23456789E7"),
            (0.000_15, "1.5E-4"),
            (-2.5e-8, "-2.5E-8"),
            (1e300, "1.0E300"),
            (f64::INFINITY, "##Inf"),
        ] {
            assert_eq!(f64s(v), want, "{v}");
            let back = crate::edn::read_one(want).unwrap();
            assert!(matches!(back, Edn::Float(x) if x == v), "{want}");
        }
        // Jepsen's (float 5/6) and msgs-per-op.
        assert_eq!(f32s(5.0 / 6.0), "0.8333333");
        assert_eq!(f32s(12.3456), "12.3456");
        assert_eq!(f32s(3e7), "3.0E7");
        assert_eq!(to_string(&(0.5f32, 1e-5f64)), "[0.5 1.0E-5]");
    }

    #[test]
    fn json_text_becomes_the_edn_maelstrom_parses_it_into() {
        let edn = |json: &str, top: bool| {
            let mut s = String::new();
            push_json(&mut s, json, top);
            s
        };
        assert_eq!(
            edn(
                r#"{"type":"echo_ok","echo":"hi \"x\"","msg_id":1,"n":{"k":[1,2.5,null,true]}}"#,
                true
            ),
            r#"{:type "echo_ok", :echo "hi \"x\"", :msg_id 1, :n {"k" [1 2.5 nil true]}}"#
        );
        assert_eq!(edn(r#"{"a b":1}"#, true), r#"{"a b" 1}"#, "not a keyword: a string");
        assert_eq!(edn(r#"{"k":1}"#, false), r#"{"k" 1}"#);
        assert_eq!(edn("1e7", false), "1.0E7");
        assert_eq!(edn("18446744073709551615", false), "18446744073709551615N");
        assert_eq!(edn("not json", false), "\"not json\"");
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
