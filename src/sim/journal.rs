//! The message journal: what the space-time diagram (`messages.svg`) draws, recorded by the
//! network as messages are sent, delivered and dropped.
//!
//! Maelstrom journals every message to disk and draws the first 10,000 journal events. The
//! bench records only what the diagram can show, so the journal costs nothing past its
//! bound: messages sent inside the diagram's window (`--diagram-from S`, `--diagram-to S`, in
//! seconds of test time; messages before the main phase, such as `init`, count as before
//! time 0 and are shown only when no `--diagram-from` is given), the first
//! `--diagram-messages N` of them (default [`DEFAULT_CAP`]). Each entry keeps the message's
//! first [`LINE_CAP`] bytes. Everything past the bound is only counted, and the diagram says
//! how much it left out. With `--no-store` (sweeps) the journal is off and records nothing.
//!
//! Entries are indexed by network message id: ids are handed out in send order, so the
//! messages a window holds are one contiguous id range and a delivery finds its entry by
//! subtraction.

use super::net::Addr;
use crate::time::Instant;

/// The default number of messages the diagram draws (`--diagram-messages`).
pub const DEFAULT_CAP: usize = 10_000;

/// Bytes of each message line the journal keeps (the diagram's hover text); longer lines
/// are cut there and their full length noted.
pub const LINE_CAP: usize = 2_048;

/// Why a message never arrived.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The destination's consumer found the link cut by a partition.
    Partition,
    /// `--loss` dropped it when it was sent.
    Loss,
}

/// What became of a journaled message.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Still in the network when the run ended.
    InFlight,
    /// Delivered at this time.
    Delivered(Instant),
    /// Dropped at this time.
    Dropped(Instant, DropReason),
}

/// One journaled message.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Network message id.
    pub id: u64,
    /// Sender.
    pub src: Addr,
    /// Receiver.
    pub dest: Addr,
    /// When it was sent.
    pub sent: Instant,
    /// What became of it.
    pub fate: Fate,
    /// Order of the send among all journaled events (events at one instant keep the order
    /// they happened in: a reply is sent after its request arrived).
    pub sent_seq: u64,
    /// Order of the delivery or drop (0 while in flight).
    pub end_seq: u64,
    /// The body's `type` (empty if it had none).
    pub kind: Box<str>,
    /// The line's first [`LINE_CAP`] bytes.
    pub line: Box<[u8]>,
    /// The line's full length in bytes.
    pub line_len: usize,
}

/// Which messages to journal.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Window {
    /// First second of test time (`None`: from the start, init included).
    pub from: Option<f64>,
    /// Last second of test time (`None`: to the end).
    pub to: Option<f64>,
    /// Most messages to keep.
    pub cap: usize,
}

impl Default for Window {
    fn default() -> Self {
        Window { from: None, to: None, cap: DEFAULT_CAP }
    }
}

/// The journal. Holds at most `window.cap` entries of at most [`LINE_CAP`] bytes each.
#[derive(Debug, Default)]
pub struct Journal {
    window: Window,
    /// Recording at all (off under `--no-store`).
    on: bool,
    /// Start of the main phase (test time 0), once it began.
    t0: Option<Instant>,
    /// Entries, in id order.
    /// Invariant: `entries[i].id == first_id + i`.
    entries: Vec<Entry>,
    first_id: u64,
    /// Messages sent before the window opened.
    pub before: u64,
    /// Messages sent after the window closed.
    pub after: u64,
    /// Messages inside the window past the cap.
    pub over_cap: u64,
    /// Journaled events so far.
    seq: u64,
}

impl Journal {
    /// A journal recording `window`, or nothing if `on` is false.
    pub fn new(window: Window, on: bool) -> Journal {
        Journal { window, on, ..Journal::default() }
    }

    /// The main phase began at `t0` (test time 0).
    pub fn start_main(&mut self, t0: Instant) {
        self.t0 = Some(t0);
    }

    /// Test time of `t` in seconds (negative before the main phase).
    fn secs(&self, t: Instant) -> f64 {
        match self.t0 {
            Some(t0) => (t.as_micros() as f64 - t0.as_micros() as f64) / 1e6,
            None => f64::NEG_INFINITY,
        }
    }

    /// Records a message the network accepted at `now`.
    pub fn sent(&mut self, now: Instant, id: u64, src: Addr, dest: Addr, line: &[u8]) {
        if !self.on {
            return;
        }
        let t = self.secs(now);
        if self.window.from.is_some_and(|f| t < f) {
            self.before += 1;
            return;
        }
        if self.window.to.is_some_and(|e| t > e) {
            self.after += 1;
            return;
        }
        if self.entries.len() >= self.window.cap {
            self.over_cap += 1;
            return;
        }
        if self.entries.is_empty() {
            self.first_id = id;
        }
        debug_assert_eq!(id, self.first_id + self.entries.len() as u64, "ids come in send order");
        let keep = &line[..line.len().min(LINE_CAP)];
        self.seq += 1;
        self.entries.push(Entry {
            id,
            src,
            dest,
            sent: now,
            fate: Fate::InFlight,
            sent_seq: self.seq,
            end_seq: 0,
            kind: body_type(line).into(),
            line: keep.into(),
            line_len: line.len(),
        });
    }

    fn entry(&mut self, id: u64) -> Option<&mut Entry> {
        let i = id.checked_sub(self.first_id)?;
        self.entries.get_mut(usize::try_from(i).ok()?).filter(|e| e.id == id)
    }

    /// Message `id` reached its destination at `now`.
    pub fn delivered(&mut self, now: Instant, id: u64) {
        self.end(id, Fate::Delivered(now));
    }

    fn end(&mut self, id: u64, fate: Fate) {
        let seq = self.seq + 1;
        if let Some(e) = self.entry(id) {
            e.fate = fate;
            e.end_seq = seq;
            self.seq = seq;
        }
    }

    /// Message `id` was dropped at `now`.
    pub fn dropped(&mut self, now: Instant, id: u64, why: DropReason) {
        self.end(id, Fate::Dropped(now, why));
    }

    /// The entries, in send order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The window it recorded.
    pub fn window(&self) -> Window {
        self.window
    }

    /// Whether it recorded at all.
    pub fn is_on(&self) -> bool {
        self.on
    }

    /// Test time 0, if the main phase began.
    pub fn t0(&self) -> Option<Instant> {
        self.t0
    }
}

/// The body's `"type"` string, found by a scan for the key (the message was validated as
/// JSON already; a `"type"` key inside an earlier body field could mislead it, which only
/// mislabels the arrow).
fn body_type(line: &[u8]) -> &str {
    let Some(body) = memchr::memmem::find(line, b"\"body\"") else { return "" };
    let rest = &line[body..];
    let Some(k) = memchr::memmem::find(rest, b"\"type\"") else { return "" };
    let rest = &rest[k + 6..];
    let rest = rest.trim_ascii_start();
    let Some(rest) = rest.strip_prefix(b":") else { return "" };
    let Some(rest) = rest.trim_ascii_start().strip_prefix(b"\"") else { return "" };
    let end = memchr::memchr(b'"', rest).unwrap_or(0);
    std::str::from_utf8(&rest[..end.min(64)]).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(kind: &str) -> Vec<u8> {
        format!(r#"{{"id":1,"src":"n0","dest":"n1","body":{{"x":1,"type" : "{kind}"}}}}"#)
            .into_bytes()
    }

    #[test]
    fn the_body_type_is_found() {
        assert_eq!(body_type(&line("gossip")), "gossip");
        assert_eq!(body_type(br#"{"src":"a","dest":"b","body":{}}"#), "");
    }

    #[test]
    fn the_window_and_the_cap_bound_what_is_kept() {
        let w = Window { from: Some(1.0), to: Some(2.0), cap: 2 };
        let mut j = Journal::new(w, true);
        let (a, b) = (Addr::Node(0), Addr::Node(1));
        j.sent(Instant::ZERO, 0, a, b, &line("init"));
        j.start_main(Instant::from_millis(10));
        j.sent(Instant::from_millis(500), 1, a, b, &line("early"));
        for id in 2..6 {
            j.sent(Instant::from_millis(1500), id, a, b, &line("in"));
        }
        j.sent(Instant::from_millis(2500), 6, a, b, &line("late"));
        assert_eq!(j.entries().len(), 2);
        assert_eq!((j.before, j.over_cap, j.after), (2, 2, 1));
        j.delivered(Instant::from_millis(1600), 2);
        j.dropped(Instant::from_millis(1500), 3, DropReason::Partition);
        j.delivered(Instant::from_millis(1600), 4); // not kept
        assert_eq!(j.entries()[0].fate, Fate::Delivered(Instant::from_millis(1600)));
        assert_eq!(
            j.entries()[1].fate,
            Fate::Dropped(Instant::from_millis(1500), DropReason::Partition)
        );
        let mut off = Journal::new(Window::default(), false);
        off.sent(Instant::ZERO, 0, a, b, &line("x"));
        assert!(off.entries().is_empty());
    }

    #[test]
    fn long_lines_are_cut() {
        let mut j = Journal::new(Window::default(), true);
        let long = format!(
            r#"{{"src":"n0","dest":"n1","body":{{"type":"big","v":"{}"}}}}"#,
            "x".repeat(5000)
        );
        j.sent(Instant::ZERO, 0, Addr::Node(0), Addr::Node(1), long.as_bytes());
        let e = &j.entries()[0];
        assert_eq!((e.line.len(), e.line_len, &*e.kind), (LINE_CAP, long.len(), "big"));
    }
}
