//! `messages.svg`: the space-time diagram of a run's messages, drawn from the journal
//! ([`crate::sim::journal`]).
//!
//! One vertical line per client, node and service (clients on the left, services on the
//! right); time flows down. Every message is an arrow from its send to its delivery,
//! coloured by body type (a reply `x_ok` shares its request's colour, fainter; `error` is
//! red), labelled with its type and the start of its body; hovering an arrow shows the whole
//! message and its times. A message dropped by a partition (or by `--loss`) stops short of
//! its destination in a dashed line ending in a cross; one still in flight when the run ended
//! ends in an open circle at the bottom. Partitions are shaded red across the diagram.
//!
//! Time is compressed as in Maelstrom: every event (a send, a delivery, a drop) takes its
//! own row, in the order they happened, so concurrent messages stay apart; real time adds
//! space only between rows, proportionally up to a cap, and a longer idle stretch shows as
//! one dashed line labelled with its length. The left gutter prints test time. What the
//! journal did not keep (outside `--diagram-from`/`--diagram-to`, past
//! `--diagram-messages`) is counted at the top and the bottom.

use std::fmt::Write as _;

use super::{RunViews, xml_escape, xml_text};
use crate::edn::{push_i64, push_u64};
use crate::sim::journal::{DropReason, Entry, Fate, Journal};
use crate::sim::net::Addr;
use crate::sim::services;
use crate::time::Instant;

/// Left gutter (time labels), in pixels.
const GUTTER: f64 = 96.0;
/// Width of a client's column.
const CLIENT_W: f64 = 46.0;
/// Width of a node's or service's column.
const NODE_W: f64 = 100.0;
/// Vertical pixels per event.
const STEP: f64 = 14.0;
/// Extra pixels per millisecond between consecutive events.
const PX_PER_MS: f64 = 0.2;
/// Most extra pixels between two events; longer gaps are drawn as one idle mark.
const GAP_CAP: f64 = 40.0;
/// Column labels repeat every this many rows.
const LABEL_EVERY: usize = 300;
/// Time labels in the gutter every this many rows (and at every idle mark).
const TIME_EVERY: usize = 25;
/// Characters of an arrow's label.
const LABEL_CHARS: usize = 40;
/// Colours for body types (a request and its `_ok` reply share one).
const PALETTE: [&str; 12] = [
    "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#bcbd22", "#e377c2", "#ff7f0e",
    "#7f7f7f", "#393b79", "#637939", "#843c39",
];
/// The colour of `error` bodies.
const ERROR_COLOR: &str = "#d62728";

/// The line the console report prints when the diagram left messages out, if it did.
pub fn note(journal: &Journal) -> Option<String> {
    if !journal.is_on() {
        return None;
    }
    let kept = journal.entries().len() as u64;
    let (before, after, over) = (journal.before, journal.after, journal.over_cap);
    if before + after + over == 0 {
        return None;
    }
    let w = journal.window();
    let mut parts = Vec::new();
    if before > 0 {
        parts.push(format!("{before} sent before --diagram-from {}", w.from.unwrap_or(0.0)));
    }
    if after > 0 {
        parts.push(format!("{after} sent after --diagram-to {}", w.to.unwrap_or(0.0)));
    }
    if over > 0 {
        parts.push(format!("{over} past the first {} (--diagram-messages)", w.cap));
    }
    Some(format!(
        "messages.svg draws {kept} of {} messages; left out: {}",
        kept + before + after + over,
        parts.join(", ")
    ))
}

/// Appends a participant's name (escaped for XML).
fn push_addr(s: &mut String, a: Addr, nodes: &[String]) {
    match a {
        Addr::Node(i) => match nodes.get(i) {
            Some(n) => xml_text(s, n),
            None => {
                s.push_str("n?");
                push_u64(s, i as u64);
            }
        },
        Addr::Service(i) => s.push_str(services::NAMES.get(i).copied().unwrap_or("service")),
        Addr::Client(k) => {
            s.push('c');
            push_u64(s, k as u64);
        }
    }
}

/// Column order: clients, then nodes, then services.
fn column_key(a: Addr) -> (u8, usize) {
    match a {
        Addr::Client(k) => (0, k),
        Addr::Node(i) => (1, i),
        Addr::Service(s) => (2, s),
    }
}

struct Event {
    seq: u64,
    time: Instant,
    entry: usize,
    end: bool,
}

/// Body types, each with its colour and count, in order of first appearance.
struct Kinds {
    names: Vec<(String, usize, u64)>,
    bases: Vec<String>,
}

impl Kinds {
    /// The index of `kind` and the palette index of its base (request) type.
    fn index(&mut self, kind: &str) -> usize {
        if let Some(i) = self.names.iter().position(|(n, _, _)| n == kind) {
            self.names[i].2 += 1;
            return i;
        }
        let base = kind.strip_suffix("_ok").unwrap_or(kind);
        let b = match self.bases.iter().position(|x| x == base) {
            Some(b) => b,
            None => {
                self.bases.push(base.to_owned());
                self.bases.len() - 1
            }
        };
        self.names.push((kind.to_owned(), b, 1));
        self.names.len() - 1
    }

    fn color(&self, i: usize) -> &'static str {
        let (name, base, _) = &self.names[i];
        if name == "error" { ERROR_COLOR } else { PALETTE[base % PALETTE.len()] }
    }

    fn is_reply(&self, i: usize) -> bool {
        self.names[i].0.ends_with("_ok")
    }
}

/// Appends a coordinate, rounded to the pixel.
fn push_px(s: &mut String, v: f64) {
    push_i64(s, v.round() as i64);
}

/// Appends test seconds of `t` with three decimals, in integer arithmetic.
fn push_secs(s: &mut String, t: Instant, t0: Instant) {
    let ms = (t.as_micros() as i64 - t0.as_micros() as i64).div_euclid(1000);
    if ms < 0 {
        s.push('-');
    }
    let ms = ms.unsigned_abs();
    push_u64(s, ms / 1000);
    s.push('.');
    let frac = ms % 1000;
    if frac < 100 {
        s.push('0');
    }
    if frac < 10 {
        s.push('0');
    }
    push_u64(s, frac);
}

/// Test seconds of `t` relative to `t0`.
fn secs(t: Instant, t0: Instant) -> f64 {
    (t.as_micros() as f64 - t0.as_micros() as f64) / 1e6
}

/// The arrow's label: the body type, then the body's other members (`msg_id` and
/// `in_reply_to` left out) as compact text without quotes, cut to [`LABEL_CHARS`]. Read
/// straight from the line's bytes, stopping as soon as the label is full.
fn body_label(e: &Entry) -> String {
    let mut label = String::with_capacity(LABEL_CHARS + 8);
    label.push_str(&e.kind);
    let line = &e.line[..];
    let Some(at) = memchr::memmem::find(line, b"\"body\"") else { return label };
    let Some(open) = memchr::memchr(b'{', &line[at..]) else { return label };
    let body = &line[at + open + 1..];
    // Split the body's members at depth-0 commas, outside strings.
    let (mut depth, mut in_str, mut esc, mut start) = (0usize, false, false, 0usize);
    let mut members: Vec<&[u8]> = Vec::new();
    for (i, &c) in body.iter().enumerate() {
        if in_str {
            match c {
                _ if esc => esc = false,
                b'\\' => esc = true,
                b'"' => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_str = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' if depth == 0 => {
                members.push(&body[start..i]);
                start = body.len();
                break;
            }
            b'}' | b']' => depth -= 1,
            b',' if depth == 0 => {
                members.push(&body[start..i]);
                start = i + 1;
                if members.len() > 8 {
                    break;
                }
            }
            _ => {}
        }
        // A long first member (a big array) need not be scanned to its end.
        if i.saturating_sub(start) > LABEL_CHARS * 2 {
            members.push(&body[start..i]);
            start = body.len();
            break;
        }
    }
    if start < body.len() {
        members.push(&body[start..]);
    }
    for m in members {
        let m = m.trim_ascii();
        let key = m.split(|&c| c == b':').next().unwrap_or(b"");
        if matches!(key, b"\"type\"" | b"\"msg_id\"" | b"\"in_reply_to\"") || m.is_empty() {
            continue;
        }
        label.push(' ');
        for &c in m {
            if label.len() > LABEL_CHARS + 4 {
                break;
            }
            if c != b'"' {
                label.push(char::from(c));
            }
        }
    }
    if label.chars().count() > LABEL_CHARS {
        label = label.chars().take(LABEL_CHARS - 1).collect::<String>() + "…";
    }
    label
}

/// `messages.svg`.
pub fn svg(run: &RunViews) -> String {
    let j = &run.journal;
    let entries = j.entries();
    let t0 = j.t0().unwrap_or(Instant::ZERO);

    // Columns.
    let mut addrs: Vec<Addr> = entries.iter().flat_map(|e| [e.src, e.dest]).collect();
    addrs.sort_by_key(|&a| column_key(a));
    addrs.dedup();
    let mut xs: Vec<(Addr, f64, f64)> = Vec::with_capacity(addrs.len());
    let mut x = GUTTER;
    for &a in &addrs {
        let w = if a.is_client() { CLIENT_W } else { NODE_W };
        xs.push((a, x + w / 2.0, w));
        x += w;
    }
    let width = x + 20.0;
    let col_x = |a: Addr| -> f64 {
        xs.binary_search_by_key(&column_key(a), |&(b, _, _)| column_key(b))
            .map_or(GUTTER, |i| xs[i].1)
    };

    // Events in the order they happened.
    let mut events: Vec<Event> = Vec::with_capacity(entries.len() * 2);
    for (i, e) in entries.iter().enumerate() {
        events.push(Event { seq: e.sent_seq, time: e.sent, entry: i, end: false });
        match e.fate {
            Fate::Delivered(t) | Fate::Dropped(t, _) => {
                events.push(Event { seq: e.end_seq, time: t, entry: i, end: true })
            }
            Fate::InFlight => {}
        }
    }
    events.sort_unstable_by_key(|e| e.seq);

    // Kinds and the header.
    let mut kinds = Kinds { names: Vec::new(), bases: Vec::new() };
    let kind_of: Vec<usize> = entries.iter().map(|e| kinds.index(&e.kind)).collect();
    let legend_rows = kinds.names.len().div_ceil(6).max(1);
    let header = 58.0 + 18.0 * legend_rows as f64 + 26.0;

    // Rows: y of each event, idle marks and time labels.
    let mut send_y = vec![0.0_f64; entries.len()];
    let mut end_y = vec![f64::NAN; entries.len()];
    let mut idle: Vec<(f64, f64)> = Vec::new(); // (y, seconds)
    let mut time_marks: Vec<(f64, f64)> = Vec::new(); // (y, test seconds)
    let mut row_y: Vec<(Instant, f64)> = Vec::with_capacity(events.len());
    let mut y = header + STEP;
    let mut prev: Option<Instant> = None;
    for (row, ev) in events.iter().enumerate() {
        if let Some(p) = prev {
            let gap_ms = ev.time.saturating_since(p).as_secs_f64() * 1000.0;
            let extra = gap_ms * PX_PER_MS;
            if extra > GAP_CAP {
                idle.push((y + GAP_CAP / 2.0 + STEP / 2.0, gap_ms / 1000.0));
                y += STEP + GAP_CAP;
                time_marks.push((y, secs(ev.time, t0)));
            } else {
                y += STEP + extra;
                if row % TIME_EVERY == 0 {
                    time_marks.push((y, secs(ev.time, t0)));
                }
            }
        } else {
            time_marks.push((y, secs(ev.time, t0)));
        }
        prev = Some(ev.time);
        row_y.push((ev.time, y));
        if ev.end {
            end_y[ev.entry] = y;
        } else {
            send_y[ev.entry] = y;
        }
    }
    let bottom = y + 2.0 * STEP;
    let height = bottom + 60.0;

    let line_bytes: usize = entries.iter().map(|e| e.line.len()).sum();
    let mut s = String::with_capacity(
        line_bytes + entries.len() * 360 + xs.len() * 64 * (events.len() / LABEL_EVERY + 1) + 8192,
    );
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{width:.0}\" height=\"{height:.0}\" \
         font-family=\"Helvetica, Arial, sans-serif\" font-size=\"11\">"
    );
    s.push_str("<style>\n");
    s.push_str(
        "line{stroke-width:2}\n.m line{pointer-events:stroke;stroke-width:3}\n.m:hover line{stroke-width:5}\n\
         .life{stroke:#ccc;stroke-width:1}\n.life.node{stroke:#999}\n\
         .m text{font-size:9px;text-anchor:middle;paint-order:stroke;stroke:#fff;stroke-width:3px}\n\
         .reply line{stroke-opacity:0.55}\n.m.drop line{stroke-dasharray:5 3;marker-end:none}\n\
         .m.lost line{stroke-dasharray:1 3;marker-end:none}\n\
         .x{stroke:#d62728;stroke-width:2}\n.open{fill:#fff;stroke:#555}\n\
         .part{fill:#f4d6d6;fill-opacity:0.6}\n.idle{stroke:#aaa;stroke-dasharray:2 4}\n\
         .col{text-anchor:middle;font-weight:bold}\n.col.rep{fill:#aaa;font-weight:normal}\n\
         .t{text-anchor:end;fill:#555}\n",
    );
    for (i, _) in kinds.names.iter().enumerate() {
        let c = kinds.color(i);
        let _ =
            writeln!(s, ".k{i} line{{stroke:{c};marker-end:url(#a{i})}} .k{i} text{{fill:{c}}}");
    }
    s.push_str("</style>\n<defs>\n");
    for (i, _) in kinds.names.iter().enumerate() {
        let _ = writeln!(
            s,
            "<marker id=\"a{i}\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" \
             orient=\"auto\"><path d=\"M0,1 L10,5 L0,9 z\" fill=\"{}\"/></marker>",
            kinds.color(i)
        );
    }
    s.push_str("</defs>\n<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n");

    // Header: title, what is shown, legend.
    s.push_str("<text x=\"10\" y=\"22\" font-size=\"15\" font-weight=\"bold\">messages: ");
    xml_escape(&mut s, &run.title);
    s.push_str("</text>\n");
    let shown = match (events.first(), events.last()) {
        (Some(a), Some(b)) => format!(
            "{} messages, {:.3} s to {:.3} s of test time",
            entries.len(),
            secs(a.time, t0),
            secs(b.time, t0)
        ),
        _ if !j.is_on() => {
            "no message journal (the run was not recorded for the diagram)".to_owned()
        }
        _ => "no messages in the window".to_owned(),
    };
    let left = note(j)
        .map(|n| format!("; {}", n.split_once("; ").map_or("", |x| x.1)))
        .unwrap_or_default();
    s.push_str("<text x=\"10\" y=\"42\">");
    xml_escape(&mut s, &format!("{shown}{left}. Hover an arrow for the whole message."));
    s.push_str("</text>\n");
    for (i, (name, _, count)) in kinds.names.iter().enumerate() {
        let (lx, ly) = (10.0 + 190.0 * (i % 6) as f64, 62.0 + 18.0 * (i / 6) as f64);
        let _ = writeln!(
            s,
            "<g class=\"key k{i}{}\"><line x1=\"{lx}\" y1=\"{ly}\" x2=\"{}\" y2=\"{ly}\"/></g>\
             <text x=\"{}\" y=\"{}\">{} ({count})</text>",
            if kinds.is_reply(i) { " reply" } else { "" },
            lx + 30.0,
            lx + 36.0,
            ly + 4.0,
            {
                let mut t = String::new();
                xml_escape(&mut t, name);
                t
            }
        );
    }

    // Partitions, behind everything else.
    let y_at = |t: f64, first: bool| -> Option<f64> {
        // The first row at or after `t` (first) or the last at or before it.
        let tt = |r: &(Instant, f64)| secs(r.0, t0);
        if first {
            let i = row_y.partition_point(|r| tt(r) < t);
            row_y.get(i).map(|r| r.1 - STEP / 2.0)
        } else {
            let i = row_y.partition_point(|r| tt(r) <= t);
            i.checked_sub(1).map(|i| row_y[i].1 + STEP / 2.0)
        }
    };
    for p in &run.partitions {
        let end = p.end_s.unwrap_or(f64::INFINITY);
        let (Some(a), Some(b)) = (y_at(p.start_s, true), y_at(end, false)) else { continue };
        if b <= a {
            continue;
        }
        let _ = write!(
            s,
            "<rect class=\"part\" x=\"{GUTTER}\" y=\"{a:.1}\" width=\"{:.1}\" height=\"{:.1}\"><title>",
            width - GUTTER,
            b - a
        );
        xml_escape(
            &mut s,
            &format!(
                "partition {:?} from {:.3} s to {}",
                p.shape,
                p.start_s,
                p.end_s.map_or("the end".to_owned(), |e| format!("{e:.3} s"))
            ),
        );
        let _ = writeln!(
            s,
            "</title></rect><text x=\"{}\" y=\"{:.1}\" fill=\"#b22\">partition {:?}</text>",
            GUTTER + 4.0,
            a + 12.0,
            p.shape
        );
    }

    // Lifelines, column labels, time labels, idle marks.
    let mut label_rows: Vec<f64> = vec![header];
    label_rows.extend(row_y.iter().step_by(LABEL_EVERY).skip(1).map(|r| r.1 - STEP / 2.0));
    for &(a, cx, _) in &xs {
        let _ = writeln!(
            s,
            "<line class=\"life{}\" x1=\"{cx}\" y1=\"{header}\" x2=\"{cx}\" y2=\"{bottom:.1}\"/>",
            if a.is_client() { "" } else { " node" }
        );
    }
    for (n, &ly) in label_rows.iter().enumerate() {
        for &(a, cx, _) in &xs {
            let _ = write!(
                s,
                "<text class=\"col{}\" x=\"{cx}\" y=\"{:.1}\">",
                if n > 0 { " rep" } else { "" },
                ly - 4.0
            );
            push_addr(&mut s, a, &run.nodes);
            s.push_str("</text>");
        }
        s.push('\n');
    }
    for &(ty, t) in &time_marks {
        let _ = writeln!(
            s,
            "<text class=\"t\" x=\"{}\" y=\"{:.1}\">{t:.3} s</text>",
            GUTTER - 6.0,
            ty + 4.0
        );
    }
    for &(iy, gap) in &idle {
        let _ = writeln!(
            s,
            "<line class=\"idle\" x1=\"10\" y1=\"{iy:.1}\" x2=\"{:.1}\" y2=\"{iy:.1}\"/>\
             <text x=\"12\" y=\"{:.1}\" fill=\"#888\">{gap:.3} s idle</text>",
            width - 10.0,
            iy - 3.0
        );
    }

    // The messages (the bulk of the file: integers are written without `core::fmt`).
    for (i, e) in entries.iter().enumerate() {
        let k = kind_of[i];
        let (x1, y1) = (col_x(e.src), send_y[i]);
        let xd = col_x(e.dest);
        let (class, x2, y2) = match e.fate {
            Fate::Delivered(_) => ("", xd, end_y[i]),
            Fate::Dropped(..) => (" drop", x1 + 0.6 * (xd - x1), end_y[i]),
            Fate::InFlight => (" lost", x1 + 0.6 * (xd - x1), bottom - STEP),
        };
        s.push_str("<g class=\"m k");
        push_u64(&mut s, k as u64);
        if kinds.is_reply(k) {
            s.push_str(" reply");
        }
        s.push_str(class);
        s.push_str("\" data-id=\"");
        push_u64(&mut s, e.id);
        s.push_str("\"><title>");
        push_addr(&mut s, e.src, &run.nodes);
        s.push_str(" → ");
        push_addr(&mut s, e.dest, &run.nodes);
        s.push_str(", sent at ");
        push_secs(&mut s, e.sent, t0);
        match e.fate {
            Fate::Delivered(t) => {
                s.push_str(" s, delivered at ");
                push_secs(&mut s, t, t0);
                s.push_str(" s (");
                push_u64(&mut s, t.saturating_since(e.sent).as_millis() as u64);
                s.push_str(" ms later)");
            }
            Fate::Dropped(t, why) => {
                s.push_str(" s, DROPPED at ");
                push_secs(&mut s, t, t0);
                s.push_str(match why {
                    DropReason::Partition => " s (the link was cut by a partition)",
                    DropReason::Loss => " s (lost by --loss)",
                });
            }
            Fate::InFlight => s.push_str(" s, still in flight when the run ended"),
        }
        s.push('\n');
        match std::str::from_utf8(&e.line) {
            Ok(line) => xml_text(&mut s, line),
            Err(_) => xml_text(&mut s, &String::from_utf8_lossy(&e.line)),
        }
        if e.line.len() < e.line_len {
            s.push_str("… (");
            push_u64(&mut s, e.line_len as u64);
            s.push_str(" bytes in all)");
        }
        s.push_str("</title><line x1=\"");
        push_px(&mut s, x1);
        s.push_str("\" y1=\"");
        push_px(&mut s, y1);
        s.push_str("\" x2=\"");
        push_px(&mut s, x2);
        s.push_str("\" y2=\"");
        push_px(&mut s, y2);
        s.push_str("\"/>");
        // The label, along the arrow and never upside down.
        let (dx, dy) = (x2 - x1, y2 - y1);
        let mut angle = dy.atan2(dx).to_degrees();
        if !(-90.0..=90.0).contains(&angle) {
            angle += 180.0;
        }
        s.push_str("<text transform=\"translate(");
        push_px(&mut s, (x1 + x2) / 2.0);
        s.push(',');
        push_px(&mut s, (y1 + y2) / 2.0);
        s.push_str(") rotate(");
        push_i64(&mut s, angle.round() as i64);
        s.push_str(")\" y=\"-4\">");
        xml_text(&mut s, &body_label(e));
        s.push_str("</text>");
        match e.fate {
            Fate::Dropped(..) => {
                s.push_str("<path class=\"x\" d=\"M");
                push_px(&mut s, x2 - 5.0);
                s.push(',');
                push_px(&mut s, y2 - 5.0);
                s.push_str("l10,10m0,-10l-10,10\"/>");
            }
            Fate::InFlight => {
                s.push_str("<circle class=\"open\" cx=\"");
                push_px(&mut s, x2);
                s.push_str("\" cy=\"");
                push_px(&mut s, y2);
                s.push_str("\" r=\"4\"/>");
            }
            Fate::Delivered(_) => {}
        }
        s.push_str("</g>\n");
    }
    if let Some(n) = note(j) {
        let _ = write!(
            s,
            "<line x1=\"30\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#d96918\"/>",
            bottom + 10.0,
            width - 30.0,
            bottom + 10.0
        );
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#d96918\" text-anchor=\"middle\">",
            width / 2.0,
            bottom + 30.0
        );
        xml_escape(&mut s, &n);
        s.push_str("</text>\n");
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::journal::{Journal, Window};

    fn entry(line: &str) -> Entry {
        let mut j = Journal::new(Window::default(), true);
        j.sent(Instant::ZERO, 0, Addr::Node(0), Addr::Node(1), line.as_bytes());
        j.entries()[0].clone()
    }

    #[test]
    fn labels_show_the_type_and_the_first_fields() {
        let e = entry(
            r#"{"id":3,"src":"n0","dest":"n1","body":{"type":"gossip","msg_id":4,"values":[1,2,{"a":"b,c"}],"s":"x"}}"#,
        );
        assert_eq!(body_label(&e), "gossip values:[1,2,{a:b,c}] s:x");
        let e = entry(
            r#"{"src":"c1","dest":"n1","body":{"messages":[1,2,3],"type":"read_ok","in_reply_to":2}}"#,
        );
        assert_eq!(body_label(&e), "read_ok messages:[1,2,3]");
        let long: Vec<String> = (0..500).map(|i| i.to_string()).collect();
        let e = entry(&format!(
            r#"{{"src":"n1","dest":"c1","body":{{"type":"read_ok","messages":[{}]}}}}"#,
            long.join(",")
        ));
        let l = body_label(&e);
        assert!(
            l.starts_with("read_ok messages:[0,1,2")
                && l.ends_with('…')
                && l.chars().count() == LABEL_CHARS,
            "{l}"
        );
    }

    #[test]
    fn seconds_print_with_three_decimals() {
        let mut s = String::new();
        push_secs(&mut s, Instant::from_micros(2_345_678), Instant::from_micros(1_000_000));
        s.push(' ');
        push_secs(&mut s, Instant::from_micros(1_000), Instant::from_micros(3_000));
        assert_eq!(s, "1.345 -0.002");
    }
}
