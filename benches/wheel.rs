//! Timer wheel micro-benchmarks: insert+cancel and insert+poll with 10k live timers.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use glomers::time::wheel::TimerWheel;

/// Live timers kept in the wheel while measuring.
const LIVE: u64 = 10_000;

/// A wheel holding `LIVE` timers, one per tick in `1..=LIVE`.
fn loaded_wheel() -> TimerWheel<u64> {
    let mut wheel = TimerWheel::with_capacity(LIVE as usize + 1);
    for when in 1..=LIVE {
        // `when > 0 == elapsed`, so the insert cannot be refused.
        wheel.insert(when, when).expect("deadline after elapsed");
    }
    wheel
}

/// Benchmarks the timer wheel operations.
fn wheel(c: &mut Criterion) {
    c.bench_function("wheel/insert_cancel_10k_live", |b| {
        let mut wheel = loaded_wheel();
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            // Deadlines spread over levels 0..=2, like RPC timeouts and retransmits.
            let when = 1 + (i.wrapping_mul(0x9e37_79b9) % 20_000);
            let id = wheel.insert(black_box(when), i).expect("deadline after elapsed");
            black_box(wheel.cancel(id))
        });
    });
    c.bench_function("wheel/insert_poll_10k_live", |b| {
        let mut wheel = loaded_wheel();
        let mut now = 0u64;
        b.iter(|| {
            // One tick: the timer due now fires and a new one is armed LIVE ticks out.
            now += 1;
            while let Some(fired) = wheel.poll(black_box(now)) {
                black_box(fired);
            }
            wheel.insert(now + LIVE, now).expect("deadline after elapsed")
        });
    });
}

criterion_group!(benches, wheel);
criterion_main!(benches);
