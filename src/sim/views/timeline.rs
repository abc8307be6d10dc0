//! `timeline.html`: every client operation as a box in its process's column, from its
//! invocation down to its completion, coloured by outcome (ok blue, info orange, fail pink,
//! as Jepsen colours them); hovering a box shows the operation, its duration, its error and
//! its value. One self-contained file (inline CSS, no script, no external assets), written
//! as XHTML so XML tools read it too.
//!
//! As in Jepsen's timeline, time flows down by history position (one row per history entry,
//! so concurrency is visible however uneven the rate), an `info` box runs to the bottom (the
//! operation may take effect any time later), and the left gutter prints test time. Long
//! histories keep the first [`OP_LIMIT`] operations; a box shows the start of its values
//! and its hover text up to [`VALUE_CAP`] bytes of each.

use std::fmt::Write as _;

use super::history::type_keyword;
use super::{Ops, RunViews, kind_color, pairs, xml_escape, xml_text};
use crate::sim::history::OpType;

/// Most operations drawn (Jepsen's limit).
pub const OP_LIMIT: usize = 10_000;
/// Bytes of a value in a box's hover text.
pub const VALUE_CAP: usize = 1_500;
/// Characters of a value shown inside a box.
const BOX_CHARS: usize = 60;
/// Pixels per history entry.
const ROW: usize = 16;
/// Column pitch and box width.
const COL: usize = 106;
const BOX_W: usize = 100;
/// The time gutter's width.
const GUTTER: usize = 70;

/// The line the console report prints when the timeline left operations out, if it did.
pub fn note(ops: &dyn Ops) -> Option<String> {
    let n = (0..ops.len()).filter(|&i| ops.head(i).kind == OpType::Invoke).count();
    (n > OP_LIMIT).then(|| format!("timeline.html draws the first {OP_LIMIT} of {n} operations"))
}

fn hex((r, g, b): (u8, u8, u8)) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// Escapes for an attribute, keeping newlines as character references.
fn attr(out: &mut String, s: &str) {
    for (i, line) in s.split('\n').enumerate() {
        if i > 0 {
            out.push_str("&#10;");
        }
        xml_escape(out, line);
    }
}

/// The start of a rendered value, for inside a box.
fn short(v: &str) -> String {
    if v.chars().count() > BOX_CHARS {
        v.chars().take(BOX_CHARS - 1).collect::<String>() + "…"
    } else {
        v.to_owned()
    }
}

/// `timeline.html`.
pub fn html(run: &RunViews) -> String {
    let ops = &*run.ops;
    let all = pairs(ops);
    let shown = &all[..all.len().min(OP_LIMIT)];
    // Columns: processes in numeric order.
    let mut procs: Vec<usize> = shown.iter().map(|p| ops.head(p.invoke).process).collect();
    procs.sort_unstable();
    procs.dedup();
    let last_row = ops.len();
    let height = (last_row + 2) * ROW;
    let width = GUTTER + procs.len() * COL;

    let mut s = String::with_capacity(shown.len() * 600 + 4096);
    s.push_str("<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\"><head><meta charset=\"utf-8\"/><title>timeline: ");
    xml_escape(&mut s, &run.title);
    s.push_str("</title>\n<style>\n");
    s.push_str(
        "body{font-family:Helvetica,Arial,sans-serif;font-size:12px;margin:10px}\n\
         .ops{position:relative}\n\
         .op{position:absolute;padding:2px;border-radius:2px;box-sizing:border-box;overflow:hidden;\
         white-space:nowrap;font-size:11px;box-shadow:0 1px 3px rgba(0,0,0,0.12),0 1px 2px rgba(0,0,0,0.24)}\n\
         .op:hover{box-shadow:0 8px 16px rgba(0,0,0,0.3);z-index:2}\n\
         .op:target{outline:2px solid #000}\n\
         .t{position:absolute;left:0;width:64px;text-align:right;color:#777;font-size:10px}\n\
         .h{position:absolute;top:-18px;width:100px;text-align:center;font-weight:bold}\n\
         .key span{display:inline-block;padding:1px 8px;margin-right:6px;border-radius:2px}\n",
    );
    for (k, name) in [
        (OpType::Ok, "ok"),
        (OpType::Info, "info"),
        (OpType::Fail, "fail"),
        (OpType::Invoke, "invoke"),
    ] {
        let _ = writeln!(s, ".op.{name},.key .{name}{{background:{}}}", hex(kind_color(k)));
    }
    s.push_str("</style></head><body>\n<h1>timeline: ");
    xml_escape(&mut s, &run.title);
    s.push_str("</h1>\n<p class=\"key\"><span class=\"ok\">ok</span><span class=\"info\">info (indefinite)</span>\
                <span class=\"fail\">fail</span><span class=\"invoke\">no completion</span>");
    let _ = write!(
        s,
        " {} operations by {} processes; time flows down by history position; hover a box for the operation.",
        all.len(),
        procs.len()
    );
    if all.len() > shown.len() {
        let _ = write!(s, " Showing only the first {} of {} operations.", shown.len(), all.len());
    }
    let _ = write!(
        s,
        "</p>\n<div class=\"ops\" style=\"height:{height}px;width:{width}px;margin-top:24px\">\n"
    );
    for (c, p) in procs.iter().enumerate() {
        let _ = writeln!(s, "<div class=\"h\" style=\"left:{}px\">{p}</div>", GUTTER + c * COL);
    }
    // Test time every 25 rows.
    for i in (0..ops.len()).step_by(25) {
        let _ = writeln!(
            s,
            "<div class=\"t\" style=\"top:{}px\">{:.3} s</div>",
            i * ROW,
            ops.head(i).time as f64 / 1e9
        );
    }
    for pair in shown {
        let inv = ops.head(pair.invoke);
        let col = procs.binary_search(&inv.process).unwrap_or(0);
        let (end, kind, rows) = match pair.complete {
            Some(c) => {
                let h = ops.head(c);
                let rows =
                    if h.kind == OpType::Info { last_row - pair.invoke } else { c - pair.invoke };
                (Some(h), h.kind, rows.max(1))
            }
            None => (None, OpType::Invoke, 1),
        };
        let id = pair.complete.unwrap_or(pair.invoke);
        let mut title = String::new();
        if let Some(h) = end {
            let _ =
                writeln!(title, "Dur: {:.3} ms", (h.time.saturating_sub(inv.time)) as f64 / 1e6);
            if let Some(e) = h.error {
                let _ = writeln!(title, "Err: {e}");
            }
        } else {
            title.push_str("No completion: the test ended first\n");
        }
        let _ = write!(
            title,
            "Op:\n{{:process {}\n :type {}\n :f :{}\n :index {}\n :time {:.6} s",
            inv.process,
            type_keyword(kind),
            inv.f,
            id,
            inv.time as f64 / 1e9
        );
        if inv.is_final {
            title.push_str("\n :final? true");
        }
        // Each value is rendered once, for the hover text and the box.
        let mut inv_v = String::new();
        ops.value_edn(pair.invoke, &mut inv_v, VALUE_CAP);
        let mut done_v = String::new();
        if let Some(c) = pair.complete {
            ops.value_edn(c, &mut done_v, VALUE_CAP);
        }
        title.push_str("\n :invoked ");
        title.push_str(&inv_v);
        if pair.complete.is_some() {
            title.push_str("\n :value ");
            title.push_str(&done_v);
        }
        title.push('}');
        let _ = write!(
            s,
            "<a href=\"#i{id}\"><div class=\"op {}\" id=\"i{id}\" style=\"left:{}px;top:{}px;width:{BOX_W}px;height:{}px\" title=\"",
            match kind {
                OpType::Ok => "ok",
                OpType::Info => "info",
                OpType::Fail => "fail",
                OpType::Invoke => "invoke",
            },
            GUTTER + col * COL,
            pair.invoke * ROW,
            rows * ROW
        );
        attr(&mut s, &title);
        s.push_str("\">");
        xml_text(&mut s, &format!("{} {} {}", inv.process, inv.f, short(&inv_v)));
        if pair.complete.is_some() && done_v != inv_v {
            s.push_str("<br/>");
            xml_text(&mut s, &short(&done_v));
        }
        s.push_str("</div></a>\n");
    }
    s.push_str("</div>\n</body></html>\n");
    s
}
