//! Zero heap allocations per request in steady state, counted by a global allocator.
//!
//! This file is its own test binary, so the counting allocator sees only this test, and it
//! counts only on the thread that asked: libtest's own threads allocate at times of their
//! choosing (e.g. while the test runs), which is not the node's doing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use glomers::node::{Machine, Node, Output};
use glomers::proto::PADDING;
use glomers::time::Instant;

struct Counting;

thread_local! {
    /// Whether this thread's allocations are being counted. Const-initialised and without a
    /// destructor, so reading it never allocates.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: defers to the system allocator; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Feeds `line` to `node` `n` times, clearing the output each time, and returns the number of
/// allocations made during the last `measured` calls.
fn allocations(node: &mut dyn Machine, lines: &[String], warmup: usize, measured: usize) -> usize {
    let mut out = Output::default();
    let mut buf = Vec::with_capacity(4096);
    let mut feed = |node: &mut dyn Machine, i: usize, out: &mut Output| {
        let line = &lines[i % lines.len()];
        buf.clear();
        buf.extend_from_slice(line.as_bytes());
        let len = buf.len();
        buf.resize(len + PADDING, b' ');
        node.handle_line(Instant::from_millis(i as u64), &mut buf, len, out);
        out.msgs.clear();
    };
    for i in 0..warmup {
        feed(node, i, &mut out);
    }
    ALLOCS.store(0, Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    for i in warmup..warmup + measured {
        feed(node, i, &mut out);
    }
    COUNTING.with(|c| c.set(false));
    ALLOCS.load(Ordering::Relaxed)
}

#[test]
fn echo_and_generate_allocate_nothing_in_steady_state() {
    let init = r#"{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1","n2","n3"]}}"#;
    let echo: Vec<String> = (0..64)
        .map(|i| {
            format!(
                r#"{{"id":{i},"src":"c{i}","dest":"n1","body":{{"type":"echo","msg_id":{i},"echo":{{"s":"Please echo {i}\n","n":[{i},-1.5,true,null]}}}}}}"#
            )
        })
        .collect();
    let mut node = Node::<glomers::workload::echo::Echo>::new(Vec::new(), 0);
    let mut out = Output::default();
    let mut line = init.as_bytes().to_vec();
    let len = line.len();
    node.handle_line(Instant::ZERO, &mut line, len, &mut out);
    assert!(!out.msgs.is_empty());
    assert_eq!(allocations(&mut node, &echo, 1_000, 10_000), 0, "echo allocates per request");

    let mut ids = Node::<glomers::workload::unique_ids::UniqueIds>::new(Vec::new(), 0);
    let mut line = init.as_bytes().to_vec();
    ids.handle_line(Instant::ZERO, &mut line, len, &mut out);
    let generate: Vec<String> = (0..8)
        .map(|i| {
            format!(r#"{{"src":"c{i}","dest":"n1","body":{{"type":"generate","msg_id":{i}}}}}"#)
        })
        .collect();
    assert_eq!(allocations(&mut ids, &generate, 1_000, 10_000), 0, "generate allocates");
}
