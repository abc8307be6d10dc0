//! The broadcast link protocol's messages: their names, their fields, and how each is read
//! from a request and written into a body.
//!
//! Positions are the sender's ring positions (see [`super::queue`]); blocks and digests are
//! the seen set's (see [`super::queue::Set`]). Field names are one letter: a batch of a
//! thousand values costs the same message as one, but not the same bytes.
//!
//! | type | fields | meaning |
//! |---|---|---|
//! | `gossip` | `s`, `e`, `a`, `v`, `r`?, `y`? | the sender's ring positions `[s, e)`: every value in that range that is for the receiver, in `v`; `a` acknowledges the receiver's ring cumulatively; `r` marks a retransmission; `y` says the receiver already has every value of the sender's below `s` (sent after a resync, until acknowledged) |
//! | `gossip_ack` | `a` | a standalone cumulative acknowledgement |
//! | `sync` | `p`, `v`?, `f`?, `d`?, `t`? | resync, sender to lapped receiver: values the receiver lacks (`v`), then the digests `d` (block, digest pairs) of the sender's non-empty blocks from block `f` (up to block `t`, exclusive, when the list was cut short). `p` names the pass: the sender's ring head when it began. A `sync` with `d` is answered with `sync_have`; one without is data only |
//! | `sync_have` | `p`, `f`, `h`, `n`? | the answer to a digest: for every listed block whose digest differs from the receiver's, the block, the count of numbers that follow, and the receiver's own content of it (the set's description: ranges of values for a counter-like block). `n` is the block to continue from when the answer was cut short or the digest list was |

use crate::proto::encode::ObjWriter;
use crate::proto::{Arr, FieldError, Msg};

/// Body type of a data message between nodes.
pub const GOSSIP: &str = "gossip";
/// Body type of a standalone acknowledgement.
pub const GOSSIP_ACK: &str = "gossip_ack";
/// Body type of a resync message (values and/or digests) to a lapped peer.
pub const SYNC: &str = "sync";
/// Body type of the answer to a resync digest.
pub const SYNC_HAVE: &str = "sync_have";

/// A `gossip` message.
#[derive(Copy, Clone, Debug)]
pub struct Gossip<'t, 'i> {
    /// First sender position covered.
    pub s: u64,
    /// End (exclusive) of the sender positions covered.
    pub e: u64,
    /// The sender's cumulative acknowledgement of the receiver's ring.
    pub a: u64,
    /// The values.
    pub v: Arr<'t, 'i>,
    /// A retransmission (the receiver answers it at once).
    pub r: bool,
    /// The receiver already has every value of the sender's below `s` (after a resync).
    pub y: bool,
}

impl<'t, 'i> Gossip<'t, 'i> {
    /// Reads and checks a `gossip` body; `valid` says whether a value is an element.
    pub fn read(
        req: &Msg<'t, 'i>,
        valid: impl Fn(crate::proto::Val<'_, '_>) -> bool,
    ) -> Result<Self, FieldError> {
        let s = req.u64("s")?;
        let e = req.u64("e")?;
        let a = req.u64("a")?;
        let v = req.arr("v")?;
        if e < s {
            return Err(FieldError::invalid("e", "at least `s`"));
        }
        if !v.iter().all(valid) {
            return Err(FieldError::invalid("v", "an array of elements"));
        }
        Ok(Gossip { s, e, a, v, r: req.get("r").is_some(), y: req.get("y").is_some() })
    }
}

/// Reads a `gossip_ack`: the acknowledged position.
pub fn read_ack(req: &Msg<'_, '_>) -> Result<u64, FieldError> {
    req.u64("a")
}

/// Writes a `gossip_ack` body.
pub fn write_ack(b: &mut ObjWriter<'_>, a: u64) {
    b.u64("a", a);
}

/// A `sync` message.
#[derive(Copy, Clone, Debug)]
pub struct Sync<'t, 'i> {
    /// The pass it belongs to (the sender's ring head when the pass began).
    pub p: u64,
    /// Values the receiver was found to lack (possibly empty).
    pub v: Option<Arr<'t, 'i>>,
    /// The digest: `[block, digest, ...]` from block `f`, when present.
    pub d: Option<(u32, Arr<'t, 'i>)>,
    /// Where the digest list was cut short (exclusive), if it was.
    pub t: Option<u32>,
}

impl<'t, 'i> Sync<'t, 'i> {
    /// Reads and checks a `sync` body; `valid` says whether a value is an element.
    pub fn read(
        req: &Msg<'t, 'i>,
        valid: impl Fn(crate::proto::Val<'_, '_>) -> bool,
    ) -> Result<Self, FieldError> {
        let p = req.u64("p")?;
        let v = match req.get("v") {
            Some(_) => Some(req.arr("v")?),
            None => None,
        };
        if v.is_some_and(|v| !v.iter().all(valid)) {
            return Err(FieldError::invalid("v", "an array of elements"));
        }
        let d = match req.get("d") {
            Some(_) => {
                let d = req.arr("d")?;
                if d.len() % 2 != 0 || !d.iter().all(|x| x.as_u64().is_some()) {
                    return Err(FieldError::invalid("d", "block and digest pairs"));
                }
                Some((block(req, "f")?, d))
            }
            None => None,
        };
        let t = match req.get("t") {
            Some(_) => Some(block(req, "t")?),
            None => None,
        };
        Ok(Sync { p, v, d, t })
    }
}

/// A `sync_have` message.
#[derive(Copy, Clone, Debug)]
pub struct SyncHave<'t, 'i> {
    /// The pass it answers.
    pub p: u64,
    /// The first block of the digest it answers.
    pub f: u32,
    /// `[block, count, count numbers describing the block, ...]` for blocks that differ.
    pub h: Arr<'t, 'i>,
    /// Where to continue (the answer or the digest was cut short), if anywhere.
    pub n: Option<u32>,
}

impl<'t, 'i> SyncHave<'t, 'i> {
    /// Reads and checks a `sync_have` body.
    pub fn read(req: &Msg<'t, 'i>) -> Result<Self, FieldError> {
        let p = req.u64("p")?;
        let f = block(req, "f")?;
        let h = req.arr("h")?;
        if !h.iter().all(|x| x.as_u64().is_some()) {
            return Err(FieldError::invalid("h", "an array of non-negative integers"));
        }
        let n = match req.get("n") {
            Some(_) => Some(block(req, "n")?),
            None => None,
        };
        Ok(SyncHave { p, f, h, n })
    }
}

/// A block number field.
fn block(req: &Msg<'_, '_>, field: &'static str) -> Result<u32, FieldError> {
    u32::try_from(req.u64(field)?)
        .map_err(|_| FieldError::invalid(field, "a block number below 2^32"))
}
