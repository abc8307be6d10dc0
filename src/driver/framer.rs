//! Line framing over a reused read buffer: partial reads in, complete lines out, long lines
//! skipped.
//!
//! Bytes are read straight into the spare tail of one buffer. Complete lines are handed out in
//! place, followed by at least [`PADDING`] readable bytes so simd-json can parse them without a
//! copy. A line longer than the bound is dropped (reported once) and reading carries on with the
//! next line: memory stays at most `max_line + PADDING` plus the read chunk.

use crate::proto::PADDING;
use crate::simd;

/// The default bound on one input line: 128 MiB.
pub const DEFAULT_MAX_LINE: usize = 128 << 20;

/// Bytes requested per read when the buffer has room.
const READ_CHUNK: usize = 64 << 10;

/// What [`Framer::next_line`] yields.
pub enum Frame<'a> {
    /// A complete line: `buf[..len]` is the line without its newline; `buf` extends past it
    /// by at least [`PADDING`] bytes (the parser may use them as scratch-free padding).
    Line {
        /// The line and the bytes after it.
        buf: &'a mut [u8],
        /// Length of the line.
        len: usize,
    },
    /// A line longer than the bound was dropped; `dropped` bytes of it were discarded.
    Skipped {
        /// How many bytes the over-long line had.
        dropped: usize,
    },
}

/// Splits a byte stream into lines.
pub struct Framer {
    /// Invariant: `start <= scan <= end`, and `buf.len() >= end + PADDING`.
    buf: Vec<u8>,
    /// First byte of the current (incomplete) line.
    start: usize,
    /// Bytes before `scan` (from `start`) have been searched: their newlines not yet handed
    /// out are the set bits of `bits`.
    scan: usize,
    /// Newlines found but not yet handed out: bit `k` is byte `base + k`. Lines are found a
    /// 64-byte block at a time ([`simd::newlines`]), so one search serves several short lines.
    bits: u64,
    /// Buffer index of bit 0 of `bits`.
    base: usize,
    /// End of the bytes read so far.
    end: usize,
    /// When set, we are discarding an over-long line until its newline; counts bytes dropped.
    skipping: Option<usize>,
    max_line: usize,
}

impl Framer {
    /// A framer that drops lines longer than `max_line` bytes.
    pub fn new(max_line: usize) -> Self {
        Framer {
            buf: vec![0; READ_CHUNK + PADDING],
            start: 0,
            scan: 0,
            bits: 0,
            base: 0,
            end: 0,
            skipping: None,
            max_line: max_line.max(1),
        }
    }

    /// Bytes currently held for an incomplete line.
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Capacity of the buffer in bytes (for memory accounting).
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Space to read into; call [`Framer::commit`] with the number of bytes read.
    pub fn spare(&mut self) -> &mut [u8] {
        if self.start == self.end {
            // Everything consumed: restart at the front for free.
            debug_assert_eq!(self.bits, 0, "newlines are bytes before `end`");
            self.bits = 0;
            self.start = 0;
            self.scan = 0;
            self.end = 0;
        }
        if self.buf.len() - PADDING - self.end < READ_CHUNK / 4 {
            self.make_room();
        }
        let stop = self.buf.len() - PADDING;
        &mut self.buf[self.end..stop]
    }

    fn make_room(&mut self) {
        if self.start > 0 {
            // Move the partial line to the front.
            self.buf.copy_within(self.start..self.end, 0);
            if self.bits == 0 {
                self.scan -= self.start;
            } else {
                // Pending newlines move too: search again from the line's start.
                self.bits = 0;
                self.scan = 0;
            }
            self.end -= self.start;
            self.start = 0;
        }
        let free = self.buf.len() - PADDING - self.end;
        if free < READ_CHUNK / 4 {
            // The partial line fills the buffer: grow, but not past the line bound plus a chunk
            // (anything longer is dropped by `next_line`).
            let want = (self.buf.len() * 2).min(self.max_line + READ_CHUNK + PADDING);
            let want = want.max(self.end + READ_CHUNK + PADDING);
            self.buf.resize(want, 0);
        }
    }

    /// Records that `n` bytes were read into [`Framer::spare`].
    pub fn commit(&mut self, n: usize) {
        debug_assert!(self.end + n + PADDING <= self.buf.len());
        self.end += n;
    }

    /// The next complete line, a skipped over-long line, or `None` if more input is needed.
    pub fn next_line(&mut self) -> Option<Frame<'_>> {
        loop {
            while self.bits == 0 {
                if self.scan == self.end {
                    let pending = self.end - self.start;
                    if pending > self.max_line {
                        // Over the bound with no newline in sight: drop what we have and keep
                        // dropping until the newline.
                        *self.skipping.get_or_insert(0) += pending;
                        self.start = self.end;
                    }
                    return None;
                }
                // Search the next block; bytes past `end` (padding, stale data) are masked off.
                let n = (self.end - self.scan).min(64);
                self.bits = simd::newlines_prefix(&self.buf[self.scan..], n);
                self.base = self.scan;
                self.scan += n;
            }
            let nl = self.base + self.bits.trailing_zeros() as usize;
            self.bits &= self.bits - 1;
            let line_start = self.start;
            self.start = nl + 1;
            if let Some(dropped) = self.skipping.take() {
                return Some(Frame::Skipped { dropped: dropped + (nl - line_start) });
            }
            let len = nl - line_start;
            if len > self.max_line {
                return Some(Frame::Skipped { dropped: len });
            }
            if len == 0 || self.buf[line_start].is_ascii_whitespace() && self.blank(line_start, nl)
            {
                continue;
            }
            return Some(Frame::Line { buf: &mut self.buf[line_start..], len });
        }
    }

    /// Whether `buf[from..to]` is all whitespace (such lines are skipped).
    #[cold]
    fn blank(&self, from: usize, to: usize) -> bool {
        self.buf[from..to].iter().all(u8::is_ascii_whitespace)
    }

    /// At end of input: the final unterminated line, if any (a line cut short by EOF).
    pub fn finish(&mut self) -> Option<Frame<'_>> {
        let len = self.end - self.start;
        let start = self.start;
        self.start = self.end;
        self.scan = self.end;
        self.bits = 0;
        if let Some(dropped) = self.skipping.take() {
            return Some(Frame::Skipped { dropped: dropped + len });
        }
        if len == 0 || self.buf[start..start + len].iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        Some(Frame::Line { buf: &mut self.buf[start..], len })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// Feeds `input` in the given chunk sizes and collects lines and skip reports.
    fn frame(input: &[u8], chunks: &mut dyn FnMut() -> usize, max_line: usize) -> Vec<String> {
        let mut f = Framer::new(max_line);
        let mut got = Vec::new();
        let mut pos = 0;
        let collect = |fr: Frame<'_>, got: &mut Vec<String>| match fr {
            Frame::Line { buf, len } => {
                assert!(buf.len() >= len + PADDING, "padding after every line");
                got.push(String::from_utf8_lossy(&buf[..len]).into_owned());
            }
            Frame::Skipped { dropped } => got.push(format!("<skipped {dropped}>")),
        };
        while pos < input.len() {
            let spare = f.spare();
            let n = chunks().clamp(1, spare.len()).min(input.len() - pos);
            spare[..n].copy_from_slice(&input[pos..pos + n]);
            f.commit(n);
            pos += n;
            while let Some(fr) = f.next_line() {
                collect(fr, &mut got);
            }
        }
        if let Some(fr) = f.finish() {
            collect(fr, &mut got);
        }
        got
    }

    #[test]
    fn lines_survive_any_chunking() {
        let input = b"{\"a\":1}\n\n{\"b\":2}\r\n  \n{\"c\":3}";
        let want = ["{\"a\":1}", "{\"b\":2}\r", "{\"c\":3}"];
        for seed in 0..200 {
            let mut rng = Rng::new(seed);
            let got = frame(input, &mut || rng.range_inclusive(1, 9) as usize, 1 << 20);
            assert_eq!(got, want, "seed {seed}");
        }
    }

    #[test]
    fn framing_matches_a_naive_split_for_random_lines_and_chunks() {
        for seed in 0..300 {
            let mut rng = Rng::new(seed);
            let mut input = Vec::new();
            for _ in 0..rng.range_inclusive(0, 60) {
                let len = *rng.pick(&[0, 1, 5, 63, 64, 65, 127, 128, 200, 1000]);
                input.extend((0..len).map(|_| *rng.pick(b"ab{}\" \t\r")));
                input.push(b'\n');
            }
            if rng.below(2) == 0 {
                input.extend_from_slice(b"tail");
            }
            let want: Vec<String> = input
                .split(|&c| c == b'\n')
                .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
                .map(|l| String::from_utf8_lossy(l).into_owned())
                .collect();
            let big = rng.below(2) == 0;
            let got = frame(
                &input,
                &mut || if big { rng.range_inclusive(1, 70_000) } else { rng.range_inclusive(1, 130) }
                    as usize,
                1 << 20,
            );
            assert_eq!(got, want, "seed {seed}");
        }
    }

    #[test]
    fn long_lines_are_skipped_and_framing_recovers() {
        let mut input = Vec::new();
        input.extend_from_slice(b"short\n");
        input.extend(std::iter::repeat_n(b'x', 300_000));
        input.extend_from_slice(b"\nafter\n");
        input.extend(std::iter::repeat_n(b'y', 300_000));
        for seed in 0..5 {
            let mut rng = Rng::new(seed);
            let got = frame(&input, &mut || rng.range_inclusive(1, 100_000) as usize, 100_000);
            assert_eq!(got, ["short", "<skipped 300000>", "after", "<skipped 300000>"]);
        }
    }

    #[test]
    fn a_line_at_the_bound_is_kept_and_memory_stays_bounded() {
        let max = 200_000;
        let mut input = vec![b'z'; max];
        input.push(b'\n');
        let mut f = Framer::new(max);
        let mut pos = 0;
        let mut lens = Vec::new();
        while pos < input.len() {
            let spare = f.spare();
            let n = spare.len().min(input.len() - pos);
            spare[..n].copy_from_slice(&input[pos..pos + n]);
            f.commit(n);
            pos += n;
            while let Some(Frame::Line { len, .. }) = f.next_line() {
                lens.push(len);
            }
        }
        assert_eq!(lens, [max]);
        assert!(f.capacity() <= max + READ_CHUNK + PADDING, "capacity {}", f.capacity());
    }
}
