//! HTML pages: the index of runs, a run's page, a directory listing and error pages, plus the
//! style sheet and icon.
//!
//! Pages are well-formed XHTML served as `text/html` (tests parse them as XML), use no
//! script, and put every piece of store-derived text (names, JSON values, log lines, the
//! command) through [`Esc`] and every store-derived URL through
//! [`paths::encode_component`](super::paths::encode_component) first.

use std::fmt::{self, Display, Write as _};
use std::path::Path;
use std::sync::Arc;

use super::paths::{encode_component, encode_path};
use super::store::{Json, Kind, PLOT_ORDER, RunFile, RunRef, Summary, Verdict};

/// HTML-escapes text for element content and quoted attribute values.
pub struct Esc<'a>(pub &'a str);

impl Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut last = 0;
        for (i, c) in self.0.char_indices() {
            let rep = match c {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&quot;",
                '\'' => "&#39;",
                // XML 1.0 forbids most control characters even as references; show a
                // replacement character instead of breaking the page.
                '\u{0}'..='\u{8}'
                | '\u{b}'
                | '\u{c}'
                | '\u{e}'..='\u{1f}'
                | '\u{fffe}'
                | '\u{ffff}' => "\u{fffd}",
                _ => continue,
            };
            f.write_str(&self.0[last..i])?;
            f.write_str(rep)?;
            last = i + c.len_utf8();
        }
        f.write_str(&self.0[last..])
    }
}

/// The style sheet (`/style.css`).
pub const STYLE: &str = include_str!("style.css");

/// The icon (`/favicon.svg`).
pub const FAVICON: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 16 16\">\
<circle cx=\"4\" cy=\"4\" r=\"3\" fill=\"#2a9d4b\"/><circle cx=\"12\" cy=\"6\" r=\"3\" fill=\"#e0a100\"/>\
<circle cx=\"7\" cy=\"12\" r=\"3\" fill=\"#d62828\"/></svg>\n";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\
         <meta charset=\"utf-8\"/><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\
         <title>{}</title><link rel=\"stylesheet\" href=\"/style.css\"/>\
         <link rel=\"icon\" type=\"image/svg+xml\" href=\"/favicon.svg\"/></head>\n<body>\n\
         <header><a class=\"home\" href=\"/\">glomers</a> <span class=\"muted\">results</span>\
         <a class=\"right\" href=\"/latest\">latest run</a></header>\n<main>\n{body}</main>\n</body>\n</html>\n",
        Esc(title)
    )
}

/// An error page.
pub fn error_page(status: u16, message: &str) -> String {
    page(
        &format!("{status}"),
        &format!(
            "<h1>{status}</h1>\n<p class=\"problem\">{}</p>\n<p><a href=\"/\">All runs</a></p>\n",
            Esc(message)
        ),
    )
}

/// A number as people read it: integers plainly, others to at most four decimals.
pub fn num(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    if x.fract() == 0.0 && x.abs() < 1e15 {
        return format!("{x:.0}");
    }
    let s = format!("{x:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A byte count as people read it.
pub fn size(n: u64) -> String {
    match n {
        n if n < 1024 => format!("{n} B"),
        n if n < 1 << 20 => format!("{:.1} KiB", n as f64 / 1024.0),
        n if n < 1 << 30 => format!("{:.1} MiB", n as f64 / (1 << 20) as f64),
        n => format!("{:.1} GiB", n as f64 / (1 << 30) as f64),
    }
}

/// The URL of a run's page.
pub fn run_url(run: &RunRef) -> String {
    format!("/run/{}/{}", encode_component(&run.workload), encode_component(&run.name))
}

/// The URL of a file under the store.
pub fn file_url(rel: &Path) -> String {
    format!("/files/{}", encode_path(rel))
}

/// What the index shows.
pub struct IndexView<'a> {
    /// The store's root, for the heading.
    pub store: &'a Path,
    /// Every workload with its number of runs, by name.
    pub workloads: Vec<(String, usize)>,
    /// Runs by verdict, within the workload filter.
    pub verdicts: Vec<(Verdict, usize)>,
    /// All runs in the store.
    pub total: usize,
    /// The workload filter.
    pub workload: Option<&'a str>,
    /// The verdict filter.
    pub verdict: Option<Verdict>,
    /// Runs matching the filters.
    pub matched: usize,
    /// This page's runs.
    pub rows: Vec<(RunRef, Arc<Summary>)>,
    /// This page (0-based) and the page size.
    pub page: usize,
    /// Runs per page.
    pub page_size: usize,
    /// Whether the scan stopped at its limit.
    pub truncated: bool,
}

/// The index URL for these filters and page.
pub fn index_url(workload: Option<&str>, verdict: Option<Verdict>, page: usize) -> String {
    let mut q = Vec::new();
    if let Some(w) = workload {
        q.push(format!("workload={}", encode_component(w)));
    }
    if let Some(v) = verdict {
        q.push(format!("verdict={}", v.word()));
    }
    if page > 0 {
        q.push(format!("page={page}"));
    }
    if q.is_empty() { "/".into() } else { format!("/?{}", q.join("&")) }
}

/// Renders the index of runs.
pub fn index(v: &IndexView<'_>) -> String {
    let mut b = String::new();
    let _ = writeln!(
        b,
        "<h1>Runs</h1>\n<p class=\"muted\">store <code>{}</code>: {} run{}{}</p>",
        Esc(&v.store.display().to_string()),
        v.total,
        if v.total == 1 { "" } else { "s" },
        if v.truncated {
            format!(" (only the first {} were scanned)", super::store::MAX_RUNS)
        } else {
            String::new()
        }
    );
    b.push_str("<nav class=\"filters\">\n<div><span class=\"label\">workload</span>");
    let chip = |b: &mut String, on: bool, class: &str, href: &str, text: &str, n: usize| {
        let _ = write!(
            b,
            " <a class=\"chip{}{}\" href=\"{}\">{} <span class=\"count\">{n}</span></a>",
            if class.is_empty() { String::new() } else { format!(" {class}") },
            if on { " on" } else { "" },
            Esc(href),
            Esc(text)
        );
    };
    chip(&mut b, v.workload.is_none(), "", &index_url(None, v.verdict, 0), "all", v.total);
    for (w, n) in &v.workloads {
        let on = v.workload == Some(w.as_str());
        chip(&mut b, on, "", &index_url(Some(w), v.verdict, 0), w, *n);
    }
    b.push_str("</div>\n<div><span class=\"label\">verdict</span>");
    let in_workload: usize = v.verdicts.iter().map(|(_, n)| n).sum();
    chip(&mut b, v.verdict.is_none(), "", &index_url(v.workload, None, 0), "any", in_workload);
    for (verdict, n) in &v.verdicts {
        let on = v.verdict == Some(*verdict);
        let class = format!("v-{}", verdict.word());
        chip(&mut b, on, &class, &index_url(v.workload, Some(*verdict), 0), verdict.word(), *n);
    }
    b.push_str("</div>\n</nav>\n");

    if v.rows.is_empty() {
        b.push_str(if v.total == 0 {
            "<p class=\"empty\">No runs yet. <code>glomers test -w echo --time-limit 5</code> \
             writes one into <code>store/</code>.</p>\n"
        } else {
            "<p class=\"empty\">No run matches these filters.</p>\n"
        });
    } else {
        b.push_str(
            "<table class=\"runs\">\n<thead><tr><th>time (UTC)</th><th>workload</th>\
             <th class=\"num\">nodes</th><th>verdict</th><th class=\"num\">msgs/op</th>\
             <th class=\"num\">latency p50 / p99</th><th class=\"num\">test time</th>\
             <th>files</th></tr></thead>\n<tbody>\n",
        );
        for (run, s) in &v.rows {
            index_row(&mut b, run, s);
        }
        b.push_str("</tbody>\n</table>\n");
    }
    pager(&mut b, v);
    page("glomers: runs", &b)
}

fn index_row(b: &mut String, run: &RunRef, s: &Summary) {
    let url = run_url(run);
    let w = s.verdict.word();
    let _ = write!(
        b,
        "<tr class=\"v-{w}\"><td><a href=\"{url}\">{}</a></td><td><a href=\"{}\">{}</a>\
         {}<td class=\"num\">{}</td><td class=\"verdict\">{w}{}</td>",
        Esc(&run.time()),
        Esc(&index_url(Some(&run.workload), None, 0)),
        Esc(&run.workload),
        if s.checked {
            " <span class=\"muted\" title=\"a stored history judged again by glomers check\">\
             check</span></td>"
        } else {
            "</td>"
        },
        s.nodes.map_or(String::new(), |n| n.to_string()),
        if s.aborted.is_some() { " (aborted)" } else { "" },
    );
    if let Some(p) = &s.problem {
        let _ = write!(b, "<td colspan=\"3\" class=\"problem\">{}</td>", Esc(p));
    } else {
        let _ = write!(
            b,
            "<td class=\"num\">{}</td>",
            s.msgs_per_op.map_or(String::new(), |m| format!("{m:.3}"))
        );
        match &s.latency {
            Some((f, p50, p99)) => {
                let _ = write!(
                    b,
                    "<td class=\"num\">{} / {} ms <span class=\"muted\">{}</span></td>",
                    num(*p50),
                    num(*p99),
                    Esc(f)
                );
            }
            None => b.push_str("<td></td>"),
        }
        let _ = write!(
            b,
            "<td class=\"num\">{}</td>",
            s.test_seconds.map_or(String::new(), |t| format!("{} s", num(t)))
        );
    }
    let rel = run.rel();
    b.push_str("<td class=\"links\">");
    if s.verdict != Verdict::Incomplete {
        let _ = write!(b, "<a href=\"{}\">results</a> ", Esc(&file_url(&rel.join("results.json"))));
    }
    let _ = writeln!(b, "<a href=\"{}\">files</a></td></tr>", Esc(&file_url(&rel)));
}

fn pager(b: &mut String, v: &IndexView<'_>) {
    if v.matched == 0 {
        return;
    }
    let first = v.page * v.page_size + 1;
    let last = (first + v.rows.len()).saturating_sub(1);
    let _ = write!(b, "<p class=\"pager\">runs {first}&#8211;{last} of {}", v.matched);
    if v.page > 0 {
        let _ = write!(
            b,
            " · <a href=\"{}\">&#8592; newer</a>",
            Esc(&index_url(v.workload, v.verdict, v.page - 1))
        );
    }
    if last < v.matched {
        let _ = write!(
            b,
            " · <a href=\"{}\">older &#8594;</a>",
            Esc(&index_url(v.workload, v.verdict, v.page + 1))
        );
    }
    b.push_str("</p>\n");
}

/// How a run's `results.json` read, for the run page.
pub enum ResultsState<'a> {
    /// Parsed.
    Ok(&'a Json),
    /// Missing.
    Missing,
    /// Unusable, and why.
    Bad(&'a str),
}

/// What a run page shows.
pub struct RunView<'a> {
    /// The run.
    pub run: &'a RunRef,
    /// Its summary (verdict, nodes...).
    pub summary: &'a Summary,
    /// Its results.
    pub results: ResultsState<'a>,
    /// Its files.
    pub files: &'a [RunFile],
    /// Whether the file list was cut short.
    pub files_truncated: bool,
    /// The first lines of the history: file name, text, whether there is more.
    pub history_head: Option<(String, String, bool)>,
}

/// SVGs bigger than this are linked from the run page rather than embedded.
pub const MAX_EMBED_BYTES: u64 = 32 << 20;

/// Renders a run's page.
pub fn run_page(v: &RunView<'_>) -> String {
    let run = v.run;
    let rel = run.rel();
    let w = v.summary.verdict.word();
    let mut b = String::new();
    let _ = writeln!(
        b,
        "<p class=\"crumbs\"><a href=\"/\">runs</a> / <a href=\"{}\">{}</a> / {}</p>\n\
         <h1><span class=\"badge v-{w}\">{w}</span> {} <span class=\"muted\">{}</span></h1>",
        Esc(&index_url(Some(&run.workload), None, 0)),
        Esc(&run.workload),
        Esc(&run.name),
        Esc(&run.workload),
        Esc(&run.time()),
    );
    let find = |name: &str| v.files.iter().find(|f| f.rel == Path::new(name));

    // Contents.
    let has = |k: Kind| v.files.iter().any(|f| f.kind == k);
    let mut toc = vec![("report", "report")];
    if has(Kind::Plot) {
        toc.push(("plots", "plots"));
    }
    if has(Kind::Diagram) {
        toc.push(("diagram", "messages"));
    }
    if has(Kind::Timeline) {
        toc.push(("timeline", "timeline"));
    }
    if has(Kind::History) {
        toc.push(("history", "history"));
    }
    if has(Kind::NodeLog) || has(Kind::Log) {
        toc.push(("logs", "logs"));
    }
    toc.push(("files", "files"));
    b.push_str("<nav class=\"toc\">");
    for (id, text) in toc {
        let _ = write!(b, "<a href=\"#{id}\">{text}</a> ");
    }
    b.push_str("</nav>\n");

    // The command that reproduces the run.
    if let ResultsState::Ok(r) = &v.results {
        if let Some(cmd) = r.get("command").and_then(Json::str) {
            let _ = writeln!(
                b,
                "<section class=\"reproduce\"><h2>reproduce</h2><pre class=\"cmd\"><code>{}</code></pre></section>",
                Esc(cmd)
            );
        }
    }

    // Report.
    b.push_str("<section id=\"report\"><h2>report</h2>\n");
    match &v.results {
        ResultsState::Ok(r) => report(&mut b, r, v.summary),
        ResultsState::Missing => {
            let _ = writeln!(
                b,
                "<p class=\"problem\">This run has no <code>results.json</code>: it was \
                 interrupted, or is still being written. Its files are listed below.</p>"
            );
        }
        ResultsState::Bad(why) => {
            let _ = writeln!(b, "<p class=\"problem\">{}</p>", Esc(why));
        }
    }
    for f in v.files.iter().filter(|f| f.kind == Kind::Results) {
        let _ = write!(b, "{} ", file_link(&rel, f));
    }
    b.push_str("</section>\n");

    // Plots, known ones first.
    let mut plots: Vec<&RunFile> = v.files.iter().filter(|f| f.kind == Kind::Plot).collect();
    let rank = |f: &RunFile| {
        let name = f.rel.to_string_lossy();
        PLOT_ORDER.iter().position(|p| *p == name).unwrap_or(PLOT_ORDER.len())
    };
    plots.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.rel.cmp(&b.rel)));
    if !plots.is_empty() {
        b.push_str("<section id=\"plots\"><h2>plots</h2>\n<div class=\"plots\">");
        for f in plots {
            let url = file_url(&rel.join(&f.rel));
            let name = f.rel.to_string_lossy();
            if f.size > MAX_EMBED_BYTES {
                let _ = write!(b, "<p>{} (too big to show inline)</p>", file_link(&rel, f));
                continue;
            }
            let _ = write!(
                b,
                "<figure><a href=\"{0}\"><img src=\"{0}\" alt=\"{1}\" loading=\"lazy\"/></a>\
                 <figcaption>{1}</figcaption></figure>",
                Esc(&url),
                Esc(&name)
            );
        }
        b.push_str("</div></section>\n");
    }

    if let Some(f) = find("messages.svg") {
        embed(
            &mut b,
            "diagram",
            "messages",
            &rel,
            f,
            "the space-time diagram: hover a message to see it whole",
        );
    }
    if let Some(f) = find("timeline.html") {
        embed(
            &mut b,
            "timeline",
            "timeline",
            &rel,
            f,
            "one column per client process, one box per operation",
        );
    }

    // History.
    let histories: Vec<&RunFile> = v.files.iter().filter(|f| f.kind == Kind::History).collect();
    if !histories.is_empty() {
        b.push_str("<section id=\"history\"><h2>history</h2>\n<p>");
        for f in &histories {
            let _ = write!(b, "{} ", file_link(&rel, f));
        }
        b.push_str("</p>\n");
        if let Some((name, text, more)) = &v.history_head {
            let _ = writeln!(
                b,
                "<pre class=\"preview\"><code>{}</code></pre>{}",
                Esc(text),
                if *more {
                    format!(
                        "<p class=\"muted\">the first lines of {}; open it for the rest</p>",
                        Esc(name)
                    )
                } else {
                    String::new()
                }
            );
        }
        b.push_str("</section>\n");
    }

    // Logs.
    let logs: Vec<&RunFile> =
        v.files.iter().filter(|f| matches!(f.kind, Kind::NodeLog | Kind::Log)).collect();
    if !logs.is_empty() {
        b.push_str("<section id=\"logs\"><h2>logs</h2>\n<ul class=\"logs\">");
        for f in logs {
            let _ = write!(
                b,
                "<li{}>{}</li>",
                if f.size == 0 { " class=\"muted\"" } else { "" },
                file_link(&rel, f)
            );
        }
        b.push_str("</ul></section>\n");
    }

    // Every file.
    b.push_str("<section id=\"files\"><h2>files</h2>\n<table class=\"files\"><tbody>");
    for f in v.files {
        let _ = write!(
            b,
            "<tr><td><a href=\"{}\">{}</a></td><td class=\"num\">{}</td></tr>",
            Esc(&file_url(&rel.join(&f.rel))),
            Esc(&f.rel.to_string_lossy()),
            size(f.size)
        );
    }
    b.push_str("</tbody></table>\n");
    if v.files_truncated {
        let _ =
            writeln!(b, "<p class=\"muted\">only the first {} files are listed</p>", v.files.len());
    }
    let _ = writeln!(
        b,
        "<p><a href=\"{}\">browse the directory</a></p></section>",
        Esc(&file_url(&rel))
    );
    page(&format!("glomers: {} {} ({w})", run.workload, run.time()), &b)
}

fn file_link(run_rel: &Path, f: &RunFile) -> String {
    format!(
        "<a href=\"{}\">{}</a> <span class=\"muted\">{}</span>",
        Esc(&file_url(&run_rel.join(&f.rel))),
        Esc(&f.rel.to_string_lossy()),
        size(f.size)
    )
}

fn embed(b: &mut String, id: &str, title: &str, run_rel: &Path, f: &RunFile, caption: &str) {
    let url = file_url(&run_rel.join(&f.rel));
    let _ = write!(
        b,
        "<section id=\"{id}\"><h2>{title}</h2>\n<p class=\"muted\">{caption} · \
         <a href=\"{}\">open on its own</a> ({})</p>",
        Esc(&url),
        size(f.size)
    );
    if f.size <= MAX_EMBED_BYTES {
        let _ = write!(
            b,
            "<iframe class=\"{id}\" src=\"{}\" title=\"{title}\" loading=\"lazy\"></iframe>",
            Esc(&url)
        );
    }
    b.push_str("</section>\n");
}

/// The report: the run's results.json, readably.
fn report(b: &mut String, r: &Json, s: &Summary) {
    let text = |k: &str| r.get(k).map(scalar);
    b.push_str("<div class=\"cols\"><div>\n<table class=\"kv\"><tbody>\n");
    let mut row = |k: &str, v: String| {
        if !v.is_empty() {
            let _ = writeln!(b, "<tr><th>{}</th><td>{v}</td></tr>", Esc(k));
        }
    };
    row("verdict", badge(r.get("valid")));
    if let Some(why) = r.get("aborted").and_then(Json::str) {
        row("aborted", format!("<span class=\"problem\">{}</span>", Esc(why)));
    }
    row("workload", text("workload").map(|t| Esc(&t).to_string()).unwrap_or_default());
    row("nodes", s.nodes.map(|n| n.to_string()).unwrap_or_default());
    row("seed", text("seed").unwrap_or_default());
    if let Some(a) = r.get("availability").and_then(Json::num) {
        row("availability", format!("{} {}", num(a), badge(r.get("availability_valid"))));
    }
    row("stats", badge(r.get("stats_valid")));
    if let Some(net) = r.get("net") {
        let m = |k: &str| net.get(k).and_then(Json::num).map(|x| format!("{x:.3}"));
        row(
            "msgs-per-op",
            format!(
                "servers {}, all {}",
                m("servers_msgs_per_op").unwrap_or_default(),
                m("all_msgs_per_op").unwrap_or_default()
            ),
        );
    }
    let secs = |k: &str| r.get(k).and_then(Json::num).map(|t| format!("{} s", num(t)));
    row("test time", secs("test_seconds").unwrap_or_default());
    row("wall time", secs("wall_seconds").unwrap_or_default());
    row(
        "trace hash",
        text("trace_hash").map(|t| format!("<code>{}</code>", Esc(&t))).unwrap_or_default(),
    );
    b.push_str("</tbody></table>\n</div><div>\n");

    ops_table(b, r);
    if let Some(net) = r.get("net") {
        b.push_str(
            "<h3>network</h3><table class=\"grid\"><thead><tr><th></th><th class=\"num\">sent</th>\
             <th class=\"num\">received</th><th class=\"num\">messages</th></tr></thead><tbody>",
        );
        for who in ["servers", "clients", "all"] {
            let Some(c) = net.get(who) else { continue };
            let n = |k: &str| c.get(k).map(scalar).unwrap_or_default();
            let _ = write!(
                b,
                "<tr><th>{who}</th><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                n("send_count"),
                n("recv_count"),
                n("msg_count")
            );
        }
        b.push_str("</tbody></table>\n");
        let dropped: Vec<String> =
            [("dropped_partition", "by partitions"), ("dropped_loss", "lost")]
                .iter()
                .filter_map(|(k, t)| {
                    let n = net.get(k)?.num()?;
                    (n > 0.0).then(|| format!("{} {t}", num(n)))
                })
                .collect();
        if !dropped.is_empty() {
            let _ = writeln!(b, "<p>dropped: {}</p>", dropped.join(", "));
        }
    }
    if let Some(parts) = r.get("partitions").and_then(Json::arr).filter(|p| !p.is_empty()) {
        b.push_str("<h3>partitions</h3><ul>");
        for p in parts.iter().take(200) {
            let t = |k: &str| p.get(k).and_then(Json::num).map(num);
            let _ = write!(
                b,
                "<li>{} s &#8211; {}: {}</li>",
                t("start_s").unwrap_or_default(),
                t("end_s").map_or("end".into(), |e| format!("{e} s")),
                Esc(&p.get("shape").map(scalar).unwrap_or_default())
            );
        }
        b.push_str("</ul>\n");
    }
    b.push_str("</div></div>\n");
    if let Some(faults) = r.get("faults").and_then(Json::arr).filter(|f| !f.is_empty()) {
        let _ = write!(b, "<h3>node faults ({})</h3>", faults.len());
        json(b, &Json::Arr(faults.to_vec()), 0);
    }
    if let Some(c) = r.get("checker") {
        b.push_str("<h3>workload checker</h3>\n");
        json(b, c, 0);
    }
    // Whatever else a newer bench writes.
    const SHOWN: &[&str] = &[
        "valid",
        "aborted",
        "workload",
        "seed",
        "command",
        "availability",
        "availability_valid",
        "stats",
        "stats_valid",
        "net",
        "test_seconds",
        "wall_seconds",
        "trace_hash",
        "op_latencies_us",
        "partitions",
        "faults",
        "checker",
    ];
    if let Json::Obj(members) = r {
        let rest: Vec<(String, Json)> =
            members.iter().filter(|(k, _)| !SHOWN.contains(&k.as_str())).cloned().collect();
        if !rest.is_empty() {
            b.push_str("<h3>more</h3>\n");
            json(b, &Json::Obj(rest), 0);
        }
    }
}

/// Operations by function: counts from `stats`, latency quantiles from `op_latencies_us`.
fn ops_table(b: &mut String, r: &Json) {
    let stats = r.get("stats").and_then(Json::arr).unwrap_or(&[]);
    let lats = r.get("op_latencies_us").and_then(Json::arr).unwrap_or(&[]);
    let mut fs: Vec<&str> = Vec::new();
    for e in stats.iter().chain(lats) {
        if let Some(f) = e.arr().and_then(|a| a.first()).and_then(Json::str) {
            if !fs.contains(&f) {
                fs.push(f);
            }
        }
    }
    if fs.is_empty() {
        return;
    }
    let entry = |list: &'_ [Json], f: &str| -> Option<Json> {
        list.iter().find_map(|e| {
            let a = e.arr()?;
            (a.first()?.str()? == f).then(|| a.get(1).cloned())?
        })
    };
    let qs = [0.0, 0.5, 0.95, 0.99, 1.0];
    b.push_str(
        "<h3 class=\"first\">operations</h3><table class=\"grid\"><thead><tr><th>f</th><th class=\"num\">ok</th>\
         <th class=\"num\">fail</th><th class=\"num\">info</th>",
    );
    for name in ["min", "p50", "p95", "p99", "max"] {
        let _ = write!(b, "<th class=\"num\">{name}</th>");
    }
    b.push_str("</tr></thead><tbody>");
    for f in fs {
        let st = entry(stats, f);
        let c = |k: &str| st.as_ref().and_then(|s| s.get(k)).map(scalar).unwrap_or_default();
        let _ = write!(
            b,
            "<tr><th>{}</th><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>",
            Esc(f),
            c("ok_count"),
            c("fail_count"),
            c("info_count")
        );
        let lat = entry(lats, f);
        for q in qs {
            let ms = lat.as_ref().and_then(Json::arr).and_then(|ps| {
                ps.iter().find_map(|p| {
                    let p = p.arr()?;
                    (p.first()?.num()? == q).then(|| p.get(1)?.num())?
                })
            });
            let _ = write!(
                b,
                "<td class=\"num\">{}</td>",
                ms.map(|us| num(us / 1000.0)).unwrap_or_default()
            );
        }
        b.push_str("</tr>");
    }
    b.push_str("</tbody></table><p class=\"muted\">latencies of ok operations, in ms</p>\n");
}

/// A verdict value as a coloured badge.
fn badge(v: Option<&Json>) -> String {
    let word = match v {
        Some(Json::Bool(true)) => "valid",
        Some(Json::Bool(false)) => "invalid",
        Some(Json::Str(s)) if s == "true" => "valid",
        Some(Json::Str(s)) if s == "false" => "invalid",
        Some(Json::Str(s)) if s == "unknown" => "unknown",
        Some(other) => return Esc(&scalar(other)).to_string(),
        None => return String::new(),
    };
    format!("<span class=\"badge v-{word}\">{word}</span>")
}

/// A scalar's text (arrays and objects abbreviated); not escaped.
fn scalar(v: &Json) -> String {
    match v {
        Json::Null => "null".into(),
        Json::Bool(b) => b.to_string(),
        Json::Int(i) => i.to_string(),
        Json::Float(f) => num(*f),
        Json::Str(s) => s.clone(),
        Json::Arr(a) => format!("[{} items]", a.len()),
        Json::Obj(m) => format!("{{{} keys}}", m.len()),
    }
}

/// Items of an array shown before "and N more".
const MAX_ITEMS: usize = 50;
/// Characters of a string shown before "…".
const MAX_CHARS: usize = 2_000;
/// Nesting shown before values are abbreviated.
const MAX_DEPTH: usize = 6;

/// Renders any JSON value readably: objects as key tables, short arrays of scalars inline,
/// other arrays as lists; long arrays and strings and deep nesting abbreviated.
fn json(b: &mut String, v: &Json, depth: usize) {
    let is_scalar = |v: &Json| !matches!(v, Json::Arr(_) | Json::Obj(_));
    match v {
        Json::Obj(m) if depth < MAX_DEPTH => {
            if m.is_empty() {
                b.push_str("<span class=\"muted\">{}</span>");
                return;
            }
            b.push_str("<table class=\"kv\"><tbody>");
            for (k, v) in m {
                let _ = write!(b, "<tr><th>{}</th><td>", Esc(k));
                if k == "valid" || k.ends_with("_valid") {
                    b.push_str(&badge(Some(v)));
                } else {
                    json(b, v, depth + 1);
                }
                b.push_str("</td></tr>");
            }
            b.push_str("</tbody></table>");
        }
        Json::Arr(a) if depth < MAX_DEPTH => {
            if a.is_empty() {
                b.push_str("<span class=\"muted\">none</span>");
            } else if a.iter().all(is_scalar)
                || a.iter()
                    .all(|x| x.arr().is_some_and(|i| i.len() <= 4 && i.iter().all(is_scalar)))
            {
                let items: Vec<String> = a
                    .iter()
                    .take(MAX_ITEMS)
                    .map(|x| match x {
                        Json::Arr(i) => format!(
                            "[{}]",
                            i.iter()
                                .map(|y| Esc(&clip(&scalar(y))).to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        y => Esc(&clip(&scalar(y))).to_string(),
                    })
                    .collect();
                let _ = write!(b, "<span class=\"inline\">{}</span>", items.join(", "));
                if a.len() > MAX_ITEMS {
                    let _ =
                        write!(b, " <span class=\"muted\">and {} more</span>", a.len() - MAX_ITEMS);
                }
            } else {
                b.push_str("<ol class=\"items\">");
                for x in a.iter().take(MAX_ITEMS) {
                    b.push_str("<li>");
                    json(b, x, depth + 1);
                    b.push_str("</li>");
                }
                b.push_str("</ol>");
                if a.len() > MAX_ITEMS {
                    let _ = write!(b, "<p class=\"muted\">and {} more</p>", a.len() - MAX_ITEMS);
                }
            }
        }
        other => {
            let _ = write!(b, "{}", Esc(&clip(&scalar(other))));
        }
    }
}

fn clip(s: &str) -> String {
    if s.chars().count() <= MAX_CHARS {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(MAX_CHARS).collect();
    t.push('…');
    t
}

/// A directory listing (for `/files/<dir>`).
pub fn dir_page(rel: &Path, entries: &[(String, bool, u64)], truncated: bool) -> String {
    let mut b = String::new();
    b.push_str("<p class=\"crumbs\"><a href=\"/\">runs</a>");
    let mut acc = std::path::PathBuf::new();
    for c in rel.components() {
        acc.push(c);
        let _ = write!(
            b,
            " / <a href=\"{}\">{}</a>",
            Esc(&file_url(&acc)),
            Esc(&c.as_os_str().to_string_lossy())
        );
    }
    b.push_str("</p>\n");
    let _ = writeln!(b, "<h1>{}</h1>", Esc(&format!("store/{}", rel.display())));
    b.push_str("<table class=\"files\"><tbody>");
    for (name, is_dir, len) in entries {
        let url = file_url(&rel.join(name));
        let _ = write!(
            b,
            "<tr><td><a href=\"{}\">{}{}</a></td><td class=\"num\">{}</td></tr>",
            Esc(&url),
            Esc(name),
            if *is_dir { "/" } else { "" },
            if *is_dir { String::new() } else { size(*len) }
        );
    }
    b.push_str("</tbody></table>\n");
    if truncated {
        let _ = writeln!(
            b,
            "<p class=\"muted\">only the first {} entries are listed</p>",
            entries.len()
        );
    }
    page(&format!("store/{}", rel.display()), &b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            Esc("<script>alert('x')</script> & \"y\"").to_string(),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
        assert_eq!(Esc("a\u{0}b\tc").to_string(), "a\u{fffd}b\tc");
        assert_eq!(Esc("café ✓").to_string(), "café ✓");
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(num(3.0), "3");
        assert_eq!(num(0.8679245283018868), "0.8679");
        assert_eq!(num(1.5), "1.5");
        assert_eq!(size(0), "0 B");
        assert_eq!(size(2048), "2.0 KiB");
    }

    #[test]
    fn index_urls_encode_filters() {
        assert_eq!(index_url(None, None, 0), "/");
        assert_eq!(
            index_url(Some("a&b"), Some(Verdict::Invalid), 2),
            "/?workload=a%26b&verdict=invalid&page=2"
        );
    }
}
