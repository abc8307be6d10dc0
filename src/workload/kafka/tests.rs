//! Unit tests of the kafka node, driven by hand through the harness.

use std::time::Duration;

use super::Kafka;
use crate::node::harness::Harness;

fn node(id: &str, ids: &[&str]) -> Harness<Kafka> {
    let mut h = Harness::<Kafka>::new(&[]);
    h.init(id, ids);
    h
}

/// The body of the only output line, as JSON text.
fn one(out: Vec<String>) -> String {
    assert_eq!(out.len(), 1, "{out:?}");
    let line = &out[0];
    let at = line.find("\"body\":").expect("a body") + 7;
    line[at..line.len() - 1].to_owned()
}

/// A JSON object's members, without the braces.
fn inner(body: &str) -> &str {
    body.strip_prefix('{').and_then(|b| b.strip_suffix('}')).expect("an object")
}

fn req(h: &mut Harness<Kafka>, msg_id: u64, body: &str) -> String {
    one(h.line(&format!(
        r#"{{"src":"c9","dest":"n0","body":{{"msg_id":{msg_id},{}}}}}"#,
        inner(body)
    )))
}

#[test]
fn a_single_node_assigns_dense_offsets_and_polls_from_the_requested_one() {
    let mut h = node("n0", &["n0"]);
    for (i, v) in [r#"1"#, r#"{"a":[1,2.5,"x"]}"#, r#"3"#].iter().enumerate() {
        let r = req(&mut h, 10 + i as u64, &format!(r#"{{"type":"send","key":"k","msg":{v}}}"#));
        assert_eq!(r, format!(r#"{{"type":"send_ok","in_reply_to":{},"offset":{i}}}"#, 10 + i));
    }
    let r = req(&mut h, 20, r#"{"type":"poll","offsets":{"k":1,"other":0}}"#);
    assert!(r.ends_with(r#""msgs":{"k":[[1,{"a":[1,2.5,"x"]}],[2,3]]}}"#), "{r}");
    let r = req(&mut h, 21, r#"{"type":"poll","offsets":{"k":3}}"#);
    assert!(r.ends_with(r#""msgs":{}}"#), "empty keys are omitted: {r}");
}

#[test]
fn committed_offsets_only_move_forward() {
    let mut h = node("n0", &["n0"]);
    let r = req(&mut h, 1, r#"{"type":"commit_offsets","offsets":{"a":4,"b":2}}"#);
    assert!(
        r.starts_with(r#"{"type":"commit_offsets_ok","#) && r.ends_with(r#""in_reply_to":1}"#),
        "{r}"
    );
    req(&mut h, 2, r#"{"type":"commit_offsets","offsets":{"a":3}}"#);
    let r = req(&mut h, 3, r#"{"type":"list_committed_offsets","keys":["a","b","c"]}"#);
    assert!(r.ends_with(r#""offsets":{"a":4,"b":2}}"#), "{r}");
}

#[test]
fn malformed_requests_get_error_12() {
    let mut h = node("n0", &["n0"]);
    for bad in [
        r#"{"type":"send","msg":1}"#,
        r#"{"type":"send","key":3,"msg":1}"#,
        r#"{"type":"send","key":"k"}"#,
        r#"{"type":"poll"}"#,
        r#"{"type":"poll","offsets":{"k":"0"}}"#,
        r#"{"type":"poll","offsets":[]}"#,
        r#"{"type":"commit_offsets","offsets":{"k":1.5}}"#,
        r#"{"type":"list_committed_offsets","keys":[1]}"#,
    ] {
        let r = req(&mut h, 1, bad);
        assert!(r.contains(r#""type":"error""#) && r.contains(r#""code":12"#), "{bad} -> {r}");
    }
    let r = req(&mut h, 1, r#"{"type":"send","key":"k","msg":1}"#);
    assert!(r.contains(r#""offset":0"#), "nothing was stored by the bad requests: {r}");
}

/// Two nodes wired together by hand; `deliver` moves their messages, `drop` loses them.
struct Pair {
    n: [Harness<Kafka>; 2],
    /// Messages in flight to each node.
    wire: [Vec<String>; 2],
    /// Replies that reached clients.
    clients: Vec<String>,
}

impl Pair {
    fn new() -> Pair {
        Pair {
            n: [node("n0", &["n0", "n1"]), node("n1", &["n0", "n1"])],
            wire: [Vec::new(), Vec::new()],
            clients: Vec::new(),
        }
    }

    fn route(&mut self, out: Vec<String>) {
        for l in out {
            if l.contains(r#""dest":"n0""#) {
                self.wire[0].push(l);
            } else if l.contains(r#""dest":"n1""#) {
                self.wire[1].push(l);
            } else {
                self.clients.push(l);
            }
        }
    }

    fn client(&mut self, to: usize, msg_id: u64, body: &str) -> String {
        let out = self.n[to].line(&format!(
            r#"{{"src":"c9","dest":"n{to}","body":{{"msg_id":{msg_id},{}}}}}"#,
            inner(body)
        ));
        self.route(out);
        let r = self.clients.pop().expect("a client reply");
        assert!(self.clients.is_empty());
        r
    }

    /// Delivers everything in flight, advancing time by `step` between rounds, until nothing
    /// has happened for two seconds. Returns how many server messages were delivered.
    fn settle(&mut self, step: Duration) -> usize {
        let mut delivered = 0;
        let mut idle = Duration::ZERO;
        for _ in 0..100_000 {
            let mut any = false;
            for to in 0..2 {
                for l in std::mem::take(&mut self.wire[to]) {
                    any = true;
                    delivered += 1;
                    let out = self.n[to].line(&l);
                    self.route(out);
                }
            }
            self.advance(step);
            idle = if any { Duration::ZERO } else { idle + step };
            if idle >= Duration::from_secs(2) {
                return delivered;
            }
        }
        panic!("the pair never went quiet");
    }

    fn advance(&mut self, d: Duration) {
        for to in 0..2 {
            let out = self.n[to].advance(d);
            self.route(out);
        }
    }

    fn poll(&mut self, to: usize, key: &str, from: u64) -> String {
        let r = self.client(to, 99, &format!(r#"{{"type":"poll","offsets":{{"{key}":{from}}}}}"#));
        let at = r.find("\"msgs\":").expect("poll_ok") + 7;
        r[at..r.len() - 2].to_owned()
    }
}

const MS: Duration = Duration::from_millis(1);

#[test]
fn residues_keep_offsets_unique_and_entries_become_visible_only_once_promised() {
    let mut p = Pair::new();
    let a = p.client(0, 1, r#"{"type":"send","key":"k","msg":"a"}"#);
    assert!(a.contains(r#""offset":0"#), "{a}");
    let b = p.client(1, 1, r#"{"type":"send","key":"k","msg":"b"}"#);
    assert!(b.contains(r#""offset":1"#), "n1 assigns odd offsets: {b}");
    // Neither node has heard the other's promise: nothing is safe to serve yet.
    assert_eq!(p.poll(0, "k", 0), "{}");
    assert_eq!(p.poll(1, "k", 0), "{}");
    p.settle(MS);
    assert_eq!(p.poll(0, "k", 0), r#"{"k":[[0,"a"],[1,"b"]]}"#);
    assert_eq!(p.poll(1, "k", 0), r#"{"k":[[0,"a"],[1,"b"]]}"#);
    // Floors moved past everything seen: the next offsets are above both.
    let c = p.client(0, 2, r#"{"type":"send","key":"k","msg":"c"}"#);
    assert!(c.contains(r#""offset":2"#), "{c}");
    let d = p.client(1, 2, r#"{"type":"send","key":"k","msg":"d"}"#);
    assert!(d.contains(r#""offset":3"#), "{d}");
    p.settle(MS);
    assert_eq!(p.poll(1, "k", 2), r#"{"k":[[2,"c"],[3,"d"]]}"#);
    // Commits replicate too.
    p.client(0, 3, r#"{"type":"commit_offsets","offsets":{"k":2}}"#);
    p.settle(MS);
    let r = p.client(1, 3, r#"{"type":"list_committed_offsets","keys":["k"]}"#);
    assert!(r.contains(r#""offsets":{"k":2}}"#), "{r}");
    // Idle nodes say nothing.
    p.advance(Duration::from_secs(5));
    assert!(p.wire.iter().all(Vec::is_empty), "{:?}", p.wire);
}

#[test]
fn a_lost_batch_is_retransmitted_and_a_gap_is_never_served() {
    let mut p = Pair::new();
    p.client(0, 1, r#"{"type":"send","key":"k","msg":1}"#);
    // The first batch is lost (a partition).
    assert_eq!(p.wire[1].len(), 1);
    p.wire[1].clear();
    // Later sends are batched after the flush interval; deliver that batch: it starts past
    // what n1 holds, so n1 must ignore it (and its promise) rather than serve offset 2 alone.
    p.client(0, 2, r#"{"type":"send","key":"k","msg":2}"#);
    p.advance(Duration::from_millis(20));
    assert_eq!(p.wire[1].len(), 1, "{:?}", p.wire);
    for l in std::mem::take(&mut p.wire[1]) {
        let out = p.n[1].line(&l);
        p.route(out);
    }
    assert_eq!(p.poll(1, "k", 0), "{}");
    assert_eq!(p.n[1].node.workload().unwrap().stored("k"), Vec::<u64>::new());
    // After the retransmission timeout n0 goes back and everything arrives, once.
    p.advance(Duration::from_secs(1));
    p.settle(MS);
    assert_eq!(p.poll(1, "k", 0), r#"{"k":[[0,1],[2,2]]}"#);
    assert_eq!(p.poll(0, "k", 0), r#"{"k":[[0,1],[2,2]]}"#);
    assert_eq!(p.n[1].node.workload().unwrap().stored("k"), [0, 2]);
}

#[test]
fn many_sends_are_batched() {
    let mut p = Pair::new();
    for i in 0..200 {
        p.client(i % 2, i as u64, &format!(r#"{{"type":"send","key":"k{}","msg":{i}}}"#, i % 7));
        p.advance(Duration::from_micros(250));
    }
    let msgs = p.settle(MS);
    assert!(msgs < 40, "200 sends over 50 ms took {msgs} server messages");
    let all: usize =
        (0..7).map(|k| p.n[0].node.workload().unwrap().stored(&format!("k{k}")).len()).sum();
    assert_eq!(all, 200);
}

#[test]
fn a_cut_link_is_probed_not_flooded_and_recovers_after_the_heal() {
    let mut p = Pair::new();
    // Five seconds of sends on both sides while every server message is lost.
    let mut lost = 0;
    for i in 0..500u64 {
        p.client((i % 2) as usize, i, &format!(r#"{{"type":"send","key":"k","msg":{i}}}"#));
        p.advance(Duration::from_millis(10));
        lost += p.wire[0].len() + p.wire[1].len();
        p.wire = [Vec::new(), Vec::new()];
    }
    // Batches flow until the first timeout; then one probe per (backed-off) timeout.
    assert!(lost < 60, "{lost} messages sent into the partition");
    assert_eq!(p.poll(0, "k", 0), "{}", "nothing is stable while the peer is silent");
    p.advance(Duration::from_secs(2));
    p.settle(MS);
    let want = p.n[0].node.workload().unwrap().stored("k");
    assert_eq!(want.len(), 500);
    assert_eq!(p.n[1].node.workload().unwrap().stored("k"), want);
    let all = p.poll(1, "k", 0);
    assert_eq!(all.matches('[').count(), 1 + 256, "a poll returns at most 256 per key: {all}");
}

#[test]
fn a_replicated_offset_beyond_i64_is_refused_and_the_floor_cannot_overflow() {
    // Found by the kafka fuzz target: an entry at offset u64::MAX overflowed `offset + 1`.
    let mut h = node("n0", &["n0", "n1"]);
    let out = h.line(
        r#"{"src":"n1","dest":"n0","body":{"type":"kafka_repl","msg_id":3,"seq":0,"ack":0,"promise":0,"recs":[["k",18446744073709551615,1]]}}"#,
    );
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(out[0].contains(r#""code":12"#) && out[0].contains("beyond"), "{out:?}");
    assert!(h.node.workload().unwrap().stored("k").is_empty(), "nothing of the batch applied");
    // The highest accepted offset (odd: n1's residue) still leaves room to assign after it.
    let top = i64::MAX;
    h.line(&format!(
        r#"{{"src":"n1","dest":"n0","body":{{"type":"kafka_repl","seq":0,"ack":0,"promise":0,"recs":[["k",{top},1]]}}}}"#
    ));
    let r = req(&mut h, 4, r#"{"type":"send","key":"k","msg":2}"#);
    assert!(r.ends_with(r#""offset":9223372036854775808}"#), "{r}");
}
