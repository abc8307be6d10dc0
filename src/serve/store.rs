//! Store scanning: finds the runs under `store/<workload>/<time>/`, sums each one up from its
//! `results.json` (cached by file size and modification time), and lists and classifies a
//! run's files.
//!
//! Nothing here trusts the store: a run directory without `results.json`, or with one that is
//! truncated, unparsable, too big or of the wrong shape, becomes a summary that says so
//! ([`Verdict::Incomplete`], [`Verdict::Malformed`]) instead of an error. Every walk is
//! bounded ([`MAX_RUNS`], [`MAX_FILES`], [`MAX_RESULTS_BYTES`]).

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// Most run directories one scan looks at; past it the index says it was cut short.
pub const MAX_RUNS: usize = 100_000;
/// Most files listed for one run (recursively).
pub const MAX_FILES: usize = 2_000;
/// Largest `results.json` read; a bigger one is summed up as malformed ("too big").
pub const MAX_RESULTS_BYTES: u64 = 64 << 20;
/// Most summaries kept in memory; when full, the cache is emptied and refilled.
const MAX_CACHED: usize = 200_000;

/// A parsed JSON value, in document order (what the pages render).
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// An integer.
    Int(i128),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Json>),
    /// An object, members in order.
    Obj(Vec<(String, Json)>),
}

impl Json {
    /// Parses JSON text.
    pub fn parse(mut bytes: Vec<u8>) -> Result<Json, String> {
        let v = simd_json::to_owned_value(&mut bytes).map_err(|e| e.to_string())?;
        Ok(Json::from_simd(v))
    }

    fn from_simd(v: simd_json::OwnedValue) -> Json {
        use simd_json::{OwnedValue as V, StaticNode as S};
        match v {
            V::Static(S::Null) => Json::Null,
            V::Static(S::Bool(b)) => Json::Bool(b),
            V::Static(S::I64(i)) => Json::Int(i.into()),
            V::Static(S::U64(u)) => Json::Int(u.into()),
            V::Static(S::F64(f)) => Json::Float(f),
            V::String(s) => Json::Str(s),
            V::Array(a) => Json::Arr(a.into_iter().map(Json::from_simd).collect()),
            V::Object(o) => {
                Json::Obj(o.into_iter().map(|(k, v)| (k, Json::from_simd(v))).collect())
            }
        }
    }

    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A string's text.
    pub fn str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A number as f64.
    pub fn num(&self) -> Option<f64> {
        match self {
            Json::Int(i) => Some(*i as f64),
            Json::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// An array's items.
    pub fn arr(&self) -> Option<&[Json]> {
        match self {
            Json::Arr(a) => Some(a),
            _ => None,
        }
    }
}

/// A run's verdict as the index shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// `valid: true`
    Valid,
    /// `valid: unknown`
    Unknown,
    /// `valid: false`
    Invalid,
    /// No `results.json` (the run was interrupted, or is still being written).
    Incomplete,
    /// A `results.json` that cannot be read as our results (truncated, not JSON, ...).
    Malformed,
}

impl Verdict {
    /// All verdicts, in the order the index lists them.
    pub const ALL: [Verdict; 5] = [
        Verdict::Valid,
        Verdict::Unknown,
        Verdict::Invalid,
        Verdict::Incomplete,
        Verdict::Malformed,
    ];

    /// The word used in pages, URLs and CSS classes.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Unknown => "unknown",
            Verdict::Invalid => "invalid",
            Verdict::Incomplete => "incomplete",
            Verdict::Malformed => "malformed",
        }
    }

    /// The verdict named `w` (see [`Verdict::word`]).
    pub fn from_word(w: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.word() == w)
    }

    fn from_results(v: Option<&Json>) -> Option<Verdict> {
        match v? {
            Json::Bool(true) => Some(Verdict::Valid),
            Json::Bool(false) => Some(Verdict::Invalid),
            Json::Str(s) => match s.as_str() {
                "true" => Some(Verdict::Valid),
                "false" => Some(Verdict::Invalid),
                "unknown" => Some(Verdict::Unknown),
                _ => None,
            },
            _ => None,
        }
    }
}

/// One run directory, `store/<workload>/<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRef {
    /// The workload directory's name.
    pub workload: String,
    /// The run directory's name (its start time, `YYYYMMDDTHHMMSS.mmmZ`).
    pub name: String,
}

impl RunRef {
    /// The run's path relative to the store.
    pub fn rel(&self) -> PathBuf {
        Path::new(&self.workload).join(&self.name)
    }

    /// The start time from the directory name, `YYYY-MM-DD HH:MM:SS.mmm` (UTC), or the name
    /// itself when it is not a timestamp.
    pub fn time(&self) -> String {
        pretty_time(&self.name).unwrap_or_else(|| self.name.clone())
    }
}

/// `20260101T120000.123Z[-n]` as `2026-01-01 12:00:00.123`.
fn pretty_time(name: &str) -> Option<String> {
    let b = name.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r.clone()).filter(|d| d.iter().all(u8::is_ascii_digit)).map(|_| &name[r])
    };
    if b.get(8) != Some(&b'T') || b.get(15) != Some(&b'.') || b.get(19) != Some(&b'Z') {
        return None;
    }
    Some(format!(
        "{}-{}-{} {}:{}:{}.{}{}",
        digits(0..4)?,
        digits(4..6)?,
        digits(6..8)?,
        digits(9..11)?,
        digits(11..13)?,
        digits(13..15)?,
        digits(16..19)?,
        &name[20..]
    ))
}

/// The index's view of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The verdict.
    pub verdict: Verdict,
    /// Why an incomplete or malformed run is so.
    pub problem: Option<String>,
    /// Nodes in the run (from the command's `--node-count`, else the node logs).
    pub nodes: Option<usize>,
    /// Servers msgs-per-op.
    pub msgs_per_op: Option<f64>,
    /// The busiest function's latency: (f, p50 ms, p99 ms).
    pub latency: Option<(String, f64, f64)>,
    /// Seconds of test time.
    pub test_seconds: Option<f64>,
    /// The seed.
    pub seed: Option<u64>,
    /// Why the test aborted, if it did.
    pub aborted: Option<String>,
    /// Whether `glomers check` wrote it: a stored history judged again, not a run.
    pub checked: bool,
}

impl Summary {
    fn problem(verdict: Verdict, why: impl Into<String>, nodes: Option<usize>) -> Summary {
        Summary {
            verdict,
            problem: Some(why.into()),
            nodes,
            msgs_per_op: None,
            latency: None,
            test_seconds: None,
            seed: None,
            aborted: None,
            checked: false,
        }
    }

    /// Sums up parsed results; `node_logs` is the fallback node count.
    pub fn from_results(r: &Json, node_logs: Option<usize>) -> Summary {
        let Some(verdict) = Verdict::from_results(r.get("valid")) else {
            return Summary::problem(
                Verdict::Malformed,
                "results.json has no `valid` of true, false or \"unknown\"",
                node_logs,
            );
        };
        let command = r.get("command").and_then(Json::str);
        Summary {
            verdict,
            problem: None,
            nodes: command.and_then(nodes_from_command).or(node_logs),
            msgs_per_op: r
                .get("net")
                .and_then(|n| n.get("servers_msgs_per_op"))
                .and_then(Json::num),
            latency: busiest_latency(r),
            test_seconds: r.get("test_seconds").and_then(Json::num),
            seed: r.get("seed").and_then(|s| match s {
                Json::Int(i) => u64::try_from(*i).ok(),
                _ => None,
            }),
            aborted: r.get("aborted").and_then(Json::str).map(str::to_owned),
            checked: command.is_some_and(|c| c.split_whitespace().nth(1) == Some("check")),
        }
    }
}

/// The node count a `glomers test` command line asks for: `--node-count N`, or Maelstrom's
/// five without it.
pub fn nodes_from_command(cmd: &str) -> Option<usize> {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    if !words.contains(&"test") {
        return None;
    }
    match words.iter().position(|w| *w == "--node-count") {
        Some(i) => words.get(i + 1)?.parse().ok(),
        None => Some(5),
    }
}

/// p50 and p99 (ms) of the function with the most ok operations.
fn busiest_latency(r: &Json) -> Option<(String, f64, f64)> {
    let lat = r.get("op_latencies_us")?.arr()?;
    let ok_count = |f: &str| -> f64 {
        r.get("stats")
            .and_then(Json::arr)
            .and_then(|s| {
                s.iter().find_map(|e| {
                    let e = e.arr()?;
                    (e.first()?.str()? == f).then(|| e.get(1)?.get("ok_count")?.num())?
                })
            })
            .unwrap_or(0.0)
    };
    let mut best: Option<(String, f64, f64, f64)> = None;
    for entry in lat {
        let Some([f, qs]) = entry.arr() else { continue };
        let (Some(f), Some(qs)) = (f.str(), qs.arr()) else { continue };
        let q = |want: f64| {
            qs.iter().find_map(|p| {
                let p = p.arr()?;
                (p.first()?.num()? == want).then(|| p.get(1)?.num())?
            })
        };
        let (Some(p50), Some(p99)) = (q(0.5), q(0.99)) else { continue };
        let n = ok_count(f);
        if best.as_ref().is_none_or(|b| n > b.3) {
            best = Some((f.to_owned(), p50 / 1000.0, p99 / 1000.0, n));
        }
    }
    best.map(|(f, a, b, _)| (f, a, b))
}

/// How `results.json` of a run reads.
pub enum Results {
    /// Parsed.
    Ok(Json),
    /// Not there.
    Missing,
    /// There but unusable, and why.
    Bad(String),
}

/// Reads and parses a run's `results.json`, bounded by [`MAX_RESULTS_BYTES`].
pub fn read_results(dir: &Path) -> Results {
    let path = dir.join("results.json");
    let file = match fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Results::Missing,
        Err(e) => return Results::Bad(format!("cannot read results.json: {e}")),
    };
    let mut bytes = Vec::new();
    if let Err(e) = file.take(MAX_RESULTS_BYTES + 1).read_to_end(&mut bytes) {
        return Results::Bad(format!("cannot read results.json: {e}"));
    }
    if bytes.len() as u64 > MAX_RESULTS_BYTES {
        return Results::Bad(format!("results.json is over {} MiB", MAX_RESULTS_BYTES >> 20));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Results::Bad("results.json is empty (still being written?)".into());
    }
    match Json::parse(bytes) {
        Ok(j @ Json::Obj(_)) => Results::Ok(j),
        Ok(_) => Results::Bad("results.json is not a JSON object".into()),
        Err(e) => Results::Bad(format!("results.json does not parse (truncated?): {e}")),
    }
}

/// Counts `node-logs/*.log` of a run, if the folder is there.
fn count_node_logs(dir: &Path) -> Option<usize> {
    let n = fs::read_dir(dir.join("node-logs"))
        .ok()?
        .take(MAX_FILES)
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
        .count();
    (n > 0).then_some(n)
}

/// Every run the store holds, newest first.
pub struct Scan {
    /// The runs, newest first (by directory name, then workload).
    pub runs: Vec<RunRef>,
    /// Whether [`MAX_RUNS`] cut the scan short.
    pub truncated: bool,
}

type CacheEntry = (SystemTime, u64, Arc<Summary>);

/// The results store being served.
pub struct Store {
    root: PathBuf,
    cache: Mutex<HashMap<PathBuf, CacheEntry>>,
}

/// Names of the real (not symlinked), non-hidden, UTF-8-named directories in `dir`.
fn subdirs(dir: &Path, budget: &mut usize) -> Vec<String> {
    let Ok(rd) = fs::read_dir(dir) else { return Vec::new() };
    let mut out = Vec::new();
    for e in rd.filter_map(Result::ok) {
        if *budget == 0 {
            break;
        }
        let Ok(name) = e.file_name().into_string() else { continue };
        if name.starts_with('.') {
            continue;
        }
        // `file_type` does not follow symlinks, so `latest` is left out.
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            *budget -= 1;
            out.push(name);
        }
    }
    out
}

impl Store {
    /// Serves the store at `root`, which must be canonical (absolute, no symlinks).
    pub fn new(root: PathBuf) -> Store {
        Store { root, cache: Mutex::new(HashMap::new()) }
    }

    /// The store's canonical root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Lists every run, newest first.
    pub fn scan(&self) -> Scan {
        let mut budget = MAX_RUNS + 1;
        let mut runs = Vec::new();
        let mut workload_budget = 10_000;
        for w in subdirs(&self.root, &mut workload_budget) {
            for name in subdirs(&self.root.join(&w), &mut budget) {
                runs.push(RunRef { workload: w.clone(), name });
            }
        }
        let truncated = runs.len() > MAX_RUNS;
        runs.truncate(MAX_RUNS);
        runs.sort_by(|a, b| b.name.cmp(&a.name).then_with(|| a.workload.cmp(&b.workload)));
        Scan { runs, truncated }
    }

    /// Sums up one run (cached while its `results.json` keeps its size and mtime).
    pub fn summary(&self, run: &RunRef) -> Arc<Summary> {
        let dir = self.root.join(run.rel());
        let results = dir.join("results.json");
        let stamp = fs::metadata(&results)
            .ok()
            .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()));
        if let Some((mtime, len)) = stamp {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((t, l, s)) = cache.get(&results) {
                if (*t, *l) == (mtime, len) {
                    return s.clone();
                }
            }
        }
        let node_logs = count_node_logs(&dir);
        let summary = Arc::new(match read_results(&dir) {
            Results::Ok(j) => Summary::from_results(&j, node_logs),
            Results::Missing => Summary::problem(
                Verdict::Incomplete,
                "no results.json: the run was interrupted, or is still running",
                node_logs,
            ),
            Results::Bad(why) => Summary::problem(Verdict::Malformed, why, node_logs),
        });
        if let Some((mtime, len)) = stamp {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
            cache.insert(results, (mtime, len, summary.clone()));
        }
        summary
    }
}

/// What a file in a run directory is, for its place on the run page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// `results.json`, `results.edn`.
    Results,
    /// An SVG plot (`latency-raw.svg`, `latency-quantiles.svg`, `rate.svg`, `latency.svg`, ...).
    Plot,
    /// `messages.svg`, the space-time diagram.
    Diagram,
    /// `timeline.html`.
    Timeline,
    /// `history.txt`, `history.edn`, `history.jsonl`.
    History,
    /// `node-logs/*`.
    NodeLog,
    /// Other `*.log` files (`net.log`).
    Log,
    /// Anything else.
    Other,
}

/// Known plots, in the order the run page shows them; other SVGs follow by name.
pub const PLOT_ORDER: &[&str] =
    &["latency-raw.svg", "latency-quantiles.svg", "rate.svg", "latency.svg"];

/// Classifies a file by its path relative to the run directory.
pub fn kind_of(rel: &Path) -> Kind {
    let name = rel.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let top = rel.components().count() == 1;
    if rel.starts_with("node-logs") {
        return Kind::NodeLog;
    }
    if !top {
        return Kind::Other;
    }
    match &*name {
        "results.json" | "results.edn" => Kind::Results,
        "messages.svg" => Kind::Diagram,
        "timeline.html" => Kind::Timeline,
        "history.txt" | "history.edn" | "history.jsonl" => Kind::History,
        n if n.ends_with(".svg") => Kind::Plot,
        n if n.ends_with(".log") => Kind::Log,
        _ => Kind::Other,
    }
}

/// A file of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFile {
    /// Its path relative to the run directory.
    pub rel: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// What it is.
    pub kind: Kind,
}

/// Lists a run's regular files (recursively, symlinks left out, at most [`MAX_FILES`]),
/// sorted by path; the flag says whether the limit cut the list short.
pub fn run_files(dir: &Path) -> (Vec<RunFile>, bool) {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    let mut truncated = false;
    while let Some(rel) = stack.pop() {
        let Ok(rd) = fs::read_dir(dir.join(&rel)) else { continue };
        for e in rd.filter_map(Result::ok) {
            let Ok(name) = e.file_name().into_string() else { continue };
            if name.starts_with('.') {
                continue;
            }
            let Ok(t) = e.file_type() else { continue };
            let child = rel.join(&name);
            if t.is_dir() && child.components().count() < 4 {
                stack.push(child);
            } else if t.is_file() {
                if out.len() == MAX_FILES {
                    truncated = true;
                    break;
                }
                let size = e.metadata().map(|m| m.len()).unwrap_or(0);
                out.push(RunFile { kind: kind_of(&child), rel: child, size });
            }
        }
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    (out, truncated)
}

/// Up to `max_bytes` from the start of a file, cut at the last whole line.
pub fn head_lines(path: &Path, max_bytes: u64, max_lines: usize) -> Option<(String, bool)> {
    let f = fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let mut buf = Vec::new();
    f.take(max_bytes).read_to_end(&mut buf).ok()?;
    let mut more = len > buf.len() as u64;
    if more {
        match buf.iter().rposition(|&b| b == b'\n') {
            Some(i) => buf.truncate(i + 1),
            None => buf.clear(),
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    more |= lines.len() > max_lines;
    Some((lines.into_iter().take(max_lines).collect::<Vec<_>>().join("\n"), more))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_from_names() {
        let r = |n: &str| RunRef { workload: "echo".into(), name: n.into() }.time();
        assert_eq!(r("20261205T175837.591Z"), "2026-12-05 17:58:37.591");
        assert_eq!(r("20261205T175837.591Z-2"), "2026-12-05 17:58:37.591-2");
        assert_eq!(r("my-run"), "my-run");
        assert_eq!(r("2026120xT175837.591Z"), "2026120xT175837.591Z");
    }

    #[test]
    fn node_counts_read_from_commands() {
        assert_eq!(nodes_from_command("cargo run --release -- test -w echo --seed 0"), Some(5));
        assert_eq!(nodes_from_command("glomers test -w broadcast --node-count 25"), Some(25));
        assert_eq!(nodes_from_command("glomers test --node-count x"), None);
        assert_eq!(nodes_from_command("something else"), None);
    }

    #[test]
    fn summaries_read_results() {
        let j = Json::parse(
            br#"{"valid":"false","command":"glomers test -w broadcast --node-count 3",
               "stats":[["read",{"ok_count":2}],["broadcast",{"ok_count":9}]],
               "net":{"servers_msgs_per_op":4.5},
               "op_latencies_us":[["read",[[0.5,100],[0.99,200]]],["broadcast",[[0.5,1500],[0.99,9000]]]],
               "test_seconds":2.0,"seed":7,"aborted":null}"#
                .to_vec(),
        )
        .unwrap();
        let s = Summary::from_results(&j, None);
        assert_eq!(s.verdict, Verdict::Invalid);
        assert_eq!(s.nodes, Some(3));
        assert_eq!(s.msgs_per_op, Some(4.5));
        assert_eq!(s.latency, Some(("broadcast".into(), 1.5, 9.0)));
        assert_eq!(s.seed, Some(7));
        let odd = Json::parse(br#"{"valid":"maybe"}"#.to_vec()).unwrap();
        assert_eq!(Summary::from_results(&odd, Some(2)).verdict, Verdict::Malformed);
    }

    #[test]
    fn files_are_classified() {
        let k = |p: &str| kind_of(Path::new(p));
        assert_eq!(k("results.json"), Kind::Results);
        assert_eq!(k("results.edn"), Kind::Results);
        assert_eq!(k("messages.svg"), Kind::Diagram);
        assert_eq!(k("timeline.html"), Kind::Timeline);
        assert_eq!(k("rate.svg"), Kind::Plot);
        assert_eq!(k("latency.svg"), Kind::Plot);
        assert_eq!(k("history.txt"), Kind::History);
        assert_eq!(k("history.jsonl"), Kind::History);
        assert_eq!(k("node-logs/n1.log"), Kind::NodeLog);
        assert_eq!(k("net.log"), Kind::Log);
        assert_eq!(k("x/messages.svg"), Kind::Other);
        assert_eq!(k("core"), Kind::Other);
    }
}
