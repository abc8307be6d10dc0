//! `glomers serve`: a local web UI over the results store, like `maelstrom serve`.
//!
//! An index of every run under `store/<workload>/<time>/` (newest first, coloured by
//! verdict, filterable by workload and verdict, paginated; a stored history judged again by
//! `glomers check --store` is listed with the runs, marked `check`), and a page per run with
//! its report, plots, space-time diagram, timeline, history, logs, files and the command that
//! reproduces it. It shows whatever files a run has, so runs written by older and newer
//! benches both read.
//!
//! One concern per module: [`paths`] (which URLs may name which files), [`store`] (finding
//! and summing up runs), [`pages`] (HTML), [`routes`] (URL to page or file), [`http`] (the
//! bounded HTTP/1.1 server). No async runtime: a handful of threads serve a local user's
//! browser, and every read is a local file.

pub mod http;
pub mod pages;
pub mod paths;
pub mod routes;
pub mod store;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;

/// `glomers serve` options.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeOpts {
    /// The results store (`store`).
    pub store: PathBuf,
    /// The address to listen on (127.0.0.1).
    pub bind: IpAddr,
    /// The port (8080; 0 picks a free one).
    pub port: u16,
    /// Worker threads: requests served at once (4).
    pub threads: usize,
}

impl Default for ServeOpts {
    fn default() -> ServeOpts {
        ServeOpts {
            store: PathBuf::from("store"),
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 8080,
            threads: 4,
        }
    }
}

impl ServeOpts {
    /// Parses `--store DIR`, `--port N`, `--bind ADDR` (alias `--host`), `--threads N`.
    pub fn parse(args: &[String]) -> Result<ServeOpts, String> {
        let mut o = ServeOpts::default();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |what: &str| it.next().cloned().ok_or(format!("{a} wants {what}"));
            match a.as_str() {
                "--store" => o.store = PathBuf::from(value("a directory")?),
                "--port" | "-p" => {
                    o.port = value("a port")?
                        .parse()
                        .map_err(|_| format!("{a} wants a port, 0-65535"))?
                }
                "--bind" | "--host" | "-b" => {
                    let v = value("an IP address")?;
                    o.bind = if v == "localhost" {
                        IpAddr::V4(Ipv4Addr::LOCALHOST)
                    } else {
                        v.parse().map_err(|_| format!("{a} wants an IP address, not `{v}`"))?
                    };
                }
                "--threads" => {
                    o.threads = value("a count")?
                        .parse()
                        .ok()
                        .filter(|n| (1..=64).contains(n))
                        .ok_or(format!("{a} wants 1 to 64"))?
                }
                other => return Err(format!("unknown flag `{other}`")),
            }
        }
        Ok(o)
    }
}

/// A bound server, ready to [`Server::run`].
pub struct Server {
    listener: TcpListener,
    app: Arc<routes::App>,
    limits: http::Limits,
    /// The canonical store root.
    pub root: PathBuf,
}

impl Server {
    /// Checks the store and binds the port.
    pub fn bind(opts: &ServeOpts) -> Result<Server, String> {
        let root = opts.store.canonicalize().map_err(|e| {
            format!(
                "no results store at {}: {e} (run `glomers test` first, or pass --store)",
                opts.store.display()
            )
        })?;
        if !root.is_dir() {
            return Err(format!("{} is not a directory", root.display()));
        }
        let addr = SocketAddr::new(opts.bind, opts.port);
        let listener =
            TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let loopback = opts.bind.is_loopback().then_some(opts.bind);
        Ok(Server {
            listener,
            app: Arc::new(routes::App::new(root.clone(), loopback)),
            limits: http::Limits { workers: opts.threads, ..http::Limits::default() },
            root,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until the process ends.
    pub fn run(self) -> std::io::Result<()> {
        let app = self.app;
        http::serve(
            self.listener,
            Arc::new(move |req: &http::Request| app.handle(req)),
            self.limits,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn flags_parse() {
        assert_eq!(ServeOpts::parse(&[]).unwrap(), ServeOpts::default());
        let o =
            ServeOpts::parse(&args("--store /tmp/s --port 0 --bind 0.0.0.0 --threads 2")).unwrap();
        assert_eq!(o.store, PathBuf::from("/tmp/s"));
        assert_eq!((o.port, o.threads), (0, 2));
        assert!(!o.bind.is_loopback());
        assert!(ServeOpts::parse(&args("--port 70000")).is_err());
        assert!(ServeOpts::parse(&args("--threads 0")).is_err());
        assert!(ServeOpts::parse(&args("--bind nowhere")).is_err());
        assert!(ServeOpts::parse(&args("--store")).is_err());
        assert!(ServeOpts::parse(&args("--frobnicate")).is_err());
    }
}
