//! Fuzzing harnesses: byte-driven checks of the line framer, the message parser and every
//! workload's state machine.
//!
//! Each harness turns arbitrary bytes into a run of the code under test and returns
//! `Err(Violation)` when that code breaks one of its invariants; a panic inside the code under
//! test is a finding too. The libFuzzer targets in `fuzz/` are one-line wrappers around these
//! functions, and this module's tests run them on seeded random input, so every invariant is
//! exercised by a plain `cargo test` as well.
//!
//! - [`framer`]: arbitrary bytes in arbitrary chunks against a split-by-newline model.
//! - [`parser`]: any bytes through [`crate::proto::Parser`]; the scalar scanner against
//!   simd-json on short lines; every parsed value re-encoded, re-parsed and re-encoded to the
//!   same bytes.
//! - [`edn`]: any text through the EDN reader (values print and read back to the same print)
//!   and through `glomers check`'s history reader for three workloads.
//! - [`machine::run`]: a node fed an `init`, then a byte-chosen script of well-typed and
//!   ill-typed requests, peer messages, service replies, garbage lines, duplicates and timer
//!   firings, with every output line checked (see [`machine`]).

pub mod machine;
mod source;
mod vocab;

#[cfg(test)]
mod tests;

use std::fmt;

pub use self::source::Source;
use crate::driver::framer::{Frame, Framer};
use crate::proto::encode::write_val;
use crate::proto::{MAX_DEPTH, PADDING, Parser, scan};

/// An invariant the code under test broke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Which input step (0 for set-up) exposed it.
    pub step: usize,
    /// What went wrong.
    pub what: String,
    /// The offending output or input, lossily as text (may be empty).
    pub line: String,
}

impl Violation {
    fn new(step: usize, what: impl Into<String>, line: &[u8]) -> Self {
        const SHOWN: usize = 600;
        let mut line = String::from_utf8_lossy(&line[..line.len().min(SHOWN)]).into_owned();
        if line.len() >= SHOWN {
            line.push_str("...");
        }
        Violation { step, what: what.into(), line }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step {}: {}", self.step, self.what)?;
        if !self.line.is_empty() {
            write!(f, "\n  line: {}", self.line)?;
        }
        Ok(())
    }
}

/// What the reference model says one line of input becomes.
#[derive(Debug, PartialEq, Eq)]
enum Framed {
    Line(Vec<u8>),
    Skipped(usize),
}

/// The reference framer: split on `\n`; a piece longer than `max_line` is skipped, an empty or
/// all-whitespace one yields nothing; the unterminated tail is a final line.
fn model_frames(input: &[u8], max_line: usize) -> Vec<Framed> {
    let mut out = Vec::new();
    // The piece after the last newline is the unterminated tail (empty if there is none).
    for piece in input.split(|&b| b == b'\n') {
        if piece.len() > max_line {
            out.push(Framed::Skipped(piece.len()));
        } else if !piece.iter().all(u8::is_ascii_whitespace) {
            out.push(Framed::Line(piece.to_vec()));
        }
    }
    out
}

/// The framer harness.
///
/// Input layout: `[mode, chunk count k, k chunk sizes, payload...]`. `mode` picks the line
/// bound (tiny bounds exercise skipping) and whether the payload is repeated to 140 KiB, so
/// lines cross the framer's 64 KiB read chunk and its buffer grows. Chunk sizes cycle; 0 means
/// "as much as the framer offers", like a real `read`.
pub fn framer(data: &[u8]) -> Result<(), Violation> {
    let mut src = Source::new(data);
    let mode = src.u8();
    let max_line = match mode % 8 {
        0..=3 => 1 + usize::from(src.u8() % 64),
        4 => 100,
        5 => 4096,
        6 => 100_000,
        _ => crate::driver::framer::DEFAULT_MAX_LINE,
    };
    // One input in sixteen is long (they are slow to check).
    let long = mode >= 0xf0;
    let k = usize::from(src.u8() % 16);
    // Long inputs take reads of up to 16 KiB, short ones of up to 255 bytes.
    let scale = if long { 64 } else { 1 };
    let chunks: Vec<usize> = (0..k).map(|_| usize::from(src.u8()) * scale).collect();
    let payload = src.rest();
    let input: Vec<u8> = if long && !payload.is_empty() {
        // Past two 64 KiB read chunks, so a partial line makes the buffer grow.
        payload.repeat(140_000usize.div_ceil(payload.len()))
    } else {
        payload.to_vec()
    };
    let want = model_frames(&input, max_line);

    let mut f = Framer::new(max_line);
    // The documented bound is the line bound plus one read chunk (and padding): the initial
    // capacity plus `max_line`. Growth is by doubling, so a short input stays far below it.
    let initial = f.capacity();
    let bound = (initial + max_line).min(2 * (initial + input.len()));
    let mut got = Vec::new();
    let collect = |fr: Frame<'_>, got: &mut Vec<Framed>| -> Result<(), Violation> {
        match fr {
            Frame::Line { buf, len } => {
                if buf.len() < len + PADDING {
                    return Err(Violation::new(0, "a line without its padding", &buf[..len]));
                }
                if len > max_line {
                    return Err(Violation::new(0, "a line over the bound", &buf[..len]));
                }
                got.push(Framed::Line(buf[..len].to_vec()));
            }
            Frame::Skipped { dropped } => got.push(Framed::Skipped(dropped)),
        }
        Ok(())
    };
    let mut pos = 0;
    let mut i = 0;
    while pos < input.len() {
        let spare = f.spare();
        if spare.is_empty() {
            return Err(Violation::new(0, "the framer offered no room to read into", &[]));
        }
        let want_n = chunks.get(i % k.max(1)).copied().unwrap_or(0);
        i += 1;
        let n = if want_n == 0 { spare.len() } else { want_n.min(spare.len()) };
        let n = n.min(input.len() - pos);
        spare[..n].copy_from_slice(&input[pos..pos + n]);
        f.commit(n);
        pos += n;
        while let Some(fr) = f.next_line() {
            collect(fr, &mut got)?;
        }
        if f.capacity() > bound {
            return Err(Violation::new(
                0,
                format!("framer buffer grew to {} bytes (bound {bound})", f.capacity()),
                &[],
            ));
        }
    }
    if let Some(fr) = f.finish() {
        collect(fr, &mut got)?;
    }
    if f.finish().is_some() {
        return Err(Violation::new(0, "finish yielded a second final line", &[]));
    }
    if got != want {
        let show = |v: &[Framed]| {
            v.iter()
                .map(|f| match f {
                    Framed::Line(l) => format!("{:?}", String::from_utf8_lossy(l)),
                    Framed::Skipped(n) => format!("<skipped {n}>"),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let what = format!(
            "framer disagrees with the model (max_line {max_line})\n  got:  {}\n  want: {}",
            show(&got),
            show(&want)
        );
        return Err(Violation::new(0, what, &[]));
    }
    Ok(())
}

/// The parser harness: `data` is one line.
///
/// - [`Parser::parse`] and [`Parser::parse_value`] must not panic, with or without padding
///   after the line, and must agree with each other on both.
/// - [`Parser::parse`] (which reads a short line's envelope and body members as it scans)
///   must give the same message or the same error as the general route: the whole value on
///   the tape, then [`crate::proto::Msg::from_val`].
/// - Up to [`scan::SMALL_LINE`] bytes, the scalar scanner and simd-json must accept the same
///   lines and produce the same tape.
/// - A parsed value written back with [`write_val`] must parse again, and writing that
///   again must give the same bytes (the encoder's output is valid JSON and canonical).
pub fn parser(data: &[u8]) -> Result<(), Violation> {
    let mut parser = Parser::new();
    let len = data.len();
    let mut padded = data.to_vec();
    padded.resize(len + PADDING, b' ');
    let mut bare = data.to_vec();
    // Padding as the driver leaves it is the start of the next lines: digits and closers
    // there must not extend a number at the end of this one.
    let mut digits = data.to_vec();
    digits.extend(b"7,}".iter().cycle().take(PADDING));
    let a = parser.parse(&mut padded, len, |m| m.map(|m| format!("{m:?}")).map_err(kind_of));
    let b = parser.parse(&mut bare, len, |m| m.map(|m| format!("{m:?}")).map_err(kind_of));
    let d = parser.parse(&mut digits, len, |m| m.map(|m| format!("{m:?}")).map_err(kind_of));
    if a != b || a != d {
        let what = format!("padding changed the parse: {a:?} vs {b:?} vs {d:?}");
        return Err(Violation::new(0, what, data));
    }

    let mut general = data.to_vec();
    general.resize(len + PADDING, b' ');
    let c = parser.parse_value(&mut general, len, |v| match v {
        Err(_) => Err("json".to_owned()),
        Ok(None) => Err("envelope: empty line".to_owned()),
        Ok(Some(v)) => crate::proto::Msg::from_val(v).map(|m| format!("{m:?}")).map_err(kind_of),
    });
    if a != c {
        let what = format!("message route and general route disagree: {a:?} vs {c:?}");
        return Err(Violation::new(0, what, data));
    }

    if len <= scan::SMALL_LINE {
        let mut ours = data.to_vec();
        let mut tape = Vec::new();
        let mut scratch = scan::Scratch::default();
        let ours = scan::parse(&mut ours, len, &mut tape, &mut scratch, MAX_DEPTH)
            .map(|()| format!("{tape:?}"));
        let mut theirs = data.to_vec();
        let mut buffers = simd_json::Buffers::with_max_depth(len, MAX_DEPTH);
        let mut stape = simd_json::Tape::null();
        let theirs = simd_json::fill_tape(&mut theirs, &mut buffers, &mut stape)
            .map(|()| format!("{:?}", stape.0));
        if ours.is_ok() != theirs.is_ok() || ours.as_ref().ok() != theirs.as_ref().ok() {
            let what = format!(
                "scalar scanner and simd-json disagree\n  scan: {:?}\n  simd: {:?}",
                ours,
                theirs.map_err(|e| e.to_string())
            );
            return Err(Violation::new(0, what, data));
        }
    }

    let mut line = data.to_vec();
    line.resize(len + PADDING, b' ');
    let first = parser.parse_value(&mut line, len, |v| match v {
        Ok(Some(v)) => {
            let mut out = Vec::new();
            write_val(&mut out, v);
            Some(out)
        }
        _ => None,
    });
    let Some(first) = first else { return Ok(()) };
    let mut again = first.clone();
    let n = again.len();
    again.resize(n + PADDING, b' ');
    let second = parser.parse_value(&mut again, n, |v| match v {
        Ok(Some(v)) => {
            let mut out = Vec::new();
            write_val(&mut out, v);
            Ok(out)
        }
        Ok(None) => Err("an empty tape".to_owned()),
        Err(e) => Err(e.to_string()),
    });
    match second {
        Err(e) => Err(Violation::new(0, format!("re-encoded value does not parse: {e}"), &first)),
        Ok(second) if second != first => Err(Violation::new(
            0,
            format!("re-encoding is not stable: {}", String::from_utf8_lossy(&second)),
            &first,
        )),
        Ok(_) => Ok(()),
    }
}

/// A parse error reduced to which kind it is (the texts differ between parsers).
fn kind_of(e: crate::proto::ParseError<'_>) -> String {
    use crate::proto::ParseError;
    match e {
        ParseError::Json(_) => "json".to_owned(),
        ParseError::Envelope(why) => format!("envelope: {why}"),
        ParseError::Body { src, msg_id, why, .. } => format!("body from {src} {msg_id:?}: {why}"),
    }
}

/// The EDN reader and the history reader on any text: no panic; every value read prints, and
/// the print reads back to a value that prints the same; an error's place is inside the text.
pub fn edn(data: &[u8]) -> Result<(), Violation> {
    use crate::sim::check::read_edn;
    use crate::sim::opts::TestOpts;
    use crate::sim::workloads::{broadcast, kafka, list_append};
    let Ok(text) = std::str::from_utf8(data) else { return Ok(()) };
    match crate::edn::read_all(text) {
        Ok(values) => {
            for v in values {
                let printed = v.to_string();
                let again = crate::edn::read_one(&printed).map_err(|e| {
                    Violation::new(
                        0,
                        format!("a printed value does not read back: {e}"),
                        printed.as_bytes(),
                    )
                })?;
                if again.to_string() != printed {
                    let what = format!("printing is not stable: {printed} then {again}");
                    return Err(Violation::new(0, what, data));
                }
            }
        }
        Err(e) if e.pos > text.len() || e.line == 0 || e.col == 0 => {
            return Err(Violation::new(0, format!("error outside the text: {e:?}"), data));
        }
        Err(_) => {}
    }
    let o = TestOpts::default();
    let _ = read_edn(&broadcast::BroadcastClient::default(), text);
    let _ = read_edn(&kafka::KafkaClient::new(&o), text);
    let _ = read_edn(&list_append::ListAppendClient::new(&o), text);
    Ok(())
}
