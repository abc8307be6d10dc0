//! Challenge 4, g-counter: a grow-only counter over Maelstrom's sequentially consistent
//! `seq-kv`.
//!
//! Each node owns one key (its node id) holding the total of the adds it has acknowledged;
//! only it ever writes that key, with compare-and-set from the last value it knows was stored,
//! so a delayed or duplicated write can never move the total backwards. A read answers at once
//! from a cache: this node's own total plus the largest total seen for every other node.
//!
//! The cache is refreshed in rounds. seq-kv may serve any state between the requester's last
//! one and the newest, so a round first makes a state-changing write (a per-node `sync` key
//! counter), which moves this node to the newest state; the reads that follow then see every
//! write that preceded it. Rounds run every 250 ms while anything changes and back off to 2 s
//! once nothing has for 20 rounds, so an idle cluster is nearly silent. Request timeouts adapt
//! to the measured round trip (and back off on expiry). Acknowledged adds are never lost: they
//! are in the local total at once and reach seq-kv with retries.
//!
//! Adds are published on their own timer, within 250 ms of the first one not yet stored
//! (batching the rest), not with the next refresh round, which latency can hold up for
//! seconds. A CAS that times out is retried at once, from the same value. If that retry
//! fails, an earlier attempt landed after all; when exactly one attempt from that value is
//! unaccounted for, the failure says what our key holds (that attempt's total), so the next
//! CAS goes out at once, from it. Only when several could have landed does the node read its
//! key first. A second round starts when one has taken more than two round trips (at most
//! two at once). Before these, under 500 ms exponential latency, a late CAS, a retry only at
//! the next round, a read of our key, and rounds stuck behind one slow message (Maelstrom
//! holds a whole destination while it delivers one) could outlast the 10 s before the final
//! reads.

use std::time::Duration;

use crate::node::{Ctx, Reject, Reply, Workload};
use crate::proto::{ErrorCode, Msg};

/// The service the counter lives in.
const KV: &str = "seq-kv";
/// Bounds on how long to wait for seq-kv before retrying; in between the timeout adapts to
/// four times the smoothed round-trip time, so a slow network does not turn every request
/// into a timeout (and a retry storm).
const MIN_TIMEOUT: Duration = Duration::from_millis(1000);
const MAX_TIMEOUT: Duration = Duration::from_secs(10);
/// Refresh period while values change.
const FAST: Duration = Duration::from_millis(250);
/// Unchanged rounds before the refresh period starts to back off.
const IDLE_ROUNDS_BEFORE_BACKOFF: u32 = 20;
/// Longest refresh period when nothing changes.
const SLOW: Duration = Duration::from_millis(2000);
/// Most rounds in progress at once. A second one starts only when the first is overdue
/// (see [`GCounter::start_round`]), so where rounds take their usual two round trips only
/// one ever is; a round held up for seconds (Maelstrom holds a whole destination while it
/// delivers one slow message) then no longer holds up the next.
const ROUNDS: usize = 2;

/// An outstanding seq-kv request: what it is for and when it was sent.
#[derive(Debug)]
pub struct Call {
    what: What,
    sent: crate::time::Instant,
}

/// What an outstanding seq-kv request is for.
#[derive(Debug)]
pub enum What {
    /// CAS of our own key from the first total to the second.
    Publish(u64, u64),
    /// Bump of our sync key to this value (which names the round).
    Sync(u64),
    /// Read of node `i`'s key in the round named by the second value.
    Read(usize, u64),
    /// Read of our own key after a failed CAS.
    Resync,
}

/// Timers.
#[derive(Copy, Clone, Debug)]
pub enum Timer {
    /// Start a refresh round.
    Refresh,
    /// Publish the adds batched since the first unpublished one.
    Publish,
}

/// The g-counter workload.
#[derive(Debug)]
pub struct GCounter {
    /// Sum of every acknowledged add on this node. Invariant: `>= stored`.
    total: u64,
    /// The value of our key in seq-kv as far as we know (0: absent).
    stored: u64,
    /// A publish is in flight.
    publishing: bool,
    /// A [`Timer::Publish`] is pending.
    publish_due: bool,
    /// Largest total seen per node (our own slot unused).
    seen: Vec<u64>,
    /// The next sync key value.
    sync: u64,
    /// Rounds in progress (sync then reads), each as its sync value, the reads it still
    /// waits for and when it began; at most [`ROUNDS`], so a round held up by latency does
    /// not stop the next.
    rounds: Vec<(u64, usize, crate::time::Instant)>,
    /// Whether the last round learned anything new.
    changed: bool,
    /// Current refresh period (backs off while idle).
    period: Duration,
    /// Rounds in a row that learned nothing.
    idle_rounds: u32,
    /// A CAS failed: our idea of `stored` is stale until our own key is read again.
    resync: bool,
    /// CAS attempts from the current `stored` whose outcome is unknown (timed out or failed
    /// indefinitely), saturating; reset whenever `stored` changes.
    unknown: u32,
    /// The total the latest of those attempts wrote, if it landed.
    unknown_to: u64,
    /// Keys for every node, built once.
    keys: Vec<String>,
    /// Smoothed round-trip time to seq-kv.
    srtt: Duration,
}

impl GCounter {
    fn timeout(&self) -> Duration {
        (self.srtt * 4).clamp(MIN_TIMEOUT, MAX_TIMEOUT)
    }

    fn call(&self, what: What, cx: &Ctx<'_, Self>) -> Call {
        Call { what, sent: cx.now() }
    }

    /// The value a read returns now.
    ///
    /// Saturates: totals near `u64::MAX` cannot come from real adds (ours are checked), only
    /// from a store holding nonsense, and a read must not crash the node.
    pub fn value(&self, me: usize) -> u64 {
        self.seen
            .iter()
            .enumerate()
            .map(|(i, &v)| if i == me { self.total } else { v })
            .fold(0, u64::saturating_add)
    }

    /// Records what our key holds; attempts from the old value can no longer land.
    fn set_stored(&mut self, v: u64) {
        self.stored = v;
        self.unknown = 0;
    }

    fn publish(&mut self, cx: &mut Ctx<'_, Self>) {
        if self.publishing || self.resync || self.total == self.stored {
            return;
        }
        self.publishing = true;
        let (from, to) = (self.stored, self.total);
        let key = &self.keys[cx.index().min(self.keys.len() - 1)];
        let key = key.clone();
        let (timeout, call) = (self.timeout(), self.call(What::Publish(from, to), cx));
        cx.rpc(KV, "cas", timeout, call, |b| {
            b.str("key", &key).u64("from", from).u64("to", to).bool("create_if_not_exists", true);
        });
    }

    fn start_round(&mut self, cx: &mut Ctx<'_, Self>) {
        // A round takes two round trips; one that has taken longer is overdue.
        let overdue =
            |r: &(u64, usize, crate::time::Instant)| cx.now().saturating_since(r.2) > self.srtt * 2;
        if self.rounds.len() >= ROUNDS || !self.rounds.iter().all(overdue) {
            return;
        }
        self.sync += 1;
        self.rounds.push((self.sync, 0, cx.now()));
        let sync = self.sync;
        let key = format!("sync-{}", cx.id());
        let (timeout, call) = (self.timeout(), self.call(What::Sync(sync), cx));
        cx.rpc(KV, "write", timeout, call, |b| {
            b.str("key", &key).u64("value", sync);
        });
    }

    fn end_round(&mut self, sync: u64) {
        self.rounds.retain(|r| r.0 != sync);
        // Stay fast for a while after the last change (a peer's total may still be on its
        // way through a slow network), then back off.
        if self.changed || self.total != self.stored {
            self.idle_rounds = 0;
        } else {
            self.idle_rounds += 1;
        }
        self.period = if self.idle_rounds < IDLE_ROUNDS_BEFORE_BACKOFF {
            FAST
        } else {
            (self.period * 2).min(SLOW)
        };
        self.changed = false;
    }
}

impl Workload for GCounter {
    type Timer = Timer;
    type Call = Call;

    fn init(cx: &mut Ctx<'_, Self>, _: &[String]) -> Self {
        let keys: Vec<String> =
            if cx.ids().is_empty() { vec![cx.id().to_owned()] } else { cx.ids().to_vec() };
        let at = cx.now() + FAST;
        cx.set_timer(at, Timer::Refresh);
        GCounter {
            total: 0,
            stored: 0,
            publishing: false,
            publish_due: false,
            seen: vec![0; keys.len()],
            sync: 0,
            rounds: Vec::with_capacity(ROUNDS),
            changed: true,
            period: FAST,
            idle_rounds: 0,
            resync: false,
            unknown: 0,
            unknown_to: 0,
            keys,
            srtt: Duration::from_millis(100),
        }
    }

    fn on_request(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        match req.kind {
            "add" => {
                let delta = req.u64("delta")?;
                self.total = self.total.checked_add(delta).ok_or_else(|| {
                    Reject::new(ErrorCode::MalformedRequest, "delta overflows the counter")
                })?;
                // Published within FAST, batched with other adds (on its own timer: a round
                // slowed by latency must not hold the publish back).
                if !self.publish_due && !self.publishing {
                    self.publish_due = true;
                    let at = cx.now() + FAST;
                    cx.set_timer(at, Timer::Publish);
                }
                cx.reply(req, "add_ok", |_| {});
            }
            "read" => {
                let value = self.value(cx.index());
                cx.reply(req, "read_ok", |b| {
                    b.u64("value", value);
                });
            }
            other => return Err(Reject::unsupported(other)),
        }
        Ok(())
    }

    fn on_reply(&mut self, call: Call, reply: Reply<'_, '_, '_>, cx: &mut Ctx<'_, Self>) {
        match reply {
            Ok(_) | Err(ErrorCode::PreconditionFailed | ErrorCode::KeyDoesNotExist) => {
                let sample = cx.now().saturating_since(call.sent);
                self.srtt = (self.srtt * 7 + sample) / 8;
            }
            // No answer in time: the round trip is longer than we thought. Back off (as TCP
            // does with its RTO) so the next attempt waits long enough.
            Err(ErrorCode::Timeout) => self.srtt = (self.srtt * 2).min(MAX_TIMEOUT / 4),
            Err(_) => {}
        }
        match call.what {
            What::Publish(from, to) => {
                self.publishing = false;
                match reply {
                    Ok(_) => {
                        self.set_stored(to);
                        self.publish(cx);
                    }
                    // Our key no longer holds `from`. We are its only writer, every CAS moves
                    // it up, and seq-kv never serves us a state older than one we have seen
                    // holding `from`: so an attempt from `from` whose outcome we never learnt
                    // landed after all (and every other attempt from `from` fails). With
                    // exactly one such attempt, our key holds its total: publish again from
                    // it at once.
                    Err(ErrorCode::PreconditionFailed)
                        if from == self.stored
                            && self.unknown == 1
                            && self.unknown_to <= self.total =>
                    {
                        self.set_stored(self.unknown_to);
                        self.publish(cx);
                    }
                    // Several could have landed (or the store holds something we never
                    // wrote): read what is stored, then publish again. The failed CAS moved us
                    // to a state where our key already holds the newer value, so this read
                    // cannot be staler.
                    Err(ErrorCode::PreconditionFailed) => {
                        self.resync = true;
                        let key = self.keys[cx.index().min(self.keys.len() - 1)].clone();
                        let (timeout, call) = (self.timeout(), self.call(What::Resync, cx));
                        cx.rpc(KV, "read", timeout, call, |b| {
                            b.str("key", &key);
                        });
                    }
                    // No answer in time (or an indefinite error): the attempt may still land.
                    // Retry at once rather than at the next round (the timeout has backed
                    // off, so this is no storm); a failure of the retry then tells us.
                    Err(code) => {
                        if from == self.stored {
                            self.unknown = self.unknown.saturating_add(1);
                            self.unknown_to = to;
                        }
                        if code == ErrorCode::Timeout {
                            self.publish(cx);
                        }
                    }
                }
            }
            What::Sync(sync) => {
                if reply.is_err() {
                    // Not yet at the newest state: try again next round.
                    self.end_round(sync);
                    return;
                }
                // Every other node's key, and our own only when a failed CAS left us unsure.
                let me = cx.index();
                let wanted: Vec<usize> =
                    (0..self.keys.len()).filter(|&i| i != me || self.resync).collect();
                if wanted.is_empty() {
                    self.end_round(sync);
                    return;
                }
                if let Some(r) = self.rounds.iter_mut().find(|r| r.0 == sync) {
                    r.1 = wanted.len();
                }
                for i in wanted {
                    let key = self.keys[i].clone();
                    let (timeout, call) = (self.timeout(), self.call(What::Read(i, sync), cx));
                    cx.rpc(KV, "read", timeout, call, |b| {
                        b.str("key", &key);
                    });
                }
            }
            What::Resync => {
                if let Some(v) = reply.ok().and_then(|m| m.get("value")).and_then(|v| v.as_u64()) {
                    if self.resync && !self.publishing {
                        self.set_stored(v.min(self.total));
                        self.resync = false;
                        self.publish(cx);
                    }
                }
                // On failure the next round's read of our own key resynchronises instead.
            }
            What::Read(i, sync) => {
                if let Ok(msg) = reply {
                    if let Some(v) = msg.get("value").and_then(|v| v.as_u64()) {
                        if i == cx.index() {
                            // Our own key, read at a state no older than our sync write:
                            // what is really stored, if a failed CAS left us unsure.
                            if self.resync && !self.publishing {
                                self.set_stored(v.min(self.total));
                                self.resync = false;
                                self.publish(cx);
                            }
                        } else if v > self.seen[i] {
                            self.seen[i] = v;
                            self.changed = true;
                        }
                    }
                }
                let left = self.rounds.iter_mut().find(|r| r.0 == sync).map(|r| {
                    r.1 -= 1;
                    r.1
                });
                if left == Some(0) {
                    self.end_round(sync);
                }
            }
        }
    }

    fn on_timer(&mut self, timer: Timer, cx: &mut Ctx<'_, Self>) {
        match timer {
            Timer::Publish => {
                self.publish_due = false;
                self.publish(cx);
            }
            Timer::Refresh => {
                // Adds go out on their own timer; this retries a publish that failed.
                if !self.publish_due {
                    self.publish(cx);
                }
                self.start_round(cx);
                let at = cx.now() + self.period;
                cx.set_timer(at, Timer::Refresh);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::node::harness::Harness;

    /// The `msg_id` of the first output line of body type `kind`.
    fn id_of(out: &[String], kind: &str) -> u64 {
        let line = out.iter().find(|l| l.contains(&format!("\"type\":\"{kind}\""))).unwrap();
        let rest = &line[line.find("\"msg_id\":").unwrap() + 9..];
        rest[..rest.find([',', '}']).unwrap()].parse().unwrap()
    }

    #[test]
    fn a_timed_out_cas_is_retried_at_once_and_a_failed_retry_republishes_without_a_read() {
        // Found by the fault sweep (seed 253, 500 ms exponential latency): a CAS timed out but
        // landed, its retry (sent only at the next round) failed, and the read of our key plus
        // the next CAS that followed took so long that a final read came out short.
        let mut h = Harness::<GCounter>::new(&[]);
        h.init("n0", &["n0"]);
        h.line(r#"{"src":"c1","dest":"n0","body":{"type":"add","msg_id":2,"delta":5}}"#);
        let out = h.advance(Duration::from_millis(250));
        assert!(
            out.iter().any(|l| l.contains(r#""type":"cas","#) && l.contains(r#""from":0,"to":5"#)),
            "{out:?}"
        );
        h.line(r#"{"src":"c1","dest":"n0","body":{"type":"add","msg_id":3,"delta":3}}"#);
        // No answer within the 1 s timeout: the retry goes out when it expires.
        let out = h.advance(Duration::from_millis(1001));
        let retry = out
            .iter()
            .find(|l| l.contains(r#""type":"cas","#))
            .unwrap_or_else(|| panic!("no retry at the timeout: {out:?}"));
        assert!(retry.contains(r#""from":0,"to":8"#), "{retry}");
        let id = id_of(&out, "cas");
        // The retry fails: the first attempt landed after all, so our key holds 5.
        let out = h.line(&format!(
            r#"{{"src":"seq-kv","dest":"n0","body":{{"type":"error","code":22,"text":"current value 5 is not 0","in_reply_to":{id}}}}}"#
        ));
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(
            out[0].contains(r#""type":"cas","#) && out[0].contains(r#""from":5,"to":8"#),
            "{out:?}"
        );
        // A second failure leaves nothing to infer: read our key.
        let id = id_of(&out, "cas");
        let out = h.line(&format!(
            r#"{{"src":"seq-kv","dest":"n0","body":{{"type":"error","code":22,"text":"current value 6 is not 5","in_reply_to":{id}}}}}"#
        ));
        assert!(out.len() == 1 && out[0].contains(r#""type":"read","#), "{out:?}");
    }

    #[test]
    fn huge_totals_from_the_store_saturate_instead_of_overflowing() {
        // Found by the g-counter fuzz target: a read summing totals near u64::MAX panicked.
        let mut h = Harness::<GCounter>::new(&[]);
        h.init("n0", &["n0", "n1"]);
        h.line(r#"{"src":"c1","dest":"n0","body":{"type":"add","msg_id":2,"delta":5}}"#);
        let out = h.advance(Duration::from_millis(250));
        let sync = id_of(&out, "write");
        let out = h.line(&format!(
            r#"{{"src":"seq-kv","dest":"n0","body":{{"type":"write_ok","in_reply_to":{sync}}}}}"#
        ));
        let read = id_of(&out, "read");
        h.line(&format!(
            r#"{{"src":"seq-kv","dest":"n0","body":{{"type":"read_ok","in_reply_to":{read},"value":18446744073709551615}}}}"#
        ));
        let out = h.line(r#"{"src":"c1","dest":"n0","body":{"type":"read","msg_id":3}}"#);
        assert!(out[0].contains(r#""value":18446744073709551615"#), "{out:?}");
    }
}
