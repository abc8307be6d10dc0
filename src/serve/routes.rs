//! Routes: maps a request to a page or a file.
//!
//! | path | answer |
//! | --- | --- |
//! | `/?workload=W&verdict=V&page=N` | the index of runs, newest first, filtered, paginated |
//! | `/run/<workload>/<time>` | a run's page (a `latest` link redirects to the run it names) |
//! | `/latest` | redirects to the newest run's page (`store/latest`) |
//! | `/files/<path>` | a file under the store, streamed; a directory as a listing |
//! | `/style.css`, `/favicon.svg` | the page assets |
//!
//! Every path under the store goes through [`paths::decode`] and [`paths::resolve`]. With a
//! loopback bind address, requests must name a loopback `Host` (`localhost`, `127.0.0.1`,
//! `[::1]`): a web page elsewhere that rebinds its own domain name to 127.0.0.1 could
//! otherwise read the store through the visitor's browser.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use super::http::{Request, Response};
use super::pages::{self, IndexView, ResultsState, RunView};
use super::paths::{self, Refusal};
use super::store::{self, Results, RunRef, Store, Verdict};

/// Runs on one index page.
pub const PAGE_SIZE: usize = 100;

/// Security headers on every page of ours: no script at all, and nothing framed from
/// elsewhere.
const PAGE_CSP: &str = "default-src 'self'; script-src 'none'; object-src 'none'; \
                        base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// On HTML and SVG files from the store: they run in an opaque origin, so whatever a
/// `timeline.html` or an SVG contains cannot read the rest of the store through us.
const FILE_CSP: &str = "sandbox allow-scripts allow-popups";

/// The Content-Type for a store file, by extension. EDN has no registered media type and
/// browsers download `application/edn`; it is served as text so it reads in the browser, as
/// Jepsen does. JSON Lines likewise.
pub fn content_type(path: &Path) -> &'static str {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "svg" => "image/svg+xml",
        "html" | "htm" => "text/html; charset=utf-8",
        "json" => "application/json",
        "edn" | "jsonl" | "txt" | "log" | "stdout" | "stderr" | "out" | "err" | "csv" | "md" => {
            "text/plain; charset=utf-8"
        }
        "css" => "text/css; charset=utf-8",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        _ => "application/octet-stream",
    }
}

/// The application: the store and the routes.
pub struct App {
    store: Store,
    /// Host names a request may carry (`None`: any; the bind address is not loopback).
    hosts: Option<Vec<String>>,
}

fn html(status: u16, body: String) -> Response {
    Response::bytes(status, "text/html; charset=utf-8", body)
        .with("Content-Security-Policy", PAGE_CSP)
        .with("X-Content-Type-Options", "nosniff")
        .with("Referrer-Policy", "no-referrer")
        .with("Cache-Control", "no-cache")
}

fn error(status: u16, message: &str) -> Response {
    html(status, pages::error_page(status, message))
}

fn redirect(to: &str) -> Response {
    Response::text(302, to).with("Location", to.to_owned())
}

fn refusal(r: Refusal) -> Response {
    match r {
        Refusal::Bad(_) => error(400, &r.to_string()),
        Refusal::OutOfStore => error(403, &r.to_string()),
        Refusal::NotFound => error(404, "nothing here"),
    }
}

/// The host part of a `Host` header (without the port).
fn host_name(h: &str) -> &str {
    if h.starts_with('[') {
        match h.find(']') {
            Some(i) => &h[..=i],
            None => h,
        }
    } else {
        h.split(':').next().unwrap_or(h)
    }
}

impl App {
    /// Serves the store at `root` (canonical). `loopback_bind` is the bind address when it
    /// is a loopback one (turns on the `Host` check).
    pub fn new(root: PathBuf, loopback_bind: Option<std::net::IpAddr>) -> App {
        let hosts = loopback_bind.map(|ip| {
            let mut h = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "[::1]".to_owned()];
            h.push(match ip {
                std::net::IpAddr::V4(v4) => v4.to_string(),
                std::net::IpAddr::V6(v6) => format!("[{v6}]"),
            });
            h
        });
        App { store: Store::new(root), hosts }
    }

    /// Answers one request.
    pub fn handle(&self, req: &Request) -> Response {
        if let (Some(allowed), Some(host)) = (&self.hosts, &req.host) {
            let name = host_name(host).to_ascii_lowercase();
            if !allowed.contains(&name) {
                return error(
                    421,
                    "this server answers only to localhost (a guard against DNS rebinding); \
                     start it with --bind to serve other names",
                );
            }
        }
        let p = req.path.as_str();
        match p {
            "/" => self.index(&req.query),
            "/style.css" => Response::bytes(200, "text/css; charset=utf-8", pages::STYLE)
                .with("Cache-Control", "no-cache"),
            "/favicon.svg" | "/favicon.ico" => {
                Response::bytes(200, "image/svg+xml", pages::FAVICON)
                    .with("Cache-Control", "max-age=86400")
            }
            "/latest" => self.latest(),
            "/files" => self.files(""),
            _ => {
                if let Some(rest) = p.strip_prefix("/run/") {
                    self.run(rest)
                } else if let Some(rest) = p.strip_prefix("/files/") {
                    self.files(rest)
                } else {
                    error(404, "no such page")
                }
            }
        }
    }

    fn index(&self, query: &str) -> Response {
        let (mut workload, mut verdict, mut page) = (None, None, 0usize);
        for pair in query.split('&').take(16) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let Some(v) = paths::decode_query_value(v) else { continue };
            match k {
                "workload" if !v.is_empty() => workload = Some(v),
                "verdict" => verdict = Verdict::from_word(&v),
                "page" => page = v.parse().unwrap_or(0).min(store::MAX_RUNS),
                _ => {}
            }
        }
        let scan = self.store.scan();
        let mut workloads: Vec<(String, usize)> = Vec::new();
        for r in &scan.runs {
            match workloads.iter_mut().find(|(w, _)| *w == r.workload) {
                Some((_, n)) => *n += 1,
                None => workloads.push((r.workload.clone(), 1)),
            }
        }
        workloads.sort();
        let in_workload: Vec<(RunRef, std::sync::Arc<store::Summary>)> = scan
            .runs
            .into_iter()
            .filter(|r| workload.as_deref().is_none_or(|w| r.workload == w))
            .map(|r| {
                let s = self.store.summary(&r);
                (r, s)
            })
            .collect();
        let total = workloads.iter().map(|(_, n)| n).sum();
        let verdicts: Vec<(Verdict, usize)> = Verdict::ALL
            .into_iter()
            .map(|v| (v, in_workload.iter().filter(|(_, s)| s.verdict == v).count()))
            .filter(|(_, n)| *n > 0)
            .collect();
        let matched: Vec<(RunRef, std::sync::Arc<store::Summary>)> = in_workload
            .into_iter()
            .filter(|(_, s)| verdict.is_none_or(|v| s.verdict == v))
            .collect();
        let count = matched.len();
        let rows = matched.into_iter().skip(page * PAGE_SIZE).take(PAGE_SIZE).collect();
        html(
            200,
            pages::index(&IndexView {
                store: self.store.root(),
                workloads,
                verdicts,
                total,
                workload: workload.as_deref(),
                verdict,
                matched: count,
                rows,
                page,
                page_size: PAGE_SIZE,
                truncated: scan.truncated,
            }),
        )
    }

    /// The run a store-relative directory is, if it is `<workload>/<name>`.
    fn as_run(&self, real: &Path) -> Option<RunRef> {
        let rel = real.strip_prefix(self.store.root()).ok()?;
        let parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_str().map(str::to_owned))
            .collect::<Option<_>>()?;
        match <[String; 2]>::try_from(parts) {
            Ok([workload, name]) if real.is_dir() => Some(RunRef { workload, name }),
            _ => None,
        }
    }

    fn latest(&self) -> Response {
        match paths::resolve(self.store.root(), Path::new("latest")) {
            Ok(real) => match self.as_run(&real) {
                Some(run) => redirect(&pages::run_url(&run)),
                None => error(404, "store/latest does not name a run"),
            },
            Err(Refusal::NotFound) => error(404, "no runs yet: store/latest is not there"),
            Err(r) => refusal(r),
        }
    }

    fn run(&self, rest: &str) -> Response {
        let rel = match paths::decode(rest) {
            Ok(r) => r,
            Err(r) => return refusal(r),
        };
        if rel.components().count() != 2 {
            return error(404, "a run is /run/<workload>/<time>");
        }
        let real = match paths::resolve(self.store.root(), &rel) {
            Ok(r) => r,
            Err(r) => return refusal(r),
        };
        let Some(run) = self.as_run(&real) else {
            return error(404, "not a run directory");
        };
        if run.rel() != rel {
            // Through a `latest` link: show the run under its own name.
            return redirect(&pages::run_url(&run));
        }
        let summary = self.store.summary(&run);
        let results = store::read_results(&real);
        let (files, files_truncated) = store::run_files(&real);
        let history_head =
            ["history.txt", "history.jsonl", "history.edn"].iter().find_map(|name| {
                let (text, more) = store::head_lines(&real.join(name), 16 * 1024, 40)?;
                Some((name.to_string(), text, more))
            });
        let state = match &results {
            Results::Ok(j) => ResultsState::Ok(j),
            Results::Missing => ResultsState::Missing,
            Results::Bad(why) => ResultsState::Bad(why),
        };
        html(
            200,
            pages::run_page(&RunView {
                run: &run,
                summary: &summary,
                results: state,
                files: &files,
                files_truncated,
                history_head,
            }),
        )
    }

    fn files(&self, rest: &str) -> Response {
        let rel = match paths::decode(rest) {
            Ok(r) => r,
            Err(r) => return refusal(r),
        };
        let real = match paths::resolve(self.store.root(), &rel) {
            Ok(r) => r,
            Err(r) => return refusal(r),
        };
        let Ok(meta) = fs::metadata(&real) else { return error(404, "nothing here") };
        if meta.is_dir() {
            return self.listing(&real);
        }
        if !meta.is_file() {
            return error(403, "not a regular file");
        }
        let file = match File::open(&real) {
            Ok(f) => f,
            Err(e) => return error(403, &format!("cannot open: {e}")),
        };
        // The length when opened: a file still growing is sent as it was then.
        let len = file.metadata().map(|m| m.len()).unwrap_or(meta.len());
        let ctype = content_type(&real);
        let mut resp = Response {
            status: 200,
            headers: vec![("Content-Type", ctype.to_owned())],
            body: super::http::Body::File(file, len),
        }
        .with("X-Content-Type-Options", "nosniff")
        .with("Cache-Control", "no-cache");
        if ctype.starts_with("text/html") || ctype == "image/svg+xml" {
            resp = resp.with("Content-Security-Policy", FILE_CSP);
        }
        resp
    }

    fn listing(&self, real: &Path) -> Response {
        let rel = real.strip_prefix(self.store.root()).unwrap_or(Path::new("")).to_owned();
        let mut entries = Vec::new();
        let mut truncated = false;
        if let Ok(rd) = fs::read_dir(real) {
            for e in rd.filter_map(Result::ok) {
                let Ok(name) = e.file_name().into_string() else { continue };
                if name.starts_with('.') {
                    continue;
                }
                if entries.len() == store::MAX_FILES {
                    truncated = true;
                    break;
                }
                let meta = fs::metadata(e.path()).ok();
                let is_dir = meta.as_ref().is_some_and(|m| m.is_dir());
                entries.push((name, is_dir, meta.map_or(0, |m| m.len())));
            }
        }
        entries.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        html(200, pages::dir_page(&rel, &entries, truncated))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_by_extension() {
        let t = |p: &str| content_type(Path::new(p));
        assert_eq!(t("messages.svg"), "image/svg+xml");
        assert_eq!(t("timeline.html"), "text/html; charset=utf-8");
        assert_eq!(t("results.json"), "application/json");
        assert_eq!(t("results.edn"), "text/plain; charset=utf-8");
        assert_eq!(t("history.txt"), "text/plain; charset=utf-8");
        assert_eq!(t("node-logs/n1.log"), "text/plain; charset=utf-8");
        assert_eq!(t("core"), "application/octet-stream");
    }

    #[test]
    fn host_names_lose_their_port() {
        assert_eq!(host_name("127.0.0.1:8080"), "127.0.0.1");
        assert_eq!(host_name("localhost"), "localhost");
        assert_eq!(host_name("[::1]:8080"), "[::1]");
    }
}
