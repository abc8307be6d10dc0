//! Unit tests of the lin-kv client: generator, option checks, replies.

use super::*;
use crate::proto::{ErrorCode, Parser};
use crate::sim::opts::Concurrency;

fn opts(nodes: usize, per_node: usize) -> TestOpts {
    TestOpts {
        workload: "lin-kv".into(),
        node_count: Some(nodes),
        concurrency: Concurrency::PerNode(per_node),
        ..TestOpts::default()
    }
}

#[test]
fn flags_jepsen_cannot_run_are_refused() {
    assert!(check_opts(&opts(3, 2)).is_ok());
    assert!(check_opts(&opts(3, 4)).is_ok());
    assert!(check_opts(&opts(10, 2)).is_ok());
    let e = check_opts(&opts(3, 1)).unwrap_err();
    assert!(e.contains("at least 6"), "{e}");
    let e = check_opts(&opts(3, 3)).unwrap_err();
    assert!(e.contains("multiple of 6"), "{e}");
    // Maelstrom's defaults: five nodes, one thread each.
    assert!(check_opts(&TestOpts::default()).is_err());
    let e = check_opts(&opts(11, 2)).unwrap_err();
    assert!(e.contains("process limit"), "{e}");
    let threads = TestOpts { concurrency: Concurrency::Threads(12), ..opts(3, 1) };
    assert!(check_opts(&threads).is_ok());
}

#[test]
fn only_group_zeros_first_n_threads_read() {
    let o = opts(3, 4);
    let mut c = LinKvClient::new(&o);
    let mut rng = Rng::new(1);
    let mut counts = [[0usize; 3]; 12];
    for _ in 0..300 {
        for (t, count) in counts.iter_mut().enumerate() {
            let (f, v) = c.next_op(t, &mut rng).expect("always an op");
            let i = match f {
                "read" => 0,
                "write" => 1,
                _ => 2,
            };
            count[i] += 1;
            assert_eq!(v.key(), (t / 6) as u64, "group {} works on its own key", t / 6);
            match v {
                KvValue::Write { value, .. } => assert!((0..5).contains(&value)),
                KvValue::Cas { from, to, .. } => {
                    assert!((0..5).contains(&from) && (0..5).contains(&to));
                }
                KvValue::Read { value, .. } => assert!(value.is_null()),
            }
        }
    }
    for (t, c) in counts.iter().enumerate() {
        if t < 3 {
            assert_eq!(*c, [300, 0, 0], "thread {t} only reads");
        } else {
            assert_eq!(c[0], 0, "thread {t} never reads");
            // mix [w cas cas]: a third writes.
            assert!((60..140).contains(&c[1]), "thread {t}: {c:?}");
        }
    }
}

#[test]
fn a_key_ends_after_the_process_limit_and_the_group_takes_the_next_key() {
    let o = TestOpts { latency: 250, ..opts(3, 4) };
    let mut c = LinKvClient::new(&o);
    assert_eq!(c.rpc_timeout(), Duration::from_millis(2500), "10 x latency");
    assert_eq!(LinKvClient::new(&opts(3, 2)).rpc_timeout(), Duration::from_secs(1));
    let mut rng = Rng::new(2);
    let mut req = Vec::new();
    // Group 1 (threads 6..12): 6 processes at the start, so 14 infos still fit in 20.
    for i in 0..15 {
        let (f, v) = c.next_op(7, &mut rng).unwrap();
        assert_eq!(v.key(), 1, "info {i}");
        let step = c.on_reply(7, f, &v, RpcResult::Timeout, &mut req);
        assert!(matches!(step, Step::Done(Done { kind: OpType::Info, .. })));
    }
    // The 15th info made 21 processes: the next operation starts key 2 (keys 0, 1 were
    // handed out first).
    assert_eq!(c.next_op(6, &mut rng).unwrap().1.key(), 2);
    assert_eq!(c.next_op(11, &mut rng).unwrap().1.key(), 2);
    assert_eq!(c.next_op(0, &mut rng).unwrap().1.key(), 0, "group 0 keeps its key");
    // Read timeouts fail (reads are idempotent) and do not use up processes.
    for _ in 0..30 {
        let (f, v) = c.next_op(0, &mut rng).unwrap();
        let step = c.on_reply(0, f, &v, RpcResult::Timeout, &mut req);
        assert!(matches!(step, Step::Done(Done { kind: OpType::Fail, .. })));
    }
    assert_eq!(c.next_op(0, &mut rng).unwrap().1.key(), 0);
}

fn with_reply<R>(body: &str, f: impl FnOnce(RpcResult<'_, '_, '_>) -> R) -> R {
    let mut line = format!(r#"{{"src":"n0","dest":"c1","body":{body}}}"#).into_bytes();
    let len = line.len();
    Parser::new().parse(&mut line, len, |m| f(RpcResult::Reply(&m.expect("a message"))))
}

fn kind(step: &Step<KvValue>) -> (OpType, Option<KvValue>) {
    match step {
        Step::Done(d) => (d.kind, Some(d.value.clone())),
        Step::Send(_) => panic!("a reply completes the operation"),
    }
}

#[test]
fn replies_follow_closed_schemas_and_with_errors() {
    let read = KvValue::Read { key: 3, value: Jv::Null };
    let write = KvValue::Write { key: 3, value: 1 };
    let cas = KvValue::Cas { key: 3, from: 1, to: 2 };
    let ok = with_reply(r#"{"type":"read_ok","in_reply_to":1,"value":4}"#, |r| {
        kind(&reply_step("read", &read, r))
    });
    assert_eq!(ok, (OpType::Ok, Some(KvValue::Read { key: 3, value: Jv::Int(4) })));
    let null = with_reply(r#"{"type":"read_ok","in_reply_to":1,"value":null}"#, |r| {
        kind(&reply_step("read", &read, r))
    });
    assert_eq!(null.0, OpType::Ok, "null is a value like any other for the schema");
    for (f, v, bad) in [
        ("read", &read, r#"{"type":"read_ok","in_reply_to":1}"#),
        ("read", &read, r#"{"type":"read_ok","in_reply_to":1,"value":1,"extra":2}"#),
        ("write", &write, r#"{"type":"write_ok","in_reply_to":1,"value":1}"#),
        ("cas", &cas, r#"{"type":"write_ok","in_reply_to":1}"#),
    ] {
        let (k, _) = with_reply(bad, |r| kind(&reply_step(f, v, r)));
        assert_eq!(k, OpType::Info, "malformed replies are exceptions: {bad}");
    }
    let cases = [
        ("read", &read, ErrorCode::KeyDoesNotExist, OpType::Fail),
        ("read", &read, ErrorCode::Crash, OpType::Fail),
        ("cas", &cas, ErrorCode::PreconditionFailed, OpType::Fail),
        ("cas", &cas, ErrorCode::KeyDoesNotExist, OpType::Fail),
        ("cas", &cas, ErrorCode::Crash, OpType::Info),
        ("write", &write, ErrorCode::TemporarilyUnavailable, OpType::Fail),
        ("write", &write, ErrorCode::Other(1000), OpType::Info),
    ];
    for (f, v, code, want) in cases {
        let step = reply_step(f, v, RpcResult::Error { code, text: String::new() });
        assert_eq!(kind(&step).0, want, "{f} {code:?}");
    }
    assert_eq!(kind(&reply_step("cas", &cas, RpcResult::Timeout)).0, OpType::Info);
}

#[test]
fn requests_and_history_values_look_like_maelstroms() {
    let mut c = LinKvClient::new(&opts(1, 2));
    let mut req = Vec::new();
    let cas = KvValue::Cas { key: 7, from: 1, to: 2 };
    assert!(matches!(c.begin(1, "cas", &cas, &mut req), Step::Send("cas")));
    assert_eq!(String::from_utf8(req).unwrap(), r#","key":7,"from":1,"to":2"#);
    assert_eq!(simd_json::to_string(&cas).unwrap(), "[7,[1,2]]");
    let read = KvValue::Read { key: 7, value: Jv::Null };
    assert_eq!(simd_json::to_string(&read).unwrap(), "[7,null]");
}
