//! `glomers check`: judges a stored history again, without running anything, with the same
//! checker, report and exit status as `glomers test`.
//!
//! It reads Maelstrom's `store/<test>/<time>/history.edn` (Jepsen 0.3.7 prints one op map per
//! line: `{:index 0, :time 12345, :type :invoke, :process 0, :f :read, :value nil}`, with
//! `:error`, `:final?` and other keys when set; a `#jepsen.history.Op{...}` or
//! `#knossos.op.Op{...}` record is read the same), a Jepsen history written as one EDN vector
//! or list of op maps (as Knossos's test data are; `:index` and `:time` may be missing, `nil`,
//! or Jepsen's `-1` for no time), and our own `history.jsonl`. Ops of processes that are not
//! integers (`:nemesis`) are counted and skipped; every client op becomes an entry of a
//! [`History`] through the workload's [`values::HistoryFormat`].
//!
//! Bad input is an error naming the line and what was wrong, never a verdict: text that is
//! not EDN (or JSON), an op without `:type`, `:process` or `:f`, an unknown `:type` or `:f`,
//! a completion without its invocation (or of another `:f`), an invocation while the
//! process's last one is still open, `:index` going backwards, `:time` on some ops only, and
//! values of the wrong shape.

pub mod values;

use std::path::{Path, PathBuf};
use std::time::Instant;

use hashbrown::HashMap;

use self::values::HistoryFormat;
use super::history::{History, Op, OpType};
use super::opts::{TestOpts, UsageError};
use super::report::{self, HistorySource, Outcome};
use crate::edn::{Edn, Reader, line_col};

/// The largest history file read (the whole file is held in memory while it is read).
pub const MAX_FILE_BYTES: u64 = 4 << 30;

/// How the file is written.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Format {
    /// EDN: op maps one after another (`history.edn`), or one vector or list of them.
    Edn,
    /// Our `history.jsonl`: one JSON object per line.
    Jsonl,
}

/// The options of `glomers check`.
#[derive(Clone, Debug)]
pub struct CheckOpts {
    /// The workload, checker options (`--consistency-models`, `--availability`) and where
    /// to store results (`--store`; by default nothing is written).
    pub test: TestOpts,
    /// The history file.
    pub file: PathBuf,
    /// `--format`; by default `.jsonl` files are JSON lines and everything else EDN.
    pub format: Option<Format>,
    /// `--initial-value V` (lin-kv): the value every key starts at, as EDN text; nil, as in
    /// Maelstrom, without it.
    pub initial_value: Option<String>,
}

impl CheckOpts {
    /// Parses the words after `glomers check`.
    pub fn parse(args: &[String]) -> Result<CheckOpts, UsageError> {
        let err = |s: String| Err(UsageError(s));
        let mut pass: Vec<String> = Vec::new();
        let mut file = None;
        let mut format = None;
        let mut store = None;
        let mut initial_value = None;
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
                _ => (arg.as_str(), None),
            };
            let mut value = || inline.clone().or_else(|| it.next().cloned());
            match flag {
                "-w"
                | "--workload"
                | "--consistency-models"
                | "--availability"
                | "--search-budget" => {
                    let Some(v) = value() else { return err(format!("{flag} needs a value")) };
                    pass.push(flag.to_owned());
                    pass.push(v);
                }
                "--store" => match value() {
                    Some(v) => store = Some(PathBuf::from(v)),
                    None => return err("--store needs a value".into()),
                },
                "--no-store" => store = None,
                "--initial-value" => match value() {
                    Some(v) => match crate::edn::read_one(&v) {
                        Ok(e) if values::initial_value(&e).is_ok() => initial_value = Some(v),
                        _ => {
                            return err(format!(
                                "--initial-value: `{v}` is not nil, an integer or a JSON value"
                            ));
                        }
                    },
                    None => return err("--initial-value needs a value".into()),
                },
                "--format" => {
                    format = match value().as_deref() {
                        Some("edn") => Some(Format::Edn),
                        Some("jsonl") => Some(Format::Jsonl),
                        v => {
                            return err(format!(
                                "--format: `{}` is not edn or jsonl",
                                v.unwrap_or("")
                            ));
                        }
                    }
                }
                f if f.starts_with('-') && f.len() > 1 => {
                    return err(format!(
                        "{f} does not apply to a stored history (check takes -w, \
                         --consistency-models, --availability, --search-budget, --initial-value, \
                         --format, --store)"
                    ));
                }
                _ if file.is_some() => {
                    return err(format!("one history file, please (also got `{arg}`)"));
                }
                _ => file = Some(PathBuf::from(arg)),
            }
        }
        if !pass.iter().any(|a| a == "-w" || a == "--workload") {
            return err("-w WORKLOAD is required".into());
        }
        let Some(file) = file else { return err("which history file?".into()) };
        let mut test = TestOpts::parse(&pass)?;
        test.store = store;
        if initial_value.is_some() && test.workload != "lin-kv" {
            return err("--initial-value is for lin-kv histories".into());
        }
        Ok(CheckOpts { test, file, format, initial_value })
    }

    /// The command line that judges this history again.
    pub fn command_line(&self) -> String {
        let mut s = format!("glomers check -w {}", self.test.workload);
        if self.test.consistency_models != ["strict-serializable"] {
            s += &format!(" --consistency-models {}", self.test.consistency_models.join(","));
        }
        if let Some(b) = self.test.search_budget {
            s += &format!(" --search-budget {b}");
        }
        if let Some(v) = &self.initial_value {
            s += &format!(" --initial-value {v}");
        }
        match self.test.availability {
            None => {}
            Some(super::opts::Availability::Total) => s += " --availability total",
            Some(super::opts::Availability::Fraction(f)) => s += &format!(" --availability {f}"),
        }
        s + &format!(" {}", self.file.display())
    }
}

/// One client operation as stored, before its value is interpreted.
pub struct RawOp<'h, 'a> {
    /// Invocation or completion.
    pub kind: OpType,
    /// The process.
    pub process: usize,
    /// `:value` (`nil` when missing).
    pub value: &'h Edn<'a>,
    /// The whole op map, for other keys (kafka's `:seek-to-beginning?`).
    pub map: &'h Edn<'a>,
    /// Read from our `history.jsonl` (values in its JSON shapes) rather than EDN.
    pub json: bool,
}

impl<'a> RawOp<'_, 'a> {
    /// Another key of the op map.
    pub fn get(&self, key: &str) -> Option<&Edn<'a>> {
        self.map.get(key)
    }
}

/// Runs `glomers check`: reads the file and judges it. Errors are bad input (exit 255).
pub fn run(opts: &CheckOpts) -> Result<Outcome, String> {
    use super::workloads::*;
    let wall = Instant::now();
    let t = &opts.test;
    if !super::WORKLOADS.contains(&t.workload.as_str()) {
        return Err(format!(
            "unknown workload `{}`; check knows {}",
            t.workload,
            super::WORKLOADS.join(", ")
        ));
    }
    let text = read_file(&opts.file)?;
    match t.workload.as_str() {
        "echo" => judge(opts, &echo::EchoClient, &text, wall),
        "unique-ids" => judge(opts, &unique_ids::UniqueIdsClient, &text, wall),
        "broadcast" => judge(opts, &broadcast::BroadcastClient::default(), &text, wall),
        "g-counter" => judge(opts, &g_counter::GCounterClient::default(), &text, wall),
        "pn-counter" => judge(opts, &pn_counter::PnCounterClient::default(), &text, wall),
        "g-set" => judge(opts, &g_set::GSetClient::default(), &text, wall),
        "kafka" => judge(opts, &kafka::KafkaClient::new(t), &text, wall),
        "txn-rw-register" => judge(opts, &txn::TxnClient::new(t), &text, wall),
        "txn-list-append" => judge(opts, &list_append::ListAppendClient::new(t), &text, wall),
        "lin-kv" => {
            let initial = match &opts.initial_value {
                None => None,
                Some(v) => {
                    let e = crate::edn::read_one(v).map_err(|e| format!("--initial-value: {e}"))?;
                    values::initial_value(&e)?
                }
            };
            judge(opts, &lin_kv::LinKvClient::new(t).with_initial(initial), &text, wall)
        }
        w => Err(format!("no history format for `{w}` yet")),
    }
}

fn read_file(path: &Path) -> Result<String, String> {
    let name = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {name}: {e}"))?;
    if meta.is_dir() {
        return Err(format!("{name} is a directory; give its history.edn or history.jsonl"));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!("{name} has {} bytes; the limit is {MAX_FILE_BYTES}", meta.len()));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {name}: {e}"))?;
    String::from_utf8(bytes).map_err(|e| {
        let pos = e.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(&e.as_bytes()[..pos]);
        let (line, col) = line_col(&text, pos);
        format!("{name}: line {line}, column {col}: not UTF-8 text")
    })
}

fn judge<W: HistoryFormat>(
    opts: &CheckOpts,
    workload: &W,
    text: &str,
    wall: Instant,
) -> Result<Outcome, String>
where
    W::Value: Send + Sync + 'static,
{
    let name = opts.file.display().to_string();
    let format = opts.format.unwrap_or(if opts.file.extension().is_some_and(|e| e == "jsonl") {
        Format::Jsonl
    } else {
        Format::Edn
    });
    let (history, mut source) = match format {
        Format::Edn => read_edn(workload, text),
        Format::Jsonl => read_jsonl(workload, text),
    }
    .map_err(|e| format!("{name}: {e}"))?;
    source.file = name;
    source.command = opts.command_line();
    source.read_seconds = wall.elapsed().as_secs_f64();
    Ok(report::judge_history(&opts.test, workload, history, &source, wall.elapsed()))
}

/// Reads an EDN history: op maps one after another, or one vector or list of them.
pub fn read_edn<W: HistoryFormat>(
    workload: &W,
    text: &str,
) -> Result<(History<W::Value>, HistorySource), String> {
    let mut r = Reader::new(text);
    let here = |e: crate::edn::Error| format!("{e} (not EDN)");
    let close = r.enter_seq().map_err(here)?;
    let mut b = Builder::new(workload, text, close.is_some(), false);
    loop {
        r.skip_blank().map_err(here)?;
        let pos = r.pos();
        let next = match close {
            Some(c) => r.next_in_seq(c),
            None => r.next_value(),
        }
        .map_err(here)?;
        let Some(v) = next else { break };
        b.op(pos, &v)?;
    }
    if close.is_some() {
        if let Some(v) = r.next_value().map_err(here)? {
            return Err(format!(
                "{}: {} after the history's closing bracket",
                b.at(r.pos()),
                v.brief(40)
            ));
        }
    }
    b.finish()
}

/// Reads our `history.jsonl`: one JSON object per line.
pub fn read_jsonl<W: HistoryFormat>(
    workload: &W,
    text: &str,
) -> Result<(History<W::Value>, HistorySource), String> {
    let mut b = Builder::new(workload, text, false, true);
    let mut pos = 0;
    let mut buf = Vec::new();
    for line in text.split_inclusive('\n') {
        let at = pos;
        pos += line.len();
        if line.trim().is_empty() {
            continue;
        }
        buf.clear();
        buf.extend_from_slice(line.as_bytes());
        let tape =
            simd_json::to_tape(&mut buf).map_err(|e| format!("{}: not JSON ({e})", b.at(at)))?;
        let v = crate::proto::Val::new(&tape.0).ok_or_else(|| format!("{}: not JSON", b.at(at)))?;
        b.op(at, &Edn::from_json(v))?;
    }
    b.finish()
}

/// Turns op maps into history entries, checking them as it goes.
struct Builder<'w, 't, W: HistoryFormat> {
    workload: &'w W,
    text: &'t str,
    one_collection: bool,
    json: bool,
    history: History<W::Value>,
    /// Open invocation of each process: its `:f` and where it was.
    open: HashMap<usize, (&'static str, usize)>,
    processes: hashbrown::HashSet<usize>,
    skipped: Vec<(String, usize)>,
    last_index: Option<(i64, usize)>,
    /// Whether ops have `:time` (decided by the first client op).
    timed: Option<bool>,
    /// The value shape of the first op that has one, and where it was.
    shape: Option<(&'static str, usize)>,
    renumbered: bool,
    indexed: bool,
    max_element: Option<(u64, usize)>,
}

/// The keys of an op map the reader looks at.
#[derive(Default)]
struct Keys<'h, 'a> {
    index: Option<&'h Edn<'a>>,
    time: Option<&'h Edn<'a>>,
    kind: Option<&'h Edn<'a>>,
    process: Option<&'h Edn<'a>>,
    f: Option<&'h Edn<'a>>,
    value: Option<&'h Edn<'a>>,
    error: Option<&'h Edn<'a>>,
    is_final: Option<&'h Edn<'a>>,
}

impl<'w, 't, W: HistoryFormat> Builder<'w, 't, W> {
    fn new(workload: &'w W, text: &'t str, one_collection: bool, json: bool) -> Self {
        Builder {
            workload,
            text,
            one_collection,
            json,
            history: History::default(),
            open: HashMap::new(),
            processes: hashbrown::HashSet::new(),
            skipped: Vec::new(),
            last_index: None,
            timed: None,
            shape: None,
            renumbered: false,
            indexed: false,
            max_element: None,
        }
    }

    /// "line N" for byte offset `pos`.
    fn at(&self, pos: usize) -> String {
        format!("line {}", line_col(self.text, pos).0)
    }

    fn op<'h, 'a>(&mut self, pos: usize, v: &'h Edn<'a>) -> Result<(), String> {
        let text = self.text;
        let err = |msg: String| format!("line {}: {msg}", line_col(text, pos).0);
        let map = match v {
            Edn::Tagged("jepsen.history.Op" | "knossos.op.Op", inner) => &**inner,
            v => v,
        };
        let Edn::Map(pairs) = map else {
            return Err(err(format!("expected an operation map, found {}", v.brief(80))));
        };
        let mut k = Keys::default();
        for (key, val) in pairs {
            let name = match (key, self.json) {
                (Edn::Keyword(n), false) => *n,
                (Edn::Str(n), true) => n,
                _ => continue,
            };
            let slot = match name {
                "index" => &mut k.index,
                "time" => &mut k.time,
                "type" => &mut k.kind,
                "process" => &mut k.process,
                "f" => &mut k.f,
                "value" => &mut k.value,
                "error" => &mut k.error,
                "final?" if !self.json => &mut k.is_final,
                "final" if self.json => &mut k.is_final,
                _ => continue,
            };
            if slot.replace(val).is_some() {
                return Err(err(format!("the operation has two {key} keys")));
            }
        }
        let json = self.json;
        let name = |e: Option<&'h Edn<'a>>, key: &str| -> Result<&'h str, String> {
            match e {
                None => Err(err(format!("the operation has no :{key}"))),
                Some(e) => match (e, json) {
                    (Edn::Keyword(n), false) => Ok(n),
                    (Edn::Str(n), true) => Ok(n),
                    _ => Err(err(format!(":{key} should be a keyword, not {}", e.brief(40)))),
                },
            }
        };
        let kind_name = name(k.kind, "type")?;
        let kind = match kind_name {
            "invoke" => OpType::Invoke,
            "ok" => OpType::Ok,
            "fail" => OpType::Fail,
            "info" => OpType::Info,
            t => {
                return Err(err(format!(
                    "unknown :type :{t} (expected :invoke, :ok, :fail or :info)"
                )));
            }
        };
        let f_name = name(k.f, "f")?;
        let process = match k.process {
            None => return Err(err("the operation has no :process".into())),
            Some(Edn::Int(p)) => usize::try_from(*p)
                .ok()
                .filter(|p| *p <= u32::MAX as usize)
                .ok_or_else(|| err(format!(":process {p} is out of range")))?,
            // The nemesis (and any other non-client process): not judged.
            Some(Edn::Keyword(_)) | Some(Edn::Str(_)) => {
                match self.skipped.iter_mut().find(|(f, _)| *f == f_name) {
                    Some((_, n)) => *n += 1,
                    None => self.skipped.push((f_name.to_owned(), 1)),
                }
                return Ok(());
            }
            Some(p) => {
                return Err(err(format!(":process should be an integer, not {}", p.brief(40))));
            }
        };
        let Some(&f) = W::FS.iter().find(|f| **f == f_name) else {
            let known: Vec<String> = W::FS.iter().map(|f| format!(":{f}")).collect();
            return Err(err(format!(
                "unknown operation :{f_name} for this workload (it has {})",
                known.join(", ")
            )));
        };

        // Order: :index strictly increasing; :time on every op or none.
        if let Some(i) = k.index.filter(|i| !i.is_nil()) {
            let i = i
                .as_int()
                .ok_or_else(|| err(format!(":index should be an integer, not {}", i.brief(40))))?;
            if let Some((last, at)) = self.last_index {
                if i <= last {
                    return Err(err(format!(
                        ":index {i} comes after :index {last} ({})",
                        self.at(at)
                    )));
                }
            }
            self.last_index = Some((i, pos));
            self.indexed = true;
            self.renumbered |= i != self.history.ops.len() as i64;
        } else {
            self.renumbered = true;
        }
        // Jepsen gives an op without a time the time -1.
        let time = match k.time.filter(|t| !t.is_nil() && t.as_int() != Some(-1)) {
            Some(_) if self.timed == Some(false) => {
                return Err(err("this operation has a :time but earlier ones have none".into()));
            }
            None if self.timed == Some(true) => {
                return Err(err("this operation has no :time but earlier ones do".into()));
            }
            Some(t) => {
                self.timed = Some(true);
                t.as_int().and_then(|t| u64::try_from(t).ok()).ok_or_else(|| {
                    err(format!(":time should be nanoseconds >= 0, not {}", t.brief(40)))
                })?
            }
            None => {
                self.timed = Some(false);
                0
            }
        };

        // Pairing: a completion needs its process's open invocation, of the same :f.
        match (kind, self.open.get(&process).copied()) {
            (OpType::Invoke, Some((g, at))) => {
                return Err(err(format!(
                    "process {process} invokes :{f} while its :{g} ({}) has not completed",
                    self.at(at)
                )));
            }
            (OpType::Invoke, None) => {
                self.open.insert(process, (f, pos));
            }
            (_, None) => {
                return Err(err(format!(
                    "an :{kind_name} :{f} of process {process} without its :invoke"
                )));
            }
            (_, Some((g, at))) if g != f => {
                return Err(err(format!(
                    "an :{kind_name} :{f} of process {process}, whose open :invoke is :{g} ({})",
                    self.at(at)
                )));
            }
            (_, Some(_)) => {
                self.open.remove(&process);
            }
        }

        let nil = Edn::Nil;
        let raw = RawOp { kind, process, value: k.value.unwrap_or(&nil), map, json: self.json };
        if let Some(shape) = self.workload.shape(&raw, f) {
            match self.shape {
                None => self.shape = Some((shape, pos)),
                Some((first, at)) if first != shape => {
                    return Err(err(format!(
                        ":value {} has the shape of {shape}, but the history began with {first} \
                         ({})",
                        raw.value.brief(60),
                        self.at(at)
                    )));
                }
                Some(_) => {}
            }
        }
        let value =
            self.workload.read_value(&raw, f).map_err(|e| err(format!(":{f} :value: {e}")))?;
        if let Some(x) = self.workload.element(&value) {
            if self.max_element.is_none_or(|(m, _)| x > m) {
                self.max_element = Some((x, pos));
            }
        }
        let error = k.error.filter(|e| !e.is_nil()).map(values::error_text);
        let is_final = match k.is_final {
            None | Some(Edn::Nil | Edn::Bool(false)) => false,
            Some(Edn::Bool(true)) => true,
            Some(x) => {
                return Err(err(format!(":final? should be true or false, not {}", x.brief(40))));
            }
        };
        self.processes.insert(process);
        self.history.push(Op { index: 0, time, process, kind, f, value, error, is_final });
        Ok(())
    }

    fn finish(self) -> Result<(History<W::Value>, HistorySource), String> {
        let n = self.history.ops.len();
        if let Some((x, pos)) = self.max_element {
            // Set-full indexes elements densely; Maelstrom's count up from 0, one per add.
            if x > 16 * n as u64 + 1_000_000 {
                return Err(format!(
                    "{}: element {x} is far beyond what a history of {n} operations adds \
                     (Maelstrom's elements count up from 0)",
                    self.at(pos)
                ));
            }
        }
        let mut format = match (self.json, self.one_collection) {
            (true, _) => "glomers history.jsonl",
            (false, true) => "Jepsen history, one EDN collection",
            (false, false) => "Maelstrom history.edn",
        }
        .to_owned();
        if let Some((shape, _)) = self.shape {
            format = format!("{format}, {shape}");
        }
        let source = HistorySource {
            file: String::new(),
            format,
            command: String::new(),
            processes: self.processes.len(),
            skipped: self.skipped,
            timed: self.timed == Some(true),
            renumbered: self.renumbered,
            indexed: self.indexed,
            read_seconds: 0.0,
            stats_judged: self.shape.is_none_or(|(shape, _)| self.workload.maelstrom_shape(shape)),
        };
        Ok((self.history, source))
    }
}

#[cfg(test)]
mod tests;
