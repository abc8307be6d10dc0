//! Tests of the kafka generator and client logic.

use super::*;
use crate::proto::Parser;

fn opts(nodes: usize) -> TestOpts {
    TestOpts {
        workload: "kafka".into(),
        node_count: Some(nodes),
        concurrency: crate::sim::opts::Concurrency::PerNode(2),
        ..TestOpts::default()
    }
}

#[test]
fn keys_follow_elle_exponential_weights_and_roll_over_after_max_writes() {
    let mut c = KafkaClient::new(&opts(1));
    let mut rng = Rng::new(1);
    let mut slot_counts = [0usize; 10];
    for _ in 0..20_000 {
        slot_counts[c.rand_slot(&mut rng)] += 1;
    }
    let last = slot_counts[9] as f64 / 20_000.0;
    assert!((last - 0.5).abs() < 0.02, "last slot share {last}");
    assert!(slot_counts[8] > slot_counts[7] && slot_counts[1] > slot_counts[0]);
    // Values per key run 1..=16, then the slot takes a fresh key.
    let mut per_key: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for _ in 0..2_000 {
        if let Draw::Send { key, msg } = c.draw(&mut rng) {
            per_key.entry(key).or_default().push(msg);
        }
    }
    for (k, vs) in &per_key {
        let want: Vec<u64> = (1..=vs.len() as u64).collect();
        assert_eq!(vs, &want, "key {k}");
        assert!(vs.len() <= 16);
    }
    assert!(per_key.keys().any(|&k| k >= 10), "fresh keys appear: {:?}", per_key.keys());
}

#[test]
fn assigns_displace_an_operation_and_crashes_are_staggered() {
    let mut c = KafkaClient::new(&opts(2));
    let mut rng = Rng::new(2);
    let (mut assigns, mut crashes, mut ops) = (0, 0, 0);
    for i in 0..40_000u64 {
        // 1000 ops/s for 40 s.
        c.set_clock(Duration::from_millis(i));
        let (f, v) = c.next_op(i as usize % 4, &mut rng).expect("an op");
        ops += 1;
        match v {
            KValue::Assign { keys, seek } => {
                assigns += 1;
                assert!(!seek && !keys.is_empty());
                assert!(c.displaced.is_some(), "the displaced op comes next");
            }
            KValue::Crash => crashes += 1,
            _ => assert!(f == "poll" || f == "send"),
        }
    }
    let share = assigns as f64 / ops as f64;
    assert!((share - 1.0 / 64.0).abs() < 0.004, "assign share {share}");
    // 4 threads: a crash every 7.5 s on average, so about 5 in 40 s.
    assert!((2..=10).contains(&crashes), "{crashes} crashes");
}

fn reply(
    c: &mut KafkaClient,
    t: usize,
    f: &'static str,
    v: &KValue,
    body: &str,
    req: &mut Vec<u8>,
) -> Step<KValue> {
    let mut line = format!(r#"{{"src":"n0","dest":"c1","body":{body}}}"#).into_bytes();
    let len = line.len();
    req.clear();
    Parser::new().parse(&mut line, len, |m| c.on_reply(t, f, v, RpcResult::Reply(&m.unwrap()), req))
}

#[test]
fn a_poll_commits_what_it_read_and_advances_its_offsets() {
    let mut c = KafkaClient::new(&opts(1));
    let mut req = Vec::new();
    let assign = KValue::Assign { keys: vec![3, 4], seek: false };
    assert!(matches!(
        c.begin(0, "assign", &assign, &mut req),
        Step::Send("list_committed_offsets")
    ));
    assert_eq!(String::from_utf8_lossy(&req), r#","keys":["3","4"]"#);
    let body = r#"{"type":"list_committed_offsets_ok","in_reply_to":1,"offsets":{"3":5}}"#;
    assert!(matches!(
        reply(&mut c, 0, "assign", &assign, body, &mut req),
        Step::Done(Done { kind: OpType::Ok, .. })
    ));
    assert_eq!(c.threads[0].offsets, BTreeMap::from([(3, 5), (4, 0)]));

    let poll = KValue::Poll(None);
    req.clear();
    c.begin(0, "poll", &poll, &mut req);
    assert_eq!(String::from_utf8_lossy(&req), r#","offsets":{"3":5,"4":0}"#);
    let body = r#"{"type":"poll_ok","in_reply_to":2,"msgs":{"3":[[5,1],[7,{"x":1}]],"4":[]}}"#;
    let step = reply(&mut c, 0, "poll", &poll, body, &mut req);
    assert!(matches!(step, Step::Send("commit_offsets")));
    assert_eq!(String::from_utf8_lossy(&req), r#","offsets":{"3":7}"#);
    assert_eq!(c.threads[0].offsets, BTreeMap::from([(3, 8), (4, 0)]));
    let step = reply(
        &mut c,
        0,
        "poll",
        &poll,
        r#"{"type":"commit_offsets_ok","in_reply_to":3}"#,
        &mut req,
    );
    let Step::Done(Done { kind: OpType::Ok, value: KValue::Poll(Some(p)), .. }) = step else {
        panic!("{step:?}")
    };
    assert_eq!(p.msgs[0], (3, vec![(5, PVal::Int(1)), (7, PVal::Other(r#"{"x":1}"#.into()))]));
    assert_eq!(c.seen.get(&3), Some(&7));
}

#[test]
fn malformed_and_failed_replies_complete_as_maelstrom_records_them() {
    let mut c = KafkaClient::new(&opts(1));
    let mut req = Vec::new();
    let send = KValue::Send { key: 1, msg: 1, offset: None };
    for (body, kind) in [
        (r#"{"type":"send_ok","in_reply_to":1,"offset":0,"extra":1}"#, OpType::Info),
        (r#"{"type":"send_ok","in_reply_to":1,"offset":1.0}"#, OpType::Info),
        (r#"{"type":"error","in_reply_to":1,"code":11}"#, OpType::Fail),
        (r#"{"type":"error","in_reply_to":1,"code":13}"#, OpType::Info),
    ] {
        let mut line = format!(r#"{{"src":"n0","dest":"c1","body":{body}}}"#).into_bytes();
        let len = line.len();
        let step = Parser::new().parse(&mut line, len, |m| {
            let m = m.unwrap();
            let r = if m.kind == "error" {
                RpcResult::Error {
                    code: crate::proto::ErrorCode::from_code(
                        m.get("code").unwrap().as_u64().unwrap(),
                    ),
                    text: String::new(),
                }
            } else {
                RpcResult::Reply(&m)
            };
            c.on_reply(0, "send", &send, r, &mut req)
        });
        let Step::Done(d) = step else { panic!("{step:?}") };
        assert_eq!(d.kind, kind, "{body}");
    }
    let assign = KValue::Assign { keys: vec![1], seek: false };
    let Step::Done(d) = c.on_reply(0, "assign", &assign, RpcResult::Timeout, &mut req) else {
        panic!()
    };
    assert_eq!(d.kind, OpType::Fail, "assign is idempotent");
}

#[test]
fn the_final_phase_crashes_assigns_everything_and_polls_until_caught_up() {
    let mut c = KafkaClient::new(&opts(1));
    let mut rng = Rng::new(3);
    c.observe(0, &KValue::Send { key: 2, msg: 1, offset: Some(4) });
    c.observe(1, &polled_value(&[(5, &[(0, 1), (1, 2)])]));
    c.set_clock(Duration::from_secs(30));
    assert!(matches!(c.next_final(0, &mut rng), Some(("crash", KValue::Crash))));
    let Some(("assign", KValue::Assign { keys, seek: true })) = c.next_final(0, &mut rng) else {
        panic!()
    };
    assert_eq!(keys, [2, 5]);
    assert!(matches!(c.next_final(0, &mut rng), Some(("poll", _))));
    assert_eq!(c.final_delay(0), Duration::ZERO, "the first poll goes at once");
    c.observe(0, &polled_value(&[(2, &[(4, 1)]), (5, &[(0, 1)])]));
    assert!(c.next_final(0, &mut rng).is_some());
    assert!(c.final_delay(0) < Duration::from_millis(400));
    c.observe(0, &polled_value(&[(5, &[(1, 2)])]));
    assert!(c.next_final(0, &mut rng).is_none(), "caught up");
    // Final polls do not move the targets of other threads.
    assert_eq!(c.seen, BTreeMap::from([(2, 4), (5, 1)]));
}

fn polled_value(msgs: &[(u64, &[(i64, i64)])]) -> KValue {
    KValue::Poll(Some(Box::new(Polled {
        msgs: msgs
            .iter()
            .map(|(k, pairs)| (*k, pairs.iter().map(|&(o, v)| (o, PVal::Int(v))).collect()))
            .collect(),
        foreign: Vec::new(),
    })))
}
