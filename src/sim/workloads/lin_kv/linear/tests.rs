//! Tests of the linearizability checker: hand-written classic histories, indeterminate and
//! failed operations, the budget, windows, and a differential test against brute force.

use super::*;
use crate::rng::Rng;

/// An operation: `(call, ret)` positions, ok unless `status` says otherwise.
fn op(process: u64, call: u64, ret: u64, status: Status, f: Call<u64>) -> Op<u64> {
    Op { process, call, ret: Some(ret), status, f }
}

fn w(p: u64, call: u64, ret: u64, v: u64) -> Op<u64> {
    op(p, call, ret, Status::Ok, Call::Write(Some(v)))
}

fn r(p: u64, call: u64, ret: u64, v: Option<u64>) -> Op<u64> {
    op(p, call, ret, Status::Ok, Call::Read(v))
}

fn cas(p: u64, call: u64, ret: u64, from: u64, to: u64) -> Op<u64> {
    op(p, call, ret, Status::Ok, Call::Cas(Some(from), Some(to)))
}

fn info(mut o: Op<u64>) -> Op<u64> {
    o.status = Status::Info;
    o
}

fn fail(mut o: Op<u64>) -> Op<u64> {
    o.status = Status::Fail;
    o
}

fn verdict(ops: &[Op<u64>]) -> Verdict {
    check(ops, None, &Options::default()).expect("valid input").verdict
}

#[test]
fn sequential_histories() {
    assert_eq!(verdict(&[]), Verdict::Valid);
    assert_eq!(verdict(&[w(0, 0, 1, 1), r(0, 2, 3, Some(1))]), Verdict::Valid);
    assert_eq!(verdict(&[w(0, 0, 1, 1), r(0, 2, 3, Some(2))]), Verdict::Invalid);
    // A read of a value nobody wrote, from the initial nil.
    assert_eq!(verdict(&[r(0, 0, 1, Some(3))]), Verdict::Invalid);
    // CAS from the right value, then from a stale one.
    let h = [w(0, 0, 1, 0), cas(0, 2, 3, 0, 1), r(1, 4, 5, Some(1))];
    assert_eq!(verdict(&h), Verdict::Valid);
    let h = [w(0, 0, 1, 0), cas(0, 2, 3, 0, 1), cas(1, 4, 5, 0, 2)];
    assert_eq!(verdict(&h), Verdict::Invalid);
    // A CAS on the missing key from nil: Knossos's model allows it (Maelstrom never sends one).
    let h = [op(0, 0, 1, Status::Ok, Call::Cas(None, Some(1))), r(0, 2, 3, Some(1))];
    assert_eq!(verdict(&h), Verdict::Valid);
}

#[test]
fn concurrency_allows_either_order_but_not_going_back() {
    // A read concurrent with a write may see either value.
    for v in [None, Some(1)] {
        let h = [w(0, 0, 3, 1), r(1, 1, 2, v)];
        let o = Options { nil_reads: NilReads::Missing, ..Options::default() };
        assert_eq!(check(&h, None, &o).unwrap().verdict, Verdict::Valid, "{v:?}");
    }
    // Two concurrent writes, then reads: the later read cannot go back to the other value.
    let h = [w(0, 0, 3, 1), w(1, 1, 4, 2), r(2, 5, 6, Some(2)), r(2, 7, 8, Some(1))];
    assert_eq!(verdict(&h), Verdict::Invalid);
    let h = [w(0, 0, 3, 1), w(1, 1, 4, 2), r(2, 5, 6, Some(1)), r(3, 5, 8, Some(1))];
    assert_eq!(verdict(&h), Verdict::Valid);
    // The classic stale read: a read that starts after a write completes misses it.
    let h = [w(0, 0, 1, 1), w(0, 2, 3, 2), r(1, 4, 5, Some(1))];
    assert_eq!(verdict(&h), Verdict::Invalid);
    // Two concurrent readers see the values in opposite orders (no single order exists).
    let h = [
        w(0, 0, 10, 1),
        w(1, 0, 10, 2),
        r(2, 1, 2, Some(1)),
        r(2, 3, 4, Some(2)),
        r(3, 1, 2, Some(2)),
        r(3, 3, 4, Some(1)),
    ];
    assert_eq!(verdict(&h), Verdict::Invalid);
}

#[test]
fn nil_reads_follow_knossos_unless_asked_otherwise() {
    // Knossos's register accepts a nil read in any state.
    let h = [w(0, 0, 1, 1), r(1, 2, 3, None)];
    let rep = check(&h, None, &Options::default()).unwrap();
    assert_eq!(rep.verdict, Verdict::Valid);
    assert_eq!(rep.dropped.nil_reads, 1);
    let strict = Options { nil_reads: NilReads::Missing, ..Options::default() };
    assert_eq!(check(&h, None, &strict).unwrap().verdict, Verdict::Invalid);
    // Under the strict reading a nil read before any write is fine.
    let h = [r(1, 0, 1, None), w(0, 2, 3, 1)];
    assert_eq!(check(&h, None, &strict).unwrap().verdict, Verdict::Valid);
    // An initial value.
    let h = [r(1, 0, 1, Some(7))];
    assert_eq!(check(&h, Some(&7), &strict).unwrap().verdict, Verdict::Valid);
    assert_eq!(check(&h, None, &strict).unwrap().verdict, Verdict::Invalid);
}

#[test]
fn indeterminate_operations_may_take_effect_later_or_never() {
    // An info write may take effect long after it was invoked...
    let h = [w(0, 0, 1, 1), info(w(1, 2, 3, 2)), r(2, 10, 11, Some(1)), r(2, 12, 13, Some(2))];
    assert_eq!(verdict(&h), Verdict::Valid);
    // ...or never.
    let h = [w(0, 0, 1, 1), info(w(1, 2, 3, 2)), r(2, 10, 11, Some(1))];
    assert_eq!(verdict(&h), Verdict::Valid);
    // But not before it was invoked.
    let h = [w(0, 0, 1, 1), r(2, 2, 3, Some(2)), info(w(1, 4, 5, 2))];
    assert_eq!(verdict(&h), Verdict::Invalid);
    // And only once: after it is seen and overwritten, it cannot reappear.
    let h = [
        info(w(1, 0, 1, 2)),
        r(2, 2, 3, Some(2)),
        w(0, 4, 5, 1),
        r(2, 6, 7, Some(1)),
        r(2, 8, 9, Some(2)),
    ];
    assert_eq!(verdict(&h), Verdict::Invalid);
    // An invocation that never completed counts as info.
    let mut pending = w(1, 2, 3, 2);
    pending.ret = None;
    pending.status = Status::Info;
    let h = [w(0, 0, 1, 1), pending, r(2, 10, 11, Some(2))];
    assert_eq!(verdict(&h), Verdict::Valid);
    // An info CAS takes effect only from its expected value.
    let h = [w(0, 0, 1, 1), info(cas(1, 2, 3, 1, 3)), r(2, 4, 5, Some(3))];
    assert_eq!(verdict(&h), Verdict::Valid);
    let h = [w(0, 0, 1, 1), info(cas(1, 2, 3, 2, 3)), r(2, 4, 5, Some(3))];
    assert_eq!(verdict(&h), Verdict::Invalid);
    // An info read constrains nothing.
    let h = [w(0, 0, 1, 1), info(r(1, 2, 3, Some(9)))];
    let rep = check(&h, None, &Options::default()).unwrap();
    assert_eq!((rep.verdict, rep.dropped.info_reads), (Verdict::Valid, 1));
}

#[test]
fn failed_operations_never_happened() {
    let h = [w(0, 0, 1, 1), fail(w(1, 2, 3, 2)), r(2, 4, 5, Some(1))];
    let rep = check(&h, None, &Options::default()).unwrap();
    assert_eq!((rep.verdict, rep.dropped.fails), (Verdict::Valid, 1));
    let h = [w(0, 0, 1, 1), fail(w(1, 2, 3, 2)), r(2, 4, 5, Some(2))];
    assert_eq!(verdict(&h), Verdict::Invalid);
    let h = [w(0, 0, 1, 1), fail(cas(1, 2, 3, 1, 2)), r(2, 4, 5, Some(2))];
    assert_eq!(verdict(&h), Verdict::Invalid);
}

#[test]
fn a_spent_budget_is_unknown_never_a_guess() {
    // Many concurrent writes of distinct values and reads that need an impossible order:
    // the search must try many orders before it can say no.
    let mut h = Vec::new();
    for i in 0..12 {
        h.push(w(i, 0, 100, i));
    }
    for i in 0..12 {
        h.push(r(20 + i, 101 + 2 * i, 102 + 2 * i, Some(i % 3)));
    }
    let full = check(&h, None, &Options::default()).unwrap();
    assert_eq!(full.verdict, Verdict::Invalid);
    assert!(full.states > 50, "{}", full.states);
    let small = Options { max_states: 50, ..Options::default() };
    let rep = check(&h, None, &small).unwrap();
    assert_eq!(rep.verdict, Verdict::Unknown);
    assert!(rep.unknown.as_deref().is_some_and(|w| w.contains("budget")), "{rep:?}");
    assert!(rep.window.is_none());
    let tiny_memo = Options { max_memo_bytes: 1000, ..Options::default() };
    assert_eq!(check(&h, None, &tiny_memo).unwrap().verdict, Verdict::Unknown);
    // A valid history that needs fewer states than the budget is decided.
    let ok = [w(0, 0, 1, 1), r(1, 2, 3, Some(1))];
    let rep = check(&ok, None, &Options { max_states: 5, ..Options::default() }).unwrap();
    assert_eq!(rep.verdict, Verdict::Valid);
}

fn roles(win: &Window) -> Vec<(usize, Role)> {
    win.ops.iter().map(|o| (o.index, o.role)).collect()
}

#[test]
fn the_window_is_the_first_contradiction_shrunk_to_its_core() {
    // 0: w1, 1: r1, 2: w2 [10, 11], 3: concurrent read of 2 [10, 13], 4: stale r1 [12, 13],
    // 5..: later traffic that must not appear.
    let h = [
        w(0, 0, 1, 1),
        r(1, 2, 3, Some(1)),
        w(0, 10, 11, 2),
        r(2, 10, 13, Some(2)),
        r(1, 12, 13, Some(1)),
        w(0, 20, 21, 3),
        r(1, 22, 23, Some(3)),
    ];
    let rep = check(&h, None, &Options::default()).unwrap();
    assert_eq!(rep.verdict, Verdict::Invalid);
    let win = rep.window.expect("a window");
    assert_eq!(win.end, 13, "the stale read's completion");
    assert!(!win.from_initial);
    assert!(win.minimal);
    assert_eq!(win.start, 10);
    // The write of 2 and the stale read cannot be ordered; the concurrent read is context.
    assert_eq!(roles(&win), [(2, Role::Core), (3, Role::Inside), (4, Role::Core)]);

    // A contradiction with the initial value keeps the beginning of the history.
    let h = [r(0, 0, 1, Some(4)), w(1, 2, 3, 4)];
    let win = check(&h, None, &Options::default()).unwrap().window.unwrap();
    assert!(win.from_initial);
    assert_eq!((win.start, win.end), (0, 1));
    assert_eq!(roles(&win), [(0, Role::Core)]);

    // Indeterminate writes invoked before the end are part of the window as maybes.
    let h = [
        w(0, 0, 1, 1),
        info(w(3, 2, 3, 3)),
        w(0, 4, 5, 2),
        r(1, 6, 7, Some(1)),
        r(1, 8, 9, Some(3)),
    ];
    let win = check(&h, None, &Options::default()).unwrap().window.unwrap();
    assert_eq!(win.end, 7);
    assert_eq!(roles(&win), [(1, Role::Maybe), (2, Role::Core), (3, Role::Core)]);
}

#[test]
fn bad_input_is_an_error() {
    let mut o = w(0, 5, 1, 1);
    assert_eq!(
        check(&[o.clone()], None, &Options::default()),
        Err(InputError::CompletedBeforeInvoked { index: 0 })
    );
    o.ret = None;
    assert_eq!(
        check(&[o], None, &Options::default()),
        Err(InputError::OkWithoutCompletion { index: 0 })
    );
}

#[test]
fn pairing_follows_knossos() {
    use EventType::*;
    let events = [
        (1, Invoke, Call::Read(None)),
        (2, Invoke, Call::Write(Some(3))),
        (1, Ok, Call::Read(Some(3))),
        (2, Info, Call::Write(Some(3))),
        (7, Info, Call::Write(Some(9))),
        (3, Invoke, Call::Cas(Some(1), Some(2))),
        (3, Fail, Call::Cas(Some(1), Some(2))),
        (4, Invoke, Call::Write(Some(5))),
    ];
    let ops = pair(&events).unwrap();
    assert_eq!(ops.len(), 4);
    assert_eq!(ops[0], op(1, 0, 2, Status::Ok, Call::Read(Some(3))));
    assert_eq!(ops[1], op(2, 1, 3, Status::Info, Call::Write(Some(3))));
    assert_eq!(ops[2].status, Status::Fail);
    assert_eq!((ops[3].status, ops[3].ret), (Status::Info, None));
    assert!(matches!(
        pair(&[(1, Ok, Call::Read(Some(1)))]),
        Err(PairError::NoInvocation { process: 1, index: 0 })
    ));
    assert!(matches!(
        pair::<u64>(&[(1, Invoke, Call::Read(None)), (1, Invoke, Call::Read(None))]),
        Err(PairError::ConcurrentInvoke { .. })
    ));
    assert!(matches!(
        pair(&[(1, Invoke, Call::Read(None)), (1, Ok, Call::Write(Some(1)))]),
        Err(PairError::MismatchedF { .. })
    ));
}

#[test]
fn run_length_encoding_is_exact() {
    let mut out = Vec::new();
    rle(&[0], 0, &mut out);
    assert_eq!(out, [0]);
    rle(&[0b1011], 0, &mut out);
    assert_eq!(out, [2, 3, 4]);
    rle(&[!0, 1], 0, &mut out);
    assert_eq!(out, [65]);
    rle(&[!0, 1], 1, &mut out);
    assert_eq!(out, [65]);
    rle(&[!0, 0, 1 << 63], 1, &mut out);
    assert_eq!(out, [64, 191]);
    // Different sets, different encodings.
    let mut rng = Rng::new(5);
    let mut seen = std::collections::HashMap::new();
    for _ in 0..2000 {
        let set = [rng.next_u64() & rng.next_u64(), rng.next_u64() & 0xff];
        rle(&set, 0, &mut out);
        assert_eq!(*seen.entry(out.clone()).or_insert(set), set);
    }
}

/// Brute force: is there an order of the operations (each ok one exactly once, each info one
/// at most once) that respects real time and the model?
fn brute(ops: &[Op<u64>], init: Option<u64>) -> bool {
    let live: Vec<&Op<u64>> = ops
        .iter()
        .filter(|o| o.status != Status::Fail)
        .filter(|o| !(o.status == Status::Info && matches!(o.f, Call::Read(_))))
        .filter(|o| !(o.status == Status::Ok && matches!(o.f, Call::Read(None))))
        .collect();
    fn go(live: &[&Op<u64>], done: &mut Vec<bool>, state: Option<u64>) -> bool {
        // Every ok operation placed: done (info ones may stay out).
        if live.iter().zip(done.iter()).all(|(o, d)| *d || o.status == Status::Info) {
            return true;
        }
        for i in 0..live.len() {
            if done[i] {
                continue;
            }
            // `i` may go next only if no pending ok operation completed before it began.
            let blocked = live
                .iter()
                .zip(done.iter())
                .any(|(o, d)| !d && o.status == Status::Ok && o.ret.unwrap() < live[i].call);
            if blocked {
                continue;
            }
            let next = match &live[i].f {
                Call::Read(v) => (*v == state).then_some(state),
                Call::Write(v) => Some(*v),
                Call::Cas(a, b) => (*a == state).then_some(*b),
            };
            if let Some(s) = next {
                done[i] = true;
                if go(live, done, s) {
                    return true;
                }
                done[i] = false;
            }
        }
        false
    }
    let mut done = vec![false; live.len()];
    go(&live, &mut done, init)
}

fn random_history(rng: &mut Rng, n: usize) -> Vec<Op<u64>> {
    (0..n)
        .map(|i| {
            let call = rng.below(12);
            let ret = call + rng.below(5);
            let v = |rng: &mut Rng| rng.below(3);
            let f = match rng.below(3) {
                0 => Call::Read(if rng.chance(0.2) { None } else { Some(v(rng)) }),
                1 => Call::Write(Some(v(rng))),
                _ => Call::Cas(Some(v(rng)), Some(v(rng))),
            };
            let status = match rng.below(10) {
                0 | 1 => Status::Info,
                2 => Status::Fail,
                _ => Status::Ok,
            };
            op(i as u64, call, ret, status, f)
        })
        .collect()
}

#[test]
fn the_search_agrees_with_brute_force() {
    let mut rng = Rng::new(42);
    let (mut valid, mut invalid) = (0, 0);
    for case in 0..3000 {
        let n = 1 + (case % 7);
        let h = random_history(&mut rng, n);
        let init = if rng.chance(0.5) { None } else { Some(rng.below(3)) };
        let rep = check(&h, init.as_ref(), &Options::default()).unwrap();
        let want = brute(&h, init);
        assert_eq!(rep.verdict == Verdict::Valid, want, "case {case}: {h:?} from {init:?}");
        if want {
            valid += 1;
            continue;
        }
        invalid += 1;
        // The window is a proof on its own: its problem has no solution by brute force
        // either, from any start value when it does not start at the beginning.
        let win = rep.window.expect("a window");
        assert!(win.minimal);
        // Rebuild the window's problem: ok operations inside it in the core are required;
        // other ok operations inside may take effect by their completion or not at all;
        // those crossing the start likewise; those crossing the end, and info ones, at any
        // time or not at all.
        let mut sub = Vec::new();
        for (i, o) in h.iter().enumerate() {
            if o.call > win.end || o.status == Status::Fail {
                continue;
            }
            let mut o = o.clone();
            if o.status == Status::Info {
                o.ret = None;
            } else {
                let ret = o.ret.unwrap();
                let core = win.ops.iter().any(|w| w.index == i && w.role == Role::Core);
                if !win.from_initial && ret < win.start {
                    continue;
                } else if ret > win.end {
                    o.status = Status::Info;
                    o.ret = None;
                } else if !core || (!win.from_initial && o.call < win.start) {
                    o.status = Status::Info;
                }
            }
            sub.push(o);
        }
        let starts: Vec<Option<u64>> =
            if win.from_initial { vec![init] } else { (0..4).map(Some).chain([None]).collect() };
        for s in starts {
            assert!(!brute_deadlines(&sub, s), "case {case}: window {win:?} solvable from {s:?}");
        }
        assert!(win.ops.iter().any(|o| o.role == Role::Core), "case {case}: a core");
    }
    assert!(valid > 500 && invalid > 500, "{valid} valid, {invalid} invalid");
}

/// Brute force where an info operation with a completion may take effect only before it (a
/// window's relaxed operations), and one without may take effect at any time.
fn brute_deadlines(ops: &[Op<u64>], init: Option<u64>) -> bool {
    let mut ops: Vec<Op<u64>> = ops.to_vec();
    // Encode deadlines: an info op with `ret` must be placed before any op that begins after
    // `ret`, or never; `brute` has no such notion, so try every subset of these ops as
    // required and the rest dropped.
    let deadline: Vec<usize> =
        (0..ops.len()).filter(|&i| ops[i].status == Status::Info && ops[i].ret.is_some()).collect();
    for mask in 0..1u32 << deadline.len() {
        let mut sub = Vec::new();
        for (i, o) in ops.iter_mut().enumerate() {
            match deadline.iter().position(|&d| d == i) {
                Some(k) if mask & (1 << k) != 0 => {
                    let mut o = o.clone();
                    o.status = Status::Ok;
                    sub.push(o);
                }
                Some(_) => {}
                None => sub.push(o.clone()),
            }
        }
        if brute(&sub, init) {
            return true;
        }
    }
    false
}

#[test]
fn synthetic_histories_are_valid_until_a_read_is_corrupted() {
    let shape = synth::Shape { ops: 1000, processes: 10, busy: 0.8, info: 0.05, values: 5 };
    for seed in 0..4 {
        let mut h = synth::history(&shape, seed);
        let rep = check(&h, None, &Options::default()).unwrap();
        assert_eq!(rep.verdict, Verdict::Valid, "seed {seed}: {rep:?}");
        let bad = synth::corrupt_a_read(&mut h, 9).unwrap();
        let rep = check(&h, None, &Options::default()).unwrap();
        assert_eq!(rep.verdict, Verdict::Invalid, "seed {seed}");
        let win = rep.window.unwrap();
        assert!(win.ops.iter().any(|o| o.index == bad && o.role == Role::Core), "{win:?}");
    }
}
