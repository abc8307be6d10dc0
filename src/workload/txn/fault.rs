//! Deliberate bugs in the txn node, switched on with `--fault NAME`, so that the bench can show
//! its checker rejects each anomaly class in a real run. Nothing here runs otherwise.

use std::time::Duration;

use super::{FLUSH_EVERY, Mop, Txn, Version};
use crate::node::{Ctx, Reject};
use crate::proto::Msg;

/// Parked txns at most (the oldest is finished when one more arrives).
const MAX_PARKED: usize = 64;

/// A deliberate bug.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `aborted-reads`: every fifth writing txn is applied, then answered with a definite
    /// error (G1a).
    AbortedReads,
    /// `intermediate-reads`: when a txn writes a key twice, the register keeps the first write
    /// (G1b).
    IntermediateReads,
    /// `own-writes-invisible`: reads see the state before the txn, not its own earlier writes
    /// (internal inconsistency).
    OwnWritesInvisible,
    /// `late-reads`: writes apply on arrival; reads are answered when the next txn has applied
    /// its writes (G1c: two txns can each read the other's write).
    LateReads,
    /// `interleave`: txns in progress run one micro-op at a time, round-robin, as if there
    /// were no isolation at all (G0 among others: each overwrites what it read from the other).
    Interleave,
}

impl Fault {
    /// The fault named after `--fault` in `args`, if any.
    pub(super) fn parse(args: &[String]) -> Option<Fault> {
        let i = args.iter().position(|a| a == "--fault")?;
        match args.get(i + 1).map(String::as_str) {
            Some("aborted-reads") => Some(Fault::AbortedReads),
            Some("intermediate-reads") => Some(Fault::IntermediateReads),
            Some("own-writes-invisible") => Some(Fault::OwnWritesInvisible),
            Some("late-reads") => Some(Fault::LateReads),
            Some("interleave") => Some(Fault::Interleave),
            _ => None,
        }
    }
}

/// A txn in progress. It owns its micro-ops (allocated per txn: fault paths only).
#[derive(Debug)]
pub(super) struct Parked {
    client: String,
    msg_id: u64,
    mops: Vec<Mop>,
    /// Micro-ops done so far (`interleave`).
    done: usize,
}

impl Txn {
    /// Handles a parsed txn (in `self.mops`) under `late-reads` or `interleave`.
    pub(super) fn on_txn_parked(
        &mut self,
        req: &Msg<'_, '_>,
        cx: &mut Ctx<'_, Self>,
    ) -> Result<(), Reject> {
        let now = cx.now();
        let Some(msg_id) = req.msg_id else { return Ok(()) };
        let p = Parked {
            client: req.src.to_owned(),
            msg_id,
            mops: std::mem::take(&mut self.mops),
            done: 0,
        };
        if self.fault == Some(Fault::LateReads) {
            // Apply this txn's writes, answer the parked one (its reads now see them), park.
            let writes: Vec<(i64, i64)> =
                p.mops.iter().filter(|m| m.write).filter_map(|m| Some((m.key, m.value?))).collect();
            if !writes.is_empty() {
                self.clock += 1;
                let version = Version { lamport: self.clock, node: self.me };
                for (k, v) in writes {
                    self.write_local(k, v, version);
                }
                self.arm_flush(now + FLUSH_EVERY, cx);
            }
            while !self.parked.is_empty() {
                self.finish_late(0, cx);
            }
        } else if self.parked.len() == MAX_PARKED {
            while self.parked[0].done < self.parked[0].mops.len() {
                self.step(0, cx);
            }
            self.reply_parked(0, cx);
        }
        self.parked.push(p);
        if self.fault == Some(Fault::Interleave) {
            self.step_all(cx);
        }
        cx.set_timer(now + Duration::from_millis(1), super::Timer::Unpark);
        Ok(())
    }

    /// The unpark timer: answer the late txn, or take one more step of each interleaved one.
    pub(super) fn on_unpark(&mut self, cx: &mut Ctx<'_, Self>) {
        match self.fault {
            Some(Fault::LateReads) => {
                while !self.parked.is_empty() {
                    self.finish_late(0, cx);
                }
            }
            _ => {
                self.step_all(cx);
                if !self.parked.is_empty() {
                    let at = cx.now() + Duration::from_millis(1);
                    cx.set_timer(at, super::Timer::Unpark);
                }
            }
        }
    }

    /// `late-reads`: fills in parked txn `i`'s reads from the registers as they are now (or
    /// its own earlier writes) and answers it.
    fn finish_late(&mut self, i: usize, cx: &mut Ctx<'_, Self>) {
        for j in 0..self.parked[i].mops.len() {
            let m = self.parked[i].mops[j];
            if m.write {
                continue;
            }
            let own = self.parked[i].mops[..j].iter().rev().find(|p| p.write && p.key == m.key);
            let v = match own {
                Some(w) => w.value,
                None => self.get(m.key),
            };
            self.parked[i].mops[j].value = v;
        }
        self.reply_parked(i, cx);
    }

    /// `interleave`: one micro-op of every txn in progress; answers those that finish.
    fn step_all(&mut self, cx: &mut Ctx<'_, Self>) {
        let mut i = 0;
        while i < self.parked.len() {
            self.step(i, cx);
            if self.parked[i].done == self.parked[i].mops.len() {
                self.reply_parked(i, cx);
            } else {
                i += 1;
            }
        }
    }

    /// `interleave`: runs parked txn `i`'s next micro-op against the registers.
    fn step(&mut self, i: usize, cx: &mut Ctx<'_, Self>) {
        let p = &self.parked[i];
        let m = p.mops[p.done];
        if let (true, Some(v)) = (m.write, m.value) {
            self.clock += 1;
            self.write_local(m.key, v, Version { lamport: self.clock, node: self.me });
            let at = cx.now() + FLUSH_EVERY;
            self.arm_flush(at, cx);
        } else {
            let v = self.get(m.key);
            let p = &mut self.parked[i];
            p.mops[p.done].value = v;
        }
        self.parked[i].done += 1;
    }

    /// Sends parked txn `i`'s `txn_ok` (a reply written by hand: the request is long gone).
    fn reply_parked(&mut self, i: usize, cx: &mut Ctx<'_, Self>) {
        let p = self.parked.remove(i);
        cx.send(&p.client, "txn_ok", |b| {
            b.u64("in_reply_to", p.msg_id).arr("txn", |a| Self::write_mops(&p.mops, a));
        });
    }
}
