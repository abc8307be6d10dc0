//! Every anomaly class the kafka checker claims, each rejected in a deliberately broken
//! history (and a clean history accepted).

use super::*;
use crate::sim::history::Op;

/// A history under construction; time advances one ms per entry.
#[derive(Default)]
struct H {
    h: History<KValue>,
}

fn polled(msgs: &[(u64, &[(i64, i64)])]) -> KValue {
    KValue::Poll(Some(Box::new(Polled {
        msgs: msgs
            .iter()
            .map(|(k, pairs)| (*k, pairs.iter().map(|&(o, v)| (o, PVal::Int(v))).collect()))
            .collect(),
        foreign: Vec::new(),
    })))
}

impl H {
    fn push(&mut self, process: usize, kind: OpType, value: KValue) -> &mut Self {
        let f = match value {
            KValue::Send { .. } => "send",
            KValue::Poll(_) => "poll",
            KValue::Assign { .. } => "assign",
            KValue::Crash => "crash",
        };
        let time = self.h.ops.len() as u64 * 1_000_000;
        self.h.push(Op { index: 0, time, process, kind, f, value, error: None, is_final: false });
        self
    }

    fn invoke_send(&mut self, p: usize, key: u64, msg: u64) -> &mut Self {
        self.push(p, OpType::Invoke, KValue::Send { key, msg, offset: None })
    }

    fn send_done(&mut self, p: usize, kind: OpType, key: u64, msg: u64, off: i64) -> &mut Self {
        let offset = (kind == OpType::Ok).then_some(off);
        self.push(p, kind, KValue::Send { key, msg, offset })
    }

    /// An ok send, invoked and completed at once.
    fn send(&mut self, p: usize, key: u64, msg: u64, off: i64) -> &mut Self {
        self.invoke_send(p, key, msg).send_done(p, OpType::Ok, key, msg, off)
    }

    /// An ok poll of `msgs`, invoked and completed at once.
    fn poll(&mut self, p: usize, msgs: &[(u64, &[(i64, i64)])]) -> &mut Self {
        self.push(p, OpType::Invoke, KValue::Poll(None)).push(p, OpType::Ok, polled(msgs))
    }

    fn assign(&mut self, p: usize, keys: &[u64]) -> &mut Self {
        let v = KValue::Assign { keys: keys.to_vec(), seek: false };
        self.push(p, OpType::Invoke, v.clone()).push(p, OpType::Ok, v)
    }

    fn check(&self) -> Check {
        check(&self.h)
    }
}

/// Asserts the history is invalid with exactly these error types.
fn rejects(h: &H, types: &[&str]) {
    let c = h.check();
    assert_eq!(c.valid, Validity::False, "{}", c.json);
    for t in types {
        assert!(c.json.contains(&format!("\"{t}\":{{\"count\"")), "expected {t}: {}", c.json);
    }
    let reported: Vec<&str> =
        ERROR_TYPES.iter().copied().filter(|t| c.json.contains(&format!("\"{t}\":{{"))).collect();
    assert_eq!(reported, types, "{}", c.json);
}

/// Three ok sends to key 1 (values 1, 2, 3 at offsets 0, 2, 4: sparse, as our node makes).
fn three_sends() -> H {
    let mut h = H::default();
    h.send(0, 1, 1, 0).send(0, 1, 2, 2).send(0, 1, 3, 4);
    h
}

#[test]
fn a_clean_history_is_valid() {
    let mut h = three_sends();
    h.poll(1, &[(1, &[(0, 1), (2, 2)])]).poll(1, &[(1, &[(4, 3)])]);
    // An assign, a poll of an empty key list, a crash and a fresh process re-reading.
    h.assign(1, &[1]).poll(1, &[(1, &[])]).push(1, OpType::Invoke, KValue::Crash);
    h.push(1, OpType::Info, KValue::Crash);
    h.poll(5, &[(1, &[(0, 1), (2, 2), (4, 3)])]);
    // A failed send nobody read and an info send somebody read are both fine.
    h.invoke_send(2, 1, 4).send_done(2, OpType::Fail, 1, 4, 0);
    h.invoke_send(3, 1, 5).send_done(3, OpType::Info, 1, 5, 0);
    h.poll(5, &[(1, &[(6, 5)])]);
    let c = h.check();
    assert_eq!(c.valid, Validity::True, "{}", c.json);
    assert!(c.summary[1].contains("none"), "{:?}", c.summary);
}

#[test]
fn two_values_at_one_offset_are_inconsistent_offsets() {
    let mut h = three_sends();
    h.send(2, 1, 9, 2).poll(1, &[(1, &[(0, 1), (2, 9), (4, 3)])]);
    // 2 is at offset 2 (its send) and 9 too (the poll): one offset, two values. 2 is then
    // also never polled, although a later index was.
    rejects(&h, &["inconsistent-offsets", "lost-write", "unseen"]);
}

#[test]
fn one_value_at_two_offsets_is_a_duplicate() {
    let mut h = three_sends();
    h.poll(1, &[(1, &[(0, 1), (2, 2), (4, 3), (6, 3)])]);
    // A value's index is its last one, so the poll also seems to jump to 3, then repeat it.
    rejects(&h, &["duplicate", "int-poll-skip", "int-nonmonotonic-poll"]);
}

#[test]
fn reading_a_failed_send_is_g1a() {
    let mut h = three_sends();
    h.invoke_send(2, 1, 4).send_done(2, OpType::Fail, 1, 4, 0);
    h.poll(1, &[(1, &[(0, 1), (2, 2), (4, 3), (6, 4)])]);
    rejects(&h, &["G1a"]);
}

#[test]
fn an_acknowledged_send_nobody_polled_below_a_polled_one_is_a_lost_write() {
    let mut h = three_sends();
    // Process 1 reads 1, process 2 reads 3 (after an assign put it at offset 4): nobody
    // ever reads 2, although index 2 was reached. Global, not per consumer.
    h.poll(1, &[(1, &[(0, 1)])]).poll(2, &[(1, &[(4, 3)])]);
    rejects(&h, &["lost-write", "unseen"]);
    let c = h.check();
    assert!(
        c.json.contains(r#""lost-write":{"count":1,"errs":[{"key":1,"values":[2]"#),
        "{}",
        c.json
    );
}

#[test]
fn a_gap_inside_one_poll_is_an_int_poll_skip() {
    let mut h = three_sends();
    h.poll(1, &[(1, &[(0, 1), (4, 3)])]).poll(2, &[(1, &[(2, 2)])]);
    rejects(&h, &["int-poll-skip"]);
}

#[test]
fn going_backwards_inside_one_poll_is_int_nonmonotonic() {
    let mut h = three_sends();
    h.poll(1, &[(1, &[(2, 2), (0, 1)])]).poll(2, &[(1, &[(4, 3)])]);
    rejects(&h, &["int-nonmonotonic-poll"]);
}

#[test]
fn a_gap_between_a_process_polls_is_a_poll_skip_unless_reassigned() {
    let mut h = three_sends();
    h.poll(1, &[(1, &[(0, 1)])]).poll(1, &[(1, &[(4, 3)])]).poll(2, &[(1, &[(2, 2)])]);
    rejects(&h, &["poll-skip"]);
    // An assign that keeps the key keeps the tracking...
    let mut h = three_sends();
    h.poll(1, &[(1, &[(0, 1)])]).assign(1, &[1, 7]).poll(1, &[(1, &[(4, 3)])]);
    h.poll(2, &[(1, &[(2, 2)])]);
    rejects(&h, &["poll-skip"]);
    // ... one that drops it resets it, and a failed assign changes nothing.
    let mut h = three_sends();
    h.poll(1, &[(1, &[(0, 1)])]).assign(1, &[7]).poll(1, &[(1, &[(4, 3)])]);
    h.poll(2, &[(1, &[(2, 2)])]);
    assert_eq!(h.check().valid, Validity::True, "{}", h.check().json);
    let mut h = three_sends();
    let v = KValue::Assign { keys: vec![7], seek: false };
    h.poll(1, &[(1, &[(0, 1)])]).push(1, OpType::Invoke, v.clone()).push(1, OpType::Fail, v);
    h.poll(1, &[(1, &[(4, 3)])]).poll(2, &[(1, &[(2, 2)])]);
    rejects(&h, &["poll-skip"]);
}

#[test]
fn polling_again_what_a_process_already_polled_is_nonmonotonic() {
    let mut h = three_sends();
    h.poll(1, &[(1, &[(0, 1), (2, 2)])]).poll(1, &[(1, &[(2, 2), (4, 3)])]);
    rejects(&h, &["nonmonotonic-poll"]);
}

#[test]
fn a_process_sends_that_go_backwards_are_nonmonotonic_sends() {
    let mut h = H::default();
    h.send(0, 1, 1, 4).send(0, 1, 2, 2).poll(1, &[(1, &[(2, 2), (4, 1)])]);
    rejects(&h, &["nonmonotonic-send"]);
}

#[test]
fn an_acknowledged_send_never_polled_is_unseen() {
    let mut h = three_sends();
    h.poll(1, &[(1, &[(0, 1), (2, 2)])]);
    rejects(&h, &["unseen"]);
    assert!(h.check().json.contains(r#""unseen_messages":{"1":[3]}"#), "{}", h.check().json);
}

#[test]
fn reading_a_value_before_its_send_began_is_g1c_realtime() {
    let mut h = H::default();
    h.poll(1, &[(1, &[(0, 1)])]).send(0, 1, 1, 0);
    rejects(&h, &["G1c-realtime"]);
    // Concurrent is fine: the send was invoked before the poll completed.
    let mut h = H::default();
    h.invoke_send(0, 1, 1).poll(1, &[(1, &[(0, 1)])]).send_done(0, OpType::Ok, 1, 1, 0);
    assert_eq!(h.check().valid, Validity::True, "{}", h.check().json);
}

#[test]
fn a_value_nobody_sent_makes_the_result_unknown() {
    let mut h = three_sends();
    h.poll(1, &[(1, &[(0, 1), (2, 2), (4, 3), (6, 42)])]);
    let c = h.check();
    assert_eq!(c.valid, Validity::Unknown, "{}", c.json);
    assert!(c.summary.iter().any(|l| l.starts_with("UNKNOWN")), "{:?}", c.summary);
    // A non-integer message is never a sent value either.
    let mut h = three_sends();
    let mut p = polled(&[(1, &[(0, 1), (2, 2), (4, 3)])]);
    if let KValue::Poll(Some(b)) = &mut p {
        b.msgs[0].1.push((6, PVal::Other("3.0".into())));
    }
    h.push(1, OpType::Invoke, KValue::Poll(None)).push(1, OpType::Ok, p);
    assert_eq!(h.check().valid, Validity::Unknown, "{}", h.check().json);
}
