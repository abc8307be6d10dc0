//! The fuzzer's bytes read as a stream of choices.

/// Reads choices from fuzzer input. Once the bytes run out every choice is 0, so any input
/// decodes to a complete run.
#[derive(Debug)]
pub struct Source<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Source<'a> {
    /// Choices from `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Source { data, pos: 0 }
    }

    /// Whether every byte has been used.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// The next byte (0 once exhausted).
    pub fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    /// A choice in `0..n` (`n > 0`): one byte for small `n`, two otherwise.
    pub fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0);
        if n <= 256 {
            usize::from(self.u8()) % n
        } else {
            (usize::from(self.u8()) << 8 | usize::from(self.u8())) % n
        }
    }

    /// One in `n` (`n > 0`).
    pub fn one_in(&mut self, n: u8) -> bool {
        self.u8() % n == 0
    }

    /// Eight bytes as a number.
    pub fn u64(&mut self) -> u64 {
        let mut v = 0u64;
        for _ in 0..8 {
            v = v << 8 | u64::from(self.u8());
        }
        v
    }

    /// Up to `max` bytes (fewer if the input ends).
    pub fn bytes(&mut self, max: usize) -> &'a [u8] {
        let start = self.pos.min(self.data.len());
        let end = (start + max).min(self.data.len());
        self.pos = end.max(self.pos);
        &self.data[start..end]
    }

    /// Everything not used yet.
    pub fn rest(&mut self) -> &'a [u8] {
        let start = self.pos.min(self.data.len());
        self.pos = self.data.len();
        &self.data[start..]
    }
}
