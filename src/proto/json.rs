//! Borrowed views over a simd-json tape: typed access to parsed JSON without building a tree.
//!
//! simd-json parses a line in place (unescaping strings inside the line buffer) into a flat
//! tape of [`Node`]s. [`Val`], [`Obj`] and [`Arr`] are `Copy` windows onto that tape; every
//! string they return borrows from the line buffer, and nothing here allocates.

use simd_json::{Node, StaticNode};

use super::encode::str_eq;

/// The JSON type of a value, for error messages and dispatch.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `null`
    Null,
    /// `true` or `false`
    Bool,
    /// An integer that fits i64 or u64.
    Int,
    /// A number with a fraction or exponent, or an integer too large for 64 bits.
    Float,
    /// A string.
    Str,
    /// An array.
    Array,
    /// An object.
    Object,
}

/// Number of tape nodes the value starting at `node` spans, itself included.
fn span(node: &Node<'_>) -> usize {
    match node {
        Node::Object { count, .. } | Node::Array { count, .. } => count + 1,
        _ => 1,
    }
}

/// One JSON value: a complete subtree of a tape.
///
/// Invariant: the slice is non-empty and is exactly one value's nodes.
#[derive(Copy, Clone, Debug)]
pub struct Val<'t, 'i>(&'t [Node<'i>]);

impl<'t, 'i> Val<'t, 'i> {
    /// The value at the start of `nodes` (a whole tape, or a subtree of one).
    ///
    /// Returns `None` for an empty slice or a slice too short for the value it starts with.
    pub fn new(nodes: &'t [Node<'i>]) -> Option<Self> {
        let n = span(nodes.first()?);
        nodes.get(..n).map(Val)
    }

    /// The tape nodes of this value.
    pub fn nodes(self) -> &'t [Node<'i>] {
        self.0
    }

    fn head(self) -> Node<'i> {
        self.0[0]
    }

    /// The JSON type.
    pub fn kind(self) -> Kind {
        match self.head() {
            Node::String(_) => Kind::Str,
            Node::Object { .. } => Kind::Object,
            Node::Array { .. } => Kind::Array,
            Node::Static(StaticNode::Null) => Kind::Null,
            Node::Static(StaticNode::Bool(_)) => Kind::Bool,
            Node::Static(StaticNode::I64(_) | StaticNode::U64(_)) => Kind::Int,
            Node::Static(_) => Kind::Float,
        }
    }

    /// The value as a non-negative integer.
    pub fn as_u64(self) -> Option<u64> {
        match self.head() {
            Node::Static(StaticNode::U64(v)) => Some(v),
            Node::Static(StaticNode::I64(v)) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a signed integer.
    pub fn as_i64(self) -> Option<i64> {
        match self.head() {
            Node::Static(StaticNode::I64(v)) => Some(v),
            Node::Static(StaticNode::U64(v)) => i64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a string (borrowed from the line buffer, already unescaped).
    pub fn as_str(self) -> Option<&'i str> {
        match self.head() {
            Node::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a boolean.
    pub fn as_bool(self) -> Option<bool> {
        match self.head() {
            Node::Static(StaticNode::Bool(b)) => Some(b),
            _ => None,
        }
    }

    /// True for `null`.
    pub fn is_null(self) -> bool {
        matches!(self.head(), Node::Static(StaticNode::Null))
    }

    /// The value as an object.
    pub fn as_object(self) -> Option<Obj<'t, 'i>> {
        match self.head() {
            Node::Object { .. } => Some(Obj(self.0)),
            _ => None,
        }
    }

    /// The value as an array.
    pub fn as_array(self) -> Option<Arr<'t, 'i>> {
        match self.head() {
            Node::Array { .. } => Some(Arr(self.0)),
            _ => None,
        }
    }
}

/// A JSON object.
///
/// Invariant: `self.0[0]` is a `Node::Object` and the slice is exactly its subtree.
#[derive(Copy, Clone, Debug)]
pub struct Obj<'t, 'i>(&'t [Node<'i>]);

impl<'t, 'i> Obj<'t, 'i> {
    /// Number of members.
    pub fn len(self) -> usize {
        match self.0[0] {
            Node::Object { len, .. } => len,
            _ => unreachable!("Obj invariant: head is an object"),
        }
    }

    /// True when the object has no members.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// The value of the first member named `key` (a linear scan: bodies have few keys).
    #[inline]
    pub fn get(self, key: &str) -> Option<Val<'t, 'i>> {
        // The iterator's walk, without building a `Val` for members that do not match.
        let nodes = &self.0[1..];
        let mut at = 0;
        for _ in 0..self.len() {
            let Some(&Node::String(k)) = nodes.get(at) else { return None };
            let n = span(nodes.get(at + 1)?);
            if str_eq(k, key) {
                return nodes.get(at + 1..at + 1 + n).map(Val);
            }
            at += 1 + n;
        }
        None
    }

    /// Members in order.
    pub fn iter(self) -> ObjIter<'t, 'i> {
        ObjIter { rest: &self.0[1..], left: self.len() }
    }

    /// This object as a value.
    pub fn as_val(self) -> Val<'t, 'i> {
        Val(self.0)
    }
}

/// Iterator over an object's `(key, value)` members.
#[derive(Clone, Debug)]
pub struct ObjIter<'t, 'i> {
    rest: &'t [Node<'i>],
    left: usize,
}

impl<'t, 'i> Iterator for ObjIter<'t, 'i> {
    type Item = (&'i str, Val<'t, 'i>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // A well-formed tape alternates key strings and value subtrees.
        let Node::String(key) = *self.rest.first()? else { return None };
        let n = span(self.rest.get(1)?);
        let val = Val(self.rest.get(1..1 + n)?);
        self.rest = &self.rest[1 + n..];
        Some((key, val))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

/// A JSON array.
///
/// Invariant: `self.0[0]` is a `Node::Array` and the slice is exactly its subtree.
#[derive(Copy, Clone, Debug)]
pub struct Arr<'t, 'i>(&'t [Node<'i>]);

impl<'t, 'i> Arr<'t, 'i> {
    /// Number of elements.
    pub fn len(self) -> usize {
        match self.0[0] {
            Node::Array { len, .. } => len,
            _ => unreachable!("Arr invariant: head is an array"),
        }
    }

    /// True when the array has no elements.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// Elements in order.
    pub fn iter(self) -> ArrIter<'t, 'i> {
        ArrIter { rest: &self.0[1..], left: self.len() }
    }

    /// The element at `idx` (a linear walk).
    pub fn get(self, idx: usize) -> Option<Val<'t, 'i>> {
        self.iter().nth(idx)
    }

    /// This array as a value.
    pub fn as_val(self) -> Val<'t, 'i> {
        Val(self.0)
    }
}

/// Iterator over an array's elements.
#[derive(Clone, Debug)]
pub struct ArrIter<'t, 'i> {
    rest: &'t [Node<'i>],
    left: usize,
}

impl<'t, 'i> Iterator for ArrIter<'t, 'i> {
    type Item = Val<'t, 'i>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let n = span(self.rest.first()?);
        let val = Val(self.rest.get(..n)?);
        self.rest = &self.rest[n..];
        Some(val)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for ArrIter<'_, '_> {}
impl ExactSizeIterator for ObjIter<'_, '_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_val(json: &str, f: impl FnOnce(Val<'_, '_>)) {
        let mut bytes = json.as_bytes().to_vec();
        let tape = simd_json::to_tape(&mut bytes).expect("valid json");
        f(Val::new(&tape.0).expect("non-empty tape"));
    }

    #[test]
    fn scalars_have_the_right_kinds_and_values() {
        with_val("17", |v| {
            assert_eq!(v.kind(), Kind::Int);
            assert_eq!(v.as_u64(), Some(17));
            assert_eq!(v.as_i64(), Some(17));
        });
        with_val("-3", |v| {
            assert_eq!(v.as_u64(), None);
            assert_eq!(v.as_i64(), Some(-3));
        });
        with_val("18446744073709551615", |v| assert_eq!(v.as_u64(), Some(u64::MAX)));
        with_val("1.5", |v| {
            assert_eq!(v.kind(), Kind::Float);
            assert_eq!(v.as_u64(), None);
        });
        with_val("null", |v| assert!(v.is_null()));
        with_val("true", |v| assert_eq!(v.as_bool(), Some(true)));
        with_val(r#""a\"b""#, |v| assert_eq!(v.as_str(), Some("a\"b")));
    }

    #[test]
    fn objects_and_arrays_walk_nested_values() {
        with_val(r#"{"a":[1,[2,3],{"x":4}],"b":"s","c":{}}"#, |v| {
            let o = v.as_object().unwrap();
            assert_eq!(o.len(), 3);
            let a = o.get("a").unwrap().as_array().unwrap();
            assert_eq!(a.len(), 3);
            assert_eq!(a.get(0).unwrap().as_u64(), Some(1));
            assert_eq!(a.get(1).unwrap().as_array().unwrap().len(), 2);
            assert_eq!(a.get(2).unwrap().as_object().unwrap().get("x").unwrap().as_u64(), Some(4));
            assert_eq!(o.get("b").unwrap().as_str(), Some("s"));
            assert!(o.get("c").unwrap().as_object().unwrap().is_empty());
            assert!(o.get("zz").is_none());
            let keys: Vec<&str> = o.iter().map(|(k, _)| k).collect();
            assert_eq!(keys, ["a", "b", "c"]);
        });
    }
}
