//! The views of a run: every file a stored run writes beside its verdict, one module each,
//! all fed by the same [`RunViews`] (the history, the message journal, the partitions).
//!
//! | file | what it shows | drawn in |
//! |---|---|---|
//! | `results.json`, `results.edn` | the verdict and every checker's numbers (EDN in Maelstrom's shape) | [`results`] |
//! | `history.jsonl`, `history.txt`, `history.edn` | every operation (Jepsen's condensed text, Maelstrom's EDN) | [`history`] |
//! | `messages.svg` | the space-time diagram of messages | [`diagram`] |
//! | `timeline.html` | each client process's operations as boxes | [`timeline`] |
//! | `latency-raw.svg`, `latency-quantiles.svg`, `rate.svg` | latency and throughput over time | [`plots`] |
//! | `node-logs/<node>.log`, `net.log` | node stderr, `--log-net-*` lines | [`write_all`] |
//!
//! EDN itself (writer and reader) is [`crate::edn`]; the values' Maelstrom shapes are
//! [`crate::sim::check::values`]. Views never decide anything: the verdict and
//! the console report are [`super::report`]'s. A history judged again without a live run
//! ([`super::engine::RunData::from_history`]) gets every view but the diagram, which has
//! no journal to draw.

pub mod diagram;
pub mod history;
pub mod plots;
pub mod results;
pub mod timeline;

use std::io;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::check::values::MaelstromValue;
use super::engine::PartitionSpan;
use super::history::{History, OpType};
use super::journal::Journal;
use super::nemesis::NemesisOp;

/// One history entry without its value.
#[derive(Copy, Clone, Debug)]
pub struct Head<'h> {
    /// Position in the history.
    pub index: usize,
    /// Nanoseconds since the test started.
    pub time: u64,
    /// Jepsen's `:process`.
    pub process: usize,
    /// Invocation or completion kind.
    pub kind: OpType,
    /// The operation's function.
    pub f: &'static str,
    /// Why it failed or is indefinite.
    pub error: Option<&'h str>,
    /// A final-phase operation.
    pub is_final: bool,
}

/// A history whose values can be rendered, whatever the workload's value type: what the
/// views read, so they are compiled once for every workload.
pub trait Ops: Send + Sync {
    /// Number of entries.
    fn len(&self) -> usize;
    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Entry `i` without its value.
    fn head(&self, i: usize) -> Head<'_>;
    /// Appends entry `i`'s value as Maelstrom writes it in EDN
    /// ([`MaelstromValue::write_value`]), cut after `budget` bytes (then ending in `…` and
    /// returning false).
    fn value_edn(&self, i: usize, out: &mut String, budget: usize) -> bool;
    /// Appends the other keys of entry `i` as Maelstrom writes them (`, :final? true`;
    /// [`MaelstromValue::write_keys`]).
    fn keys_edn(&self, i: usize, out: &mut String);
    /// Appends entry `i` as one JSON object (a `history.jsonl` line, without newline).
    fn json(&self, i: usize, out: &mut Vec<u8>);
}

impl<V: MaelstromValue + Serialize + Send + Sync> Ops for History<V> {
    fn len(&self) -> usize {
        self.ops.len()
    }
    fn head(&self, i: usize) -> Head<'_> {
        let o = &self.ops[i];
        Head {
            index: o.index,
            time: o.time,
            process: o.process,
            kind: o.kind,
            f: o.f,
            error: o.error.as_deref(),
            is_final: o.is_final,
        }
    }
    fn value_edn(&self, i: usize, out: &mut String, budget: usize) -> bool {
        let limit = out.len().saturating_add(budget);
        V::write_value(&self.ops[i], out, limit);
        if out.len() <= limit {
            return true;
        }
        let mut cut = limit;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
        false
    }
    fn keys_edn(&self, i: usize, out: &mut String) {
        V::write_keys(&self.ops[i], out);
    }
    fn json(&self, i: usize, out: &mut Vec<u8>) {
        let len = out.len();
        if let Err(e) = simd_json::to_writer(&mut *out, &self.ops[i]) {
            out.truncate(len);
            out.extend_from_slice(format!("{{\"error\":{:?}}}", e.to_string()).as_bytes());
        }
    }
}

/// An operation: its invocation and, if it completed, its completion (indices into
/// [`Ops`]).
#[derive(Copy, Clone, Debug)]
pub struct Pair {
    /// The invocation's index.
    pub invoke: usize,
    /// The completion's index, if any.
    pub complete: Option<usize>,
}

/// Invocations paired with their completions by process, in invocation order.
pub fn pairs(ops: &dyn Ops) -> Vec<Pair> {
    let mut open: hashbrown::HashMap<usize, usize> = hashbrown::HashMap::new();
    let mut out: Vec<Pair> = Vec::new();
    for i in 0..ops.len() {
        let h = ops.head(i);
        if h.kind == OpType::Invoke {
            open.insert(h.process, out.len());
            out.push(Pair { invoke: i, complete: None });
        } else if let Some(p) = open.remove(&h.process) {
            out[p].complete = Some(i);
        }
    }
    out
}

/// Everything the views are drawn from, kept by [`super::report::Outcome`] until the run is
/// stored (nothing is rendered for runs that are not, such as sweeps).
pub struct RunViews {
    /// The client history.
    pub ops: Box<dyn Ops>,
    /// The nemesis's entries, merged into the history files only (the other views draw
    /// client operations; the partitions are drawn from [`RunViews::partitions`]).
    pub nemesis: Vec<NemesisOp>,
    /// The message journal (empty when the run was not meant to be stored).
    pub journal: Journal,
    /// Partitions, in seconds of test time.
    pub partitions: Vec<PartitionSpan>,
    /// Test time from the main phase's start to the end.
    pub duration: Duration,
    /// The node ids.
    pub nodes: Vec<String>,
    /// Each node's stderr.
    pub logs: Vec<(String, Vec<u8>)>,
    /// `--log-net-send` / `--log-net-recv` lines.
    pub net_log: Vec<String>,
    /// One line naming the run (workload, flags, seed), for titles.
    pub title: String,
}

/// What the views leave out of this run, one line each for the console report (the
/// diagram's window and cap, the timeline's operation limit).
pub fn left_out(journal: &Journal, ops: &dyn Ops) -> Vec<String> {
    diagram::note(journal).into_iter().chain(timeline::note(ops)).collect()
}

/// What [`write_all`] wrote: file names (relative to the run directory) and sizes.
#[derive(Debug, Default)]
pub struct Written {
    /// `(file, bytes)`, in writing order.
    pub files: Vec<(String, u64)>,
}

/// Writes every view of a run into `dir` (which exists): the results given, then each view
/// drawn from `run`.
///
/// The views are drawn and written on two threads (the machine's two cores), split so both
/// take about as long: the diagram and the timeline on one, the history files, the plots and
/// the logs on the other.
pub fn write_all(
    dir: &Path,
    run: &RunViews,
    results_json: &str,
    results_edn: &str,
) -> io::Result<Written> {
    let put = |name: &str, bytes: &[u8]| -> io::Result<(String, u64)> {
        std::fs::write(dir.join(name), bytes)?;
        Ok((name.to_owned(), bytes.len() as u64))
    };
    let (mine, pictures) = std::thread::scope(|s| {
        let pictures = s.spawn(|| -> io::Result<Vec<(String, u64)>> {
            Ok(vec![
                put("messages.svg", diagram::svg(run).as_bytes())?,
                put("timeline.html", timeline::html(run).as_bytes())?,
            ])
        });
        let mine = (|| -> io::Result<Vec<(String, u64)>> {
            let mut w = vec![
                put("results.json", results_json.as_bytes())?,
                put("results.edn", results_edn.as_bytes())?,
            ];
            // history.txt and history.edn come out about as long as history.jsonl.
            let jsonl = history::jsonl(&*run.ops, &run.nemesis);
            w.push(put("history.jsonl", &jsonl)?);
            let (txt, edn) =
                history::txt_and_edn(&*run.ops, &run.nemesis, jsonl.len() + jsonl.len() / 8);
            drop(jsonl);
            w.push(put("history.txt", txt.as_bytes())?);
            w.push(put("history.edn", edn.as_bytes())?);
            drop((txt, edn));
            w.push(put("latency-raw.svg", plots::latency_raw(run).as_bytes())?);
            w.push(put("latency-quantiles.svg", plots::latency_quantiles(run).as_bytes())?);
            w.push(put("rate.svg", plots::rate(run).as_bytes())?);
            std::fs::create_dir_all(dir.join("node-logs"))?;
            for (node, log) in &run.logs {
                w.push(put(&format!("node-logs/{node}.log"), log)?);
            }
            if !run.net_log.is_empty() {
                w.push(put("net.log", run.net_log.join("\n").as_bytes())?);
            }
            Ok(w)
        })();
        (mine, pictures.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
    });
    let mut files = mine?;
    files.extend(pictures?);
    Ok(Written { files })
}

/// Whether a byte must be escaped in an attribute (`quote`) or in element content.
#[inline(always)]
fn special(c: u8, quote: bool) -> bool {
    matches!(c, b'<' | b'>' | b'&')
        || (quote && matches!(c, b'"' | b'\''))
        || (c < 0x20 && !matches!(c, b'\n' | b'\t' | b'\r'))
}

fn escape(out: &mut String, s: &str, quote: bool) {
    let b = s.as_bytes();
    // Most text needs nothing: a branch-free scan first (it vectorises), then one copy.
    if !b.iter().fold(false, |any, &c| any | special(c, quote)) {
        out.push_str(s);
        return;
    }
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        if !special(c, quote) {
            continue;
        }
        let rep = match c {
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'&' => "&amp;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            // Control characters are not allowed in XML 1.0 at all.
            _ => "\u{fffd}",
        };
        // Every replaced byte is ASCII, so `start..i` falls on character boundaries.
        out.push_str(&s[start..i]);
        out.push_str(rep);
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

/// Escapes text for XML attribute values (and content).
pub fn xml_escape(out: &mut String, s: &str) {
    escape(out, s, true);
}

/// Escapes text for XML element content (quotes stay as they are).
pub fn xml_text(out: &mut String, s: &str) {
    escape(out, s, false);
}

/// A colour per kind of completion, shared by the timeline and the plots: ok blue, info
/// orange, fail pink (Jepsen's colours).
pub fn kind_color(kind: OpType) -> (u8, u8, u8) {
    match kind {
        OpType::Ok => (0x6d, 0xb6, 0xfe),
        OpType::Info => (0xff, 0xaa, 0x26),
        OpType::Fail => (0xfe, 0xb5, 0xda),
        OpType::Invoke => (0xee, 0xee, 0xee),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::history::Op;

    #[test]
    fn xml_escaping_covers_markup_and_control_characters() {
        let mut s = String::new();
        xml_escape(&mut s, "<a href=\"x\">&'\u{1}</a>");
        assert_eq!(s, "&lt;a href=&quot;x&quot;&gt;&amp;&#39;\u{fffd}&lt;/a&gt;");
        let mut t = String::new();
        xml_text(&mut t, "{\"a\":\"<b>\"} ]]>");
        assert_eq!(t, "{\"a\":\"&lt;b&gt;\"} ]]&gt;");
        let mut u = String::new();
        xml_text(&mut u, "plain é");
        assert_eq!(u, "plain é");
    }

    #[test]
    fn erased_histories_pair_and_render() {
        use crate::sim::workloads::pn_counter::CValue;
        let mut h: History<CValue> = History::default();
        let op = |process, kind, value| Op {
            index: 0,
            time: 5,
            process,
            kind,
            f: "read",
            value,
            error: None,
            is_final: false,
        };
        h.push(op(0, OpType::Invoke, CValue::Read(None)));
        h.push(op(1, OpType::Invoke, CValue::Read(None)));
        h.push(op(0, OpType::Ok, CValue::Read(Some(3))));
        let ops: &dyn Ops = &h;
        let p = pairs(ops);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].complete, Some(2));
        assert_eq!(p[1].complete, None);
        let mut s = String::new();
        assert!(ops.value_edn(2, &mut s, 100));
        assert_eq!(s, "3");

        // A long value is cut at its budget, and writing it stops there.
        use crate::sim::workloads::broadcast::BValue;
        let mut h: History<BValue> = History::default();
        h.push(Op {
            index: 0,
            time: 5,
            process: 0,
            kind: OpType::Ok,
            f: "read",
            value: BValue::Read(Some((0..100_000).collect())),
            error: None,
            is_final: true,
        });
        let mut s = String::from("value: ");
        assert!(!h.value_edn(0, &mut s, 50));
        assert!(s.starts_with("value: [0 1 2 3") && s.ends_with('…'), "{s}");
        assert_eq!(s.len(), "value: ".len() + 50 + '…'.len_utf8());
        let mut k = String::new();
        h.keys_edn(0, &mut k);
        assert_eq!(k, ", :final? true");
    }
}
