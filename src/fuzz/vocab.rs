//! What each workload's fuzz script says: message types, their fields, and byte-driven
//! generators of values for them (mostly well typed, so scripts reach deep states; sometimes
//! missing or ill-typed, so error paths are covered too).

use super::Source;
use crate::proto::encode::{write_i64, write_str, write_u64};

/// The type of a field's value, and so how to generate it.
#[derive(Copy, Clone, Debug)]
pub(super) enum F {
    /// Any non-negative integer, extremes included.
    U64,
    /// Any integer, negative and extremes included.
    I64,
    /// A small non-negative integer (positions, sequence numbers), sometimes an extreme.
    Small,
    /// Any JSON value.
    Any,
    /// A kafka key.
    Key,
    /// An array of [`F::U64`].
    U64s,
    /// An array of [`F::Small`].
    Smalls,
    /// A broadcast topology: node id to neighbour ids.
    Topology,
    /// A kafka offsets object: key to integer.
    Offsets,
    /// An array of kafka keys.
    Keys,
    /// A kafka replication record list, offsets mostly of the sender's residue.
    Recs,
    /// A txn micro-operation list.
    Txn,
    /// A txn replication list of `[key, value, lamport, node]`.
    Quads,
    /// An error code.
    Code,
    /// `true` or `false`.
    Bool,
    /// A lin-kv key or value: mostly a small integer, so that keys repeat and CASes match.
    Json,
    /// A lin-kv log entry list: `[term]`, `[term, key, value]` or `[term, key, from, to, c]`.
    Entries,
    /// A lin-kv snapshot: `[[key, value], ...]`.
    Pairs,
    /// A lin-kv forwarded operation name.
    KvOp,
    /// A client id.
    Client,
    /// A node id of the cluster (or one past it).
    NodeId,
    /// A lin-kv relayed body: a small `fwd`, `aer` or `rv` object.
    Relayed,
    /// A short string.
    Text,
    /// A txn-list-append micro-operation list: `["r", k, null]` and `["append", k, e]`.
    ListTxn,
    /// A txn-list-append delta, `[tag, k1, e1, ...]`.
    Delta,
    /// What lin-kv holds under the key read: the value the node last stored there when the
    /// script acknowledged it, else (or sometimes anyway) a made-up txn-list-append root
    /// `[base, [delta, ...]]` or block `[delta, ...]`.
    Stored,
    /// The reply the runner prepared for the request (a handed-over txn's result), verbatim.
    Result,
}

/// A message type and its fields.
pub(super) type Spec = (&'static str, &'static [(&'static str, F)]);

/// The messages of one workload.
#[derive(Debug)]
pub(super) struct Vocab {
    /// Client requests.
    pub(super) client: &'static [Spec],
    /// Messages between nodes.
    pub(super) peer: &'static [Spec],
}

/// Replies a service or node may send to the node's own requests.
pub(super) const REPLIES: &[Spec] = &[
    ("read_ok", &[("value", F::U64)]),
    ("write_ok", &[]),
    ("cas_ok", &[]),
    ("error", &[("code", F::Code), ("text", F::Text)]),
    ("ts_ok", &[("ts", F::U64)]),
];

/// The fields of a `<kind>_ok` reply to the node's own request of type `kind`, in workload
/// `workload`.
pub(super) fn reply_fields(workload: &str, kind: &str) -> &'static [(&'static str, F)] {
    match (workload, kind) {
        ("txn-list-append", "read") => &[("value", F::Stored)],
        ("txn-list-append", "txn") => &[("txn", F::Result)],
        (_, "read") => &[("value", F::U64)],
        _ => &[],
    }
}

/// The vocabulary of workload `name` (an empty one for unknown names).
pub(super) fn vocab(name: &str) -> Vocab {
    match name {
        "echo" => Vocab { client: &[("echo", &[("echo", F::Any)])], peer: &[] },
        "unique-ids" => Vocab { client: &[("generate", &[])], peer: &[] },
        "broadcast" => Vocab {
            client: &[
                ("broadcast", &[("message", F::U64)]),
                ("read", &[]),
                ("topology", &[("topology", F::Topology)]),
            ],
            peer: &[
                ("gossip", &[("s", F::Small), ("e", F::Small), ("a", F::Small), ("v", F::U64s)]),
                (
                    "gossip",
                    &[
                        ("s", F::Small),
                        ("e", F::Small),
                        ("a", F::Small),
                        ("v", F::U64s),
                        ("r", F::Small),
                    ],
                ),
                ("gossip_ack", &[("a", F::Small)]),
                (
                    "gossip",
                    &[
                        ("s", F::Small),
                        ("e", F::Small),
                        ("a", F::Small),
                        ("v", F::U64s),
                        ("y", F::Small),
                    ],
                ),
                ("sync", &[("p", F::Small), ("v", F::U64s)]),
                ("sync", &[("p", F::Small), ("f", F::Small), ("d", F::Smalls), ("t", F::Small)]),
                ("sync", &[("p", F::Small), ("v", F::U64s), ("f", F::Small), ("d", F::Smalls)]),
                (
                    "sync_have",
                    &[("p", F::Small), ("f", F::Small), ("h", F::Smalls), ("n", F::Small)],
                ),
                ("sync_have", &[("p", F::Small), ("f", F::Small), ("h", F::Smalls)]),
            ],
        },
        "g-counter" => Vocab { client: &[("add", &[("delta", F::U64)]), ("read", &[])], peer: &[] },
        "pn-counter" => Vocab {
            client: &[("add", &[("delta", F::I64)]), ("read", &[])],
            peer: &[
                ("pn_state", &[("inc", F::Smalls), ("dec", F::Smalls)]),
                ("pn_state", &[("inc", F::Smalls), ("dec", F::Smalls), ("r", F::Small)]),
            ],
        },
        "g-set" => Vocab {
            client: &[
                ("add", &[("element", F::Any)]),
                ("add", &[("element", F::Small)]),
                ("read", &[]),
            ],
            peer: &[
                ("gossip", &[("s", F::Small), ("e", F::Small), ("a", F::Small), ("v", F::U64s)]),
                (
                    "gossip",
                    &[
                        ("s", F::Small),
                        ("e", F::Small),
                        ("a", F::Small),
                        ("v", F::U64s),
                        ("r", F::Small),
                    ],
                ),
                ("gossip_ack", &[("a", F::Small)]),
                (
                    "gossip",
                    &[
                        ("s", F::Small),
                        ("e", F::Small),
                        ("a", F::Small),
                        ("v", F::U64s),
                        ("y", F::Small),
                    ],
                ),
                ("sync", &[("p", F::Small), ("v", F::U64s)]),
                ("sync", &[("p", F::Small), ("f", F::Small), ("d", F::Smalls), ("t", F::Small)]),
                ("sync", &[("p", F::Small), ("v", F::U64s), ("f", F::Small), ("d", F::Smalls)]),
                (
                    "sync_have",
                    &[("p", F::Small), ("f", F::Small), ("h", F::Smalls), ("n", F::Small)],
                ),
                ("sync_have", &[("p", F::Small), ("f", F::Small), ("h", F::Smalls)]),
            ],
        },
        "kafka" => Vocab {
            client: &[
                ("send", &[("key", F::Key), ("msg", F::Any)]),
                ("poll", &[("offsets", F::Offsets)]),
                ("commit_offsets", &[("offsets", F::Offsets)]),
                ("list_committed_offsets", &[("keys", F::Keys)]),
            ],
            peer: &[(
                "kafka_repl",
                &[("seq", F::Small), ("ack", F::Small), ("promise", F::Small), ("recs", F::Recs)],
            )],
        },
        "txn-rw-register" => Vocab {
            client: &[("txn", &[("txn", F::Txn)])],
            peer: &[(
                "replicate",
                &[("batch", F::Small), ("acks", F::Smalls), ("writes", F::Quads)],
            )],
        },
        "txn-list-append" => Vocab {
            client: &[("txn", &[("txn", F::ListTxn)])],
            peer: &[
                ("commit", &[("v", F::Small), ("d", F::Delta)]),
                ("commit", &[("v", F::Small), ("d", F::Delta)]),
                // A transaction a peer hands over after losing a conflict.
                ("txn", &[("txn", F::ListTxn)]),
            ],
        },
        "lin-kv" => Vocab {
            client: &[
                ("read", &[("key", F::Json)]),
                ("write", &[("key", F::Json), ("value", F::Json)]),
                ("cas", &[("key", F::Json), ("from", F::Json), ("to", F::Json)]),
            ],
            peer: &[
                ("rv", &[("p", F::Bool), ("t", F::Small), ("li", F::Small), ("lt", F::Small)]),
                ("rvr", &[("p", F::Bool), ("t", F::Small), ("g", F::Bool)]),
                (
                    "ae",
                    &[
                        ("t", F::Small),
                        ("r", F::Small),
                        ("pi", F::Small),
                        ("pt", F::Small),
                        ("c", F::Small),
                        ("rtt", F::Small),
                        ("a", F::Bool),
                        ("e", F::Entries),
                    ],
                ),
                (
                    "aer",
                    &[
                        ("t", F::Small),
                        ("r", F::Small),
                        ("ok", F::Bool),
                        ("i", F::Small),
                        ("ht", F::Small),
                    ],
                ),
                (
                    "is",
                    &[
                        ("t", F::Small),
                        ("r", F::Small),
                        ("i", F::Small),
                        ("st", F::Small),
                        ("kv", F::Pairs),
                    ],
                ),
                ("rl", &[("to", F::NodeId), ("b", F::Relayed), ("d", F::Small)]),
                ("rl", &[("from", F::NodeId), ("b", F::Relayed)]),
                (
                    "fwd",
                    &[
                        ("c", F::Client),
                        ("id", F::Small),
                        ("h", F::Small),
                        ("op", F::KvOp),
                        ("key", F::Json),
                        ("value", F::Json),
                        ("from", F::Json),
                        ("to", F::Json),
                    ],
                ),
            ],
        },
        _ => Vocab { client: &[], peer: &[] },
    }
}

/// Value generation with the cluster's shape at hand.
pub(super) struct Gen<'s, 'a> {
    /// The choices.
    pub(super) src: &'s mut Source<'a>,
    /// Cluster size.
    pub(super) n: usize,
    /// Index of the message's sender in the cluster (for kafka residues), if it is a node.
    pub(super) sender: Option<usize>,
    /// For [`F::Stored`] and [`F::Result`]: what the runner remembers (may be empty).
    pub(super) stored: &'s [u8],
}

const EXTREMES: [u64; 8] =
    [u64::MAX, u64::MAX - 1, 1 << 63, (1 << 63) - 1, 1 << 53, 1 << 32, 1_000_000, 255];
const IEXTREMES: [i64; 6] = [-1, i64::MIN, i64::MAX, -(1 << 53), i64::MIN + 1, -1000];
const STRINGS: [&str; 9] = ["", "k0", "k1", "k2", "a b", "q\"t", "é中😀", "n\nl", "x\u{0}y"];
const FLOATS: [&str; 6] = ["1.5", "-0.0", "1e300", "2.5e-308", "0.1", "-1E+2"];

impl Gen<'_, '_> {
    pub(super) fn u64(&mut self) -> u64 {
        match self.src.u8() % 8 {
            0..=3 => u64::from(self.src.u8() % 16),
            4 => u64::from(self.src.u8()),
            5 => EXTREMES[self.src.below(EXTREMES.len())],
            6 => self.src.u64(),
            _ => u64::from(self.src.u8() % 4),
        }
    }

    pub(super) fn small(&mut self) -> u64 {
        match self.src.u8() % 16 {
            0 => EXTREMES[self.src.below(EXTREMES.len())],
            1 => u64::from(self.src.u8()),
            _ => u64::from(self.src.u8() % 12),
        }
    }

    fn i64(&mut self) -> i64 {
        match self.src.u8() % 8 {
            0..=4 => i64::from(self.src.u8() % 8),
            5 => IEXTREMES[self.src.below(IEXTREMES.len())],
            6 => -i64::from(self.src.u8() % 8),
            _ => self.src.u64() as i64,
        }
    }

    fn text(&mut self, out: &mut Vec<u8>) {
        if self.src.one_in(4) {
            let raw = self.src.bytes(12);
            write_str(out, &String::from_utf8_lossy(raw));
        } else {
            write_str(out, STRINGS[self.src.below(STRINGS.len())]);
        }
    }

    fn key(&mut self, out: &mut Vec<u8>) {
        match self.src.u8() % 8 {
            0 => self.text(out),
            k => write_str(out, ["k0", "k1", "k2", "k3"][usize::from(k) % 4]),
        }
    }

    fn node_name(&mut self, out: &mut Vec<u8>) {
        let i = self.src.below(self.n + 1);
        write_str(out, &format!("n{i}"));
    }

    /// Any JSON value, nested at most four deep.
    pub(super) fn any(&mut self, depth: usize, out: &mut Vec<u8>) {
        let pick = self.src.u8() % if depth >= 4 { 7 } else { 9 };
        match pick {
            0 => out.extend_from_slice([&b"null"[..], b"true", b"false"][self.src.below(3)]),
            1 => write_u64(out, self.u64()),
            2 => write_i64(out, self.i64()),
            3 => out.extend_from_slice(FLOATS[self.src.below(FLOATS.len())].as_bytes()),
            4 | 5 => self.text(out),
            6 => write_u64(out, u64::from(self.src.u8())),
            7 => {
                out.push(b'[');
                for i in 0..self.src.below(5) {
                    if i > 0 {
                        out.push(b',');
                    }
                    self.any(depth + 1, out);
                }
                out.push(b']');
            }
            _ => {
                out.push(b'{');
                for i in 0..self.src.below(5) {
                    if i > 0 {
                        out.push(b',');
                    }
                    self.key(out);
                    out.push(b':');
                    self.any(depth + 1, out);
                }
                out.push(b'}');
            }
        }
    }

    fn list(
        &mut self,
        max: usize,
        out: &mut Vec<u8>,
        mut item: impl FnMut(&mut Self, &mut Vec<u8>),
    ) {
        out.push(b'[');
        for i in 0..self.src.below(max + 1) {
            if i > 0 {
                out.push(b',');
            }
            item(self, out);
        }
        out.push(b']');
    }

    /// An offset of the sender's residue (as a node assigns them), or any small one.
    fn offset(&mut self) -> u64 {
        match (self.sender, self.src.u8() % 4) {
            (Some(i), 0..=2) => (self.src.u8() % 8) as u64 * self.n as u64 + i as u64,
            _ => self.small(),
        }
    }

    /// A value of type `f`.
    pub(super) fn value(&mut self, f: F, out: &mut Vec<u8>) {
        match f {
            F::U64 => write_u64(out, self.u64()),
            F::I64 => write_i64(out, self.i64()),
            F::Small => write_u64(out, self.small()),
            F::Any => self.any(0, out),
            F::Key => self.key(out),
            F::Text => self.text(out),
            F::U64s => self.list(8, out, |g, o| write_u64(o, g.u64())),
            F::Smalls => self.list(4, out, |g, o| write_u64(o, g.small())),
            F::Bool => out.extend_from_slice(if self.src.one_in(2) { b"true" } else { b"false" }),
            F::Json => {
                if self.src.one_in(8) {
                    self.any(1, out);
                } else {
                    write_u64(out, u64::from(self.src.u8() % 5));
                }
            }
            F::Entries => self.list(4, out, |g, o| {
                o.push(b'[');
                write_u64(o, g.small());
                for _ in 0..[0, 2, 4, 1][g.src.below(4)] {
                    o.push(b',');
                    g.value(F::Json, o);
                }
                o.push(b']');
            }),
            F::Pairs => self.list(4, out, |g, o| {
                o.push(b'[');
                g.value(F::Json, o);
                o.push(b',');
                g.value(F::Json, o);
                o.push(b']');
            }),
            F::KvOp => write_str(out, ["read", "write", "cas", "frob"][self.src.below(4)]),
            F::Client => write_str(out, &format!("c{}", 1 + self.src.below(4))),
            F::NodeId => self.node_name(out),
            F::Relayed => {
                out.extend_from_slice(b"{\"type\":");
                match self.src.below(3) {
                    0 => {
                        out.extend_from_slice(b"\"fwd\",\"c\":");
                        self.value(F::Client, out);
                        out.extend_from_slice(b",\"id\":");
                        write_u64(out, self.small());
                        out.extend_from_slice(b",\"h\":1,\"op\":\"write\",\"key\":");
                        self.value(F::Json, out);
                        out.extend_from_slice(b",\"value\":");
                        self.value(F::Json, out);
                    }
                    1 => {
                        out.extend_from_slice(b"\"aer\",\"t\":");
                        write_u64(out, self.small());
                        out.extend_from_slice(b",\"r\":1,\"ok\":true,\"i\":1,\"ht\":0");
                    }
                    _ => {
                        out.extend_from_slice(b"\"rv\",\"p\":true,\"t\":");
                        write_u64(out, self.small());
                        out.extend_from_slice(b",\"li\":0,\"lt\":0");
                    }
                }
                if self.src.one_in(2) {
                    out.extend_from_slice(b",\"d\":");
                    write_u64(out, self.small());
                }
                out.push(b'}');
            }
            F::Code => {
                const CODES: [u64; 13] = [0, 1, 10, 11, 12, 13, 14, 20, 21, 22, 30, 1000, u64::MAX];
                write_u64(out, CODES[self.src.below(CODES.len())]);
            }
            F::Topology => {
                out.push(b'{');
                for i in 0..self.src.below(self.n + 2) {
                    if i > 0 {
                        out.push(b',');
                    }
                    self.node_name(out);
                    out.push(b':');
                    self.list(3, out, |g, o| g.node_name(o));
                }
                out.push(b'}');
            }
            F::Offsets => {
                out.push(b'{');
                for i in 0..self.src.below(4) {
                    if i > 0 {
                        out.push(b',');
                    }
                    self.key(out);
                    out.push(b':');
                    if self.src.one_in(6) {
                        write_i64(out, self.i64());
                    } else {
                        write_u64(out, self.offset());
                    }
                }
                out.push(b'}');
            }
            F::Keys => self.list(4, out, |g, o| g.key(o)),
            F::Recs => self.list(6, out, |g, o| {
                o.push(b'[');
                g.key(o);
                o.push(b',');
                write_u64(o, g.offset());
                if !g.src.one_in(4) {
                    o.push(b',');
                    g.any(1, o);
                }
                o.push(b']');
            }),
            F::Txn => self.list(6, out, |g, o| {
                let key = g.src.u8() % 5;
                if g.src.u8() % 2 == 0 {
                    o.extend_from_slice(format!("[\"r\",{key},null]").as_bytes());
                } else {
                    o.extend_from_slice(format!("[\"w\",{key},").as_bytes());
                    write_i64(o, g.i64());
                    o.push(b']');
                }
            }),
            F::ListTxn => self.list(6, out, |g, o| {
                let key = g.src.u8() % 5;
                let key = if key == 4 && g.src.one_in(4) {
                    let mut k = Vec::new();
                    g.key(&mut k);
                    k
                } else {
                    key.to_string().into_bytes()
                };
                if g.src.u8() % 2 == 0 {
                    o.extend_from_slice(b"[\"r\",");
                    o.extend_from_slice(&key);
                    o.extend_from_slice(b",null]");
                } else {
                    o.extend_from_slice(b"[\"append\",");
                    o.extend_from_slice(&key);
                    o.push(b',');
                    if g.src.one_in(16) {
                        g.any(2, o);
                    } else {
                        write_u64(o, g.u64());
                    }
                    o.push(b']');
                }
            }),
            F::Delta => {
                out.push(b'[');
                write_u64(out, self.small());
                for _ in 0..self.src.below(4) {
                    out.extend_from_slice(format!(",{},", self.src.u8() % 5).as_bytes());
                    write_u64(out, self.u64());
                }
                out.push(b']');
            }
            F::Stored => {
                if !self.stored.is_empty() && !self.src.one_in(4) {
                    out.extend_from_slice(self.stored);
                } else if self.src.one_in(4) {
                    self.list(4, out, |g, o| g.value(F::Delta, o));
                } else {
                    out.push(b'[');
                    let base = match self.src.u8() % 4 {
                        0 | 1 => 0,
                        2 => 16 * u64::from(self.src.u8() % 4),
                        _ => self.small(),
                    };
                    write_u64(out, base);
                    out.push(b',');
                    self.list(5, out, |g, o| g.value(F::Delta, o));
                    out.push(b']');
                }
            }
            F::Result if self.stored.is_empty() => out.extend_from_slice(b"[]"),
            F::Result => out.extend_from_slice(self.stored),
            F::Quads => self.list(5, out, |g, o| {
                o.extend_from_slice(format!("[{},", g.src.u8() % 5).as_bytes());
                write_i64(o, g.i64());
                o.push(b',');
                write_u64(o, g.small());
                o.push(b',');
                write_u64(o, g.small() % (g.n as u64 + 1));
                o.push(b']');
            }),
        }
    }
}
