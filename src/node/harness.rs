//! A synchronous test harness: drive one node with JSON strings and read its output lines.
//!
//! Used by unit tests, end-to-end tests, benches and fuzz targets. Time is virtual and only
//! moves when the caller says so.

use std::time::Duration;

use super::{Machine, Node, Output, Workload};
use crate::proto::PADDING;
use crate::time::Instant;

/// One node, fed by hand.
pub struct Harness<W: Workload> {
    /// The node under test.
    pub node: Node<W>,
    /// Current virtual time.
    pub now: Instant,
    out: Output,
    line: Vec<u8>,
    log: String,
}

impl<W: Workload> Harness<W> {
    /// A node with these command-line words and seed 0, not yet initialised.
    pub fn new(args: &[&str]) -> Self {
        let args = args.iter().map(|s| (*s).to_owned()).collect();
        Harness {
            node: Node::new(args, 0),
            now: Instant::ZERO,
            out: Output::default(),
            line: Vec::new(),
            log: String::new(),
        }
    }

    /// Sends `init` for node `id` of `ids` (from client `c0`) and returns the output.
    pub fn init(&mut self, id: &str, ids: &[&str]) -> Vec<String> {
        let ids: Vec<String> = ids.iter().map(|s| format!("\"{s}\"")).collect();
        self.line(&format!(
            r#"{{"src":"c0","dest":"{id}","body":{{"type":"init","msg_id":1,"node_id":"{id}","node_ids":[{}]}}}}"#,
            ids.join(",")
        ))
    }

    /// Feeds one raw line (no newline) and returns the output lines it caused.
    pub fn line_bytes(&mut self, bytes: &[u8]) -> Vec<String> {
        self.line.clear();
        self.line.extend_from_slice(bytes);
        let len = self.line.len();
        self.line.resize(len + PADDING, b' ');
        self.node.handle_line(self.now, &mut self.line, len, &mut self.out);
        self.drain()
    }

    /// Feeds one line of JSON text and returns the output lines it caused.
    pub fn line(&mut self, json: &str) -> Vec<String> {
        self.line_bytes(json.as_bytes())
    }

    /// Advances virtual time by `d`, firing timers at their deadlines, and returns the output.
    pub fn advance(&mut self, d: Duration) -> Vec<String> {
        let end = self.now + d;
        while let Some(at) = self.node.poll_timeout() {
            if at > end {
                break;
            }
            self.now = self.now.max(at);
            self.node.handle_timeout(self.now, &mut self.out);
        }
        self.now = end;
        self.drain()
    }

    /// Everything the node has logged so far.
    pub fn log(&self) -> &str {
        &self.log
    }

    fn drain(&mut self) -> Vec<String> {
        self.log.push_str(&String::from_utf8_lossy(&self.out.log));
        let text =
            String::from_utf8(std::mem::take(&mut self.out.msgs)).expect("node output is UTF-8");
        self.out.clear();
        assert!(text.is_empty() || text.ends_with('\n'), "output ends in a newline: {text:?}");
        text.lines().map(str::to_owned).collect()
    }
}
