//! The HTTP/1.1 server: one accept thread, a fixed pool of worker threads, one request per
//! connection, every resource bounded.
//!
//! Request heads are parsed with `httparse` (hyper's parser). The limits, and what happens at
//! each:
//! - connections: [`Limits::workers`] are served at once and [`Limits::queue`] more wait;
//!   past that the accept thread answers `503` at once and closes;
//! - request head: at most [`Limits::max_head`] bytes and [`MAX_HEADERS`] headers (`431`);
//!   it must arrive within [`Limits::read_timeout`] (`408`);
//! - methods: `GET` and `HEAD` (`405` otherwise); a body is never read;
//! - responses: a file body is streamed from the open file (the kernel's `sendfile` through
//!   `std::io::copy`), never loaded whole; each write must progress within
//!   [`Limits::write_timeout`];
//! - `Connection: close` on every response, so an idle client cannot hold a worker between
//!   requests.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Most headers accepted in one request.
pub const MAX_HEADERS: usize = 48;

/// The server's bounds.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Worker threads: connections served at once.
    pub workers: usize,
    /// Accepted connections waiting for a worker; more are refused with `503`.
    pub queue: usize,
    /// Largest request head (request line and headers), in bytes.
    pub max_head: usize,
    /// Time allowed for the request head to arrive.
    pub read_timeout: Duration,
    /// Time allowed for each write of the response to progress.
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            workers: 4,
            queue: 64,
            max_head: 16 * 1024,
            read_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
        }
    }
}

/// A request, as much of it as the routes need.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET` or `HEAD`.
    pub method: String,
    /// The path part of the target (before `?`), still percent-encoded.
    pub path: String,
    /// The query (after `?`), still encoded; empty if none.
    pub query: String,
    /// The `Host` header, if sent.
    pub host: Option<String>,
}

/// A response body.
pub enum Body {
    /// Bytes in memory (pages, errors).
    Bytes(Vec<u8>),
    /// An open file and the number of bytes to send from it (its length when opened).
    File(File, u64),
}

/// A response.
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Headers besides `Content-Length` and `Connection`.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Body,
}

impl Response {
    /// A response with an in-memory body.
    pub fn bytes(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type", content_type.to_owned())],
            body: Body::Bytes(body.into()),
        }
    }

    /// A plain-text response (errors from this module).
    pub fn text(status: u16, body: &str) -> Response {
        Response::bytes(status, "text/plain; charset=utf-8", format!("{body}\n"))
    }

    /// Adds a header.
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        421 => "Misdirected Request",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// Writes `resp` (only the head for `HEAD`) and closes the connection politely.
fn send(stream: &mut TcpStream, resp: Response, head_only: bool) -> io::Result<()> {
    let len = match &resp.body {
        Body::Bytes(b) => b.len() as u64,
        Body::File(_, n) => *n,
    };
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    for (k, v) in &resp.headers {
        // Header values are ours (types, paths we encoded); a CR or LF would be a bug.
        debug_assert!(!v.contains(['\r', '\n']), "header {k} has a line break");
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {len}\r\nConnection: close\r\n\r\n"));
    stream.write_all(head.as_bytes())?;
    if !head_only {
        match resp.body {
            Body::Bytes(b) => stream.write_all(&b)?,
            Body::File(f, n) => {
                let sent = io::copy(&mut f.take(n), stream)?;
                if sent < n {
                    // The file shrank while being sent: the client sees a short body.
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank"));
                }
            }
        }
    }
    stream.flush()?;
    // Half-close, then drain what the client may still send (bounded), so the kernel does
    // not reset the connection under a response the client has not read yet.
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    while drained < 64 * 1024 {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
    Ok(())
}

/// Why a request head could not be read.
enum HeadError {
    /// The client went away (or sent nothing): nothing to answer.
    Gone,
    /// Answer this status.
    Status(u16, &'static str),
}

/// Reads and parses the request head, within `limits`.
fn read_head(stream: &mut TcpStream, limits: &Limits) -> Result<Request, HeadError> {
    let mut buf = vec![0u8; limits.max_head];
    let mut filled = 0;
    loop {
        let n = match stream.read(&mut buf[filled..]) {
            Ok(0) => return Err(HeadError::Gone),
            Ok(n) => n,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                return Err(if filled == 0 {
                    HeadError::Gone
                } else {
                    HeadError::Status(408, "the request head did not arrive in time")
                });
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(HeadError::Gone),
        };
        filled += n;
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf[..filled]) {
            Ok(httparse::Status::Complete(_)) => {
                let target = req.path.unwrap_or("/");
                let (path, query) = target.split_once('?').unwrap_or((target, ""));
                let host = req
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("host"))
                    .and_then(|h| std::str::from_utf8(h.value).ok())
                    .map(str::to_owned);
                return Ok(Request {
                    method: req.method.unwrap_or("").to_owned(),
                    path: path.to_owned(),
                    query: query.to_owned(),
                    host,
                });
            }
            Ok(httparse::Status::Partial) if filled == buf.len() => {
                return Err(HeadError::Status(431, "the request head is too large"));
            }
            Ok(httparse::Status::Partial) => {}
            Err(httparse::Error::TooManyHeaders) => {
                return Err(HeadError::Status(431, "too many request headers"));
            }
            Err(_) => return Err(HeadError::Status(400, "malformed request")),
        }
    }
}

/// What answers requests.
pub type Handler = dyn Fn(&Request) -> Response + Send + Sync;

fn handle(mut stream: TcpStream, handler: &Handler, limits: &Limits) {
    let _ = stream.set_read_timeout(Some(limits.read_timeout));
    let _ = stream.set_write_timeout(Some(limits.write_timeout));
    let (resp, head_only) = match read_head(&mut stream, limits) {
        Err(HeadError::Gone) => return,
        Err(HeadError::Status(code, why)) => (Response::text(code, why), false),
        Ok(req) if req.method == "GET" || req.method == "HEAD" => {
            (handler(&req), req.method == "HEAD")
        }
        Ok(_) => (Response::text(405, "only GET and HEAD").with("Allow", "GET, HEAD"), false),
    };
    let _ = send(&mut stream, resp, head_only);
}

/// Serves `listener` forever with `handler`, within `limits`.
pub fn serve(listener: TcpListener, handler: Arc<Handler>, limits: Limits) -> io::Result<()> {
    let (tx, rx): (SyncSender<TcpStream>, Receiver<TcpStream>) = sync_channel(limits.queue);
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..limits.workers.max(1) {
        let (rx, handler, limits) = (rx.clone(), handler.clone(), limits.clone());
        std::thread::Builder::new().name(format!("serve-{i}")).spawn(move || {
            loop {
                // The lock is held only while waiting for the next connection.
                let next = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                match next {
                    Ok(stream) => handle(stream, &*handler, &limits),
                    Err(_) => return,
                }
            }
        })?;
    }
    for conn in listener.incoming() {
        let stream = match conn {
            Ok(s) => s,
            // Out of descriptors and the like: back off briefly rather than spin.
            Err(_) => {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        match tx.try_send(stream) {
            Ok(()) => {}
            Err(TrySendError::Full(mut stream)) => {
                let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
                let _ = send_busy(&mut stream);
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(io::Error::other("every worker thread has stopped"));
            }
        }
    }
    Ok(())
}

/// The `503` for a connection over the limit, written without reading the request.
fn send_busy(stream: &mut TcpStream) -> io::Result<()> {
    let body = "busy: too many connections; try again\n";
    write!(
        stream,
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Retry-After: 1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.shutdown(Shutdown::Both)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn start(limits: Limits) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handler: Arc<Handler> = Arc::new(|_: &Request| Response::text(200, "hi"));
        std::thread::spawn(move || serve(listener, handler, limits));
        port
    }

    fn quick() -> Limits {
        Limits { workers: 1, read_timeout: Duration::from_millis(200), ..Limits::default() }
    }

    #[test]
    fn a_silent_connection_is_closed_after_the_read_timeout() {
        let port = start(quick());
        let mut idle = TcpStream::connect(("127.0.0.1", port)).unwrap();
        idle.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let t = Instant::now();
        let mut got = Vec::new();
        idle.read_to_end(&mut got).unwrap();
        assert!(got.is_empty() && t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        // The one worker is free again.
        let mut next = TcpStream::connect(("127.0.0.1", port)).unwrap();
        next.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        let mut resp = Vec::new();
        next.read_to_end(&mut resp).unwrap();
        assert!(resp.starts_with(b"HTTP/1.1 200 OK\r\n"), "{}", String::from_utf8_lossy(&resp));
    }

    #[test]
    fn a_head_that_stops_half_way_gets_408() {
        let port = start(quick());
        let mut slow = TcpStream::connect(("127.0.0.1", port)).unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\nHost: x").unwrap();
        let mut resp = Vec::new();
        slow.read_to_end(&mut resp).unwrap();
        assert!(resp.starts_with(b"HTTP/1.1 408 "), "{}", String::from_utf8_lossy(&resp));
    }

    #[test]
    fn responses_close_and_carry_their_length() {
        let port = start(quick());
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.write_all(b"HEAD / HTTP/1.1\r\n\r\n").unwrap();
        let mut resp = String::new();
        c.read_to_string(&mut resp).unwrap();
        assert!(resp.contains("Content-Length: 3\r\n") && resp.contains("Connection: close\r\n"));
        assert!(resp.ends_with("\r\n\r\n"), "HEAD has no body: {resp:?}");
    }
}
