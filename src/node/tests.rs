//! Tests of the node runtime with a small probe workload.

use std::time::Duration;

use super::harness::Harness;
use super::*;
use crate::workload::echo::Echo;

/// A workload that exercises RPCs and timers: `ask {to}` sends an RPC `q` to `to` and
/// answers the client when the reply (or timeout) comes; `later {ms}` answers after a timer.
struct Probe;

#[derive(Copy, Clone, Debug)]
enum ProbeTimer {
    Later { client_msg: u64 },
}

impl Workload for Probe {
    type Timer = ProbeTimer;
    type Call = (String, u64);

    fn init(_: &mut Ctx<'_, Self>, _: &[String]) -> Self {
        Probe
    }

    fn on_request(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        match req.kind {
            "ask" => {
                let to = req.str("to")?;
                let call = (req.src.to_owned(), req.msg_id.unwrap_or(0));
                cx.rpc(to, "q", Duration::from_millis(500), call, |b| {
                    b.u64("x", 1);
                });
            }
            "later" => {
                let ms = req.u64("ms")?;
                let at = cx.now() + Duration::from_millis(ms);
                cx.set_timer(at, ProbeTimer::Later { client_msg: req.msg_id.unwrap_or(0) });
            }
            "q" => {
                cx.reply(req, "q_ok", |_| {});
            }
            other => return Err(Reject::unsupported(other)),
        }
        Ok(())
    }

    fn on_reply(&mut self, call: Self::Call, reply: Reply<'_, '_, '_>, cx: &mut Ctx<'_, Self>) {
        let (client, irt) = call;
        let outcome = match reply {
            Ok(m) => m.kind.to_owned(),
            Err(code) => code.name().to_owned(),
        };
        let id = cx.id().to_owned();
        let h = Header {
            src: &id,
            dest: &client,
            kind: "ask_ok",
            msg_id: None,
            in_reply_to: Some(irt),
        };
        write_message(&mut cx.out.msgs, h, |b| {
            b.str("outcome", &outcome);
        });
    }

    fn on_timer(&mut self, timer: Self::Timer, cx: &mut Ctx<'_, Self>) {
        let ProbeTimer::Later { client_msg } = timer;
        cx.send("c1", "later_ok", |b| {
            b.u64("in_reply_to", client_msg);
        });
    }
}

#[test]
fn init_then_echo() {
    let mut h = Harness::<Echo>::new(&["--ignored", "words"]);
    assert_eq!(
        h.init("n1", &["n1", "n2"]),
        [r#"{"src":"n1","dest":"c0","body":{"type":"init_ok","in_reply_to":1}}"#]
    );
    let out = h
        .line(r#"{"src":"c1","dest":"n1","body":{"type":"echo","msg_id":7,"echo":{"a":[1,"x"]}}}"#);
    assert_eq!(
        out,
        [
            r#"{"src":"n1","dest":"c1","body":{"type":"echo_ok","in_reply_to":7,"echo":{"a":[1,"x"]}}}"#
        ]
    );
}

#[test]
fn requests_before_init_get_error_11() {
    let mut h = Harness::<Echo>::new(&[]);
    let out = h.line(r#"{"src":"c1","dest":"n1","body":{"type":"echo","msg_id":3,"echo":1}}"#);
    assert_eq!(out.len(), 1);
    assert!(
        out[0].starts_with(
            r#"{"src":"n1","dest":"c1","body":{"type":"error","in_reply_to":3,"code":11,"#
        ),
        "{}",
        out[0]
    );
}

#[test]
fn bad_requests_get_the_right_codes_and_garbage_is_only_logged() {
    let mut h = Harness::<Echo>::new(&[]);
    h.init("n1", &["n1"]);
    let unknown = h.line(r#"{"src":"c1","dest":"n1","body":{"type":"frobnicate","msg_id":4}}"#);
    assert!(unknown[0].contains(r#""in_reply_to":4,"code":10,"#), "{}", unknown[0]);
    let missing = h.line(r#"{"src":"c1","dest":"n1","body":{"type":"echo","msg_id":5}}"#);
    assert!(missing[0].contains(r#""in_reply_to":5,"code":12,"#), "{}", missing[0]);
    let no_type = h.line(r#"{"src":"c1","dest":"n1","body":{"msg_id":6}}"#);
    assert!(no_type[0].contains(r#""in_reply_to":6,"code":12,"#), "{}", no_type[0]);
    let bad_id = h.line(r#"{"src":"c1","dest":"n1","body":{"type":"echo","msg_id":"x","echo":1}}"#);
    assert!(bad_id.is_empty(), "no msg_id to answer: {bad_id:?}");
    for garbage in
        [&b"not json"[..], b"{\"src\":1}", b"[]", b"\xff\xfe", b"{\"src\":\"c1\",\"dest\":\"n1\""]
    {
        assert!(h.line_bytes(garbage).is_empty());
    }
    assert_eq!(h.log().lines().count(), 6, "one log line per dropped line:\n{}", h.log());
}

#[test]
fn rpc_replies_are_matched_and_timeouts_fire_once() {
    let mut h = Harness::<Probe>::new(&[]);
    h.init("n1", &["n1", "n2"]);
    let out = h.line(r#"{"src":"c1","dest":"n1","body":{"type":"ask","msg_id":10,"to":"n2"}}"#);
    assert_eq!(out, [r#"{"src":"n1","dest":"n2","body":{"type":"q","msg_id":1,"x":1}}"#]);
    let out = h.line(r#"{"src":"n2","dest":"n1","body":{"type":"q_ok","in_reply_to":1}}"#);
    assert_eq!(out.len(), 1);
    assert!(out[0].contains(r#""in_reply_to":10,"outcome":"q_ok""#), "{}", out[0]);
    // A duplicate reply is ignored, and the cancelled timeout never fires.
    assert!(
        h.line(r#"{"src":"n2","dest":"n1","body":{"type":"q_ok","in_reply_to":1}}"#).is_empty()
    );
    assert!(h.advance(Duration::from_secs(2)).is_empty());

    // An unanswered RPC times out exactly once, at its deadline.
    h.line(r#"{"src":"c1","dest":"n1","body":{"type":"ask","msg_id":11,"to":"n2"}}"#);
    assert!(h.advance(Duration::from_millis(499)).is_empty());
    let out = h.advance(Duration::from_millis(1));
    assert_eq!(out.len(), 1);
    assert!(out[0].contains(r#""outcome":"timeout""#), "{}", out[0]);
    assert!(h.advance(Duration::from_secs(5)).is_empty());

    // An error reply reaches the workload as its code.
    h.line(r#"{"src":"c1","dest":"n1","body":{"type":"ask","msg_id":12,"to":"n2"}}"#);
    let out = h.line(r#"{"src":"n2","dest":"n1","body":{"type":"error","in_reply_to":3,"code":20,"text":"nope"}}"#);
    assert!(out[0].contains(r#""outcome":"key-does-not-exist""#), "{}", out[0]);
}

#[test]
fn timers_fire_at_their_deadline_not_before() {
    let mut h = Harness::<Probe>::new(&[]);
    h.init("n1", &["n1"]);
    h.line(r#"{"src":"c1","dest":"n1","body":{"type":"later","msg_id":3,"ms":250}}"#);
    // The wheel may ask for an early wake-up (a coarse slot boundary), never a late one.
    assert!(h.node.poll_timeout().is_some_and(|t| t <= Instant::from_millis(250)));
    assert!(h.advance(Duration::from_millis(249)).is_empty());
    assert_eq!(h.advance(Duration::from_millis(1)).len(), 1);
    assert_eq!(h.node.poll_timeout(), None);
}

#[test]
fn a_malformed_second_init_is_answered_as_the_node() {
    // Found by the echo fuzz target: the error went out with the request's `dest` as `src`.
    let mut h = Harness::<Echo>::new(&[]);
    h.init("n1", &["n1"]);
    let out = h.line(r#"{"src":"c3","dest":"n99","body":{"type":"init","msg_id":13}}"#);
    assert_eq!(
        out,
        [
            r#"{"src":"n1","dest":"c3","body":{"type":"error","in_reply_to":13,"code":12,"text":"missing field `node_id` (a string)"}}"#
        ]
    );
}
