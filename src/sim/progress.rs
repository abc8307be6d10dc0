//! Progress on stderr for long runs and sweeps: one line redrawn in place while stderr is a
//! terminal, nothing at all when it is not (a pipe, a file, CI), and nothing for runs that
//! finish within [`QUIET_FOR`].

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Runs shorter than this never draw a bar (most in-process runs).
pub const QUIET_FOR: Duration = Duration::from_millis(500);

/// How often the bar is redrawn at most.
const EVERY: Duration = Duration::from_millis(200);

/// A progress line on stderr.
#[derive(Debug)]
pub struct Bar {
    on: bool,
    started: Instant,
    last: Option<Instant>,
    width: usize,
}

impl Bar {
    /// A bar that draws only if `enabled` and stderr is a terminal.
    pub fn new(enabled: bool) -> Bar {
        Bar::forced(enabled && std::io::stderr().is_terminal())
    }

    /// A bar that draws if `on`, terminal or not (for tests of the line itself).
    pub fn forced(on: bool) -> Bar {
        Bar { on, started: Instant::now(), last: None, width: 0 }
    }

    /// Whether it draws at all; callers skip building the line when it does not.
    pub fn is_on(&self) -> bool {
        self.on
    }

    /// Whether a redraw is due (after [`QUIET_FOR`], at most every 200 ms).
    pub fn due(&self) -> bool {
        if !self.on {
            return false;
        }
        let now = Instant::now();
        now.duration_since(self.started) >= QUIET_FOR
            && self.last.is_none_or(|l| now.duration_since(l) >= EVERY)
    }

    /// Seconds since the bar was made.
    pub fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Draws `line` over the previous one.
    pub fn draw(&mut self, line: &str) {
        if !self.on {
            return;
        }
        self.last = Some(Instant::now());
        let pad = self.width.saturating_sub(line.chars().count());
        self.width = line.chars().count();
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{line}{:pad$}", "");
        let _ = err.flush();
    }

    /// Clears the line, if anything was drawn.
    pub fn finish(&mut self) {
        if self.on && self.last.is_some() {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r{:w$}\r", "", w = self.width);
            let _ = err.flush();
            self.last = None;
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.finish();
    }
}

/// A text gauge `[=====>    ]` of `width` cells for a fraction in 0..=1.
pub fn gauge(fraction: f64, width: usize) -> String {
    let filled = ((fraction.clamp(0.0, 1.0) * width as f64).round() as usize).min(width);
    let mut s = String::with_capacity(width + 2);
    s.push('[');
    for i in 0..width {
        s.push(if i + 1 < filled || (i + 1 == filled && filled == width) {
            '='
        } else if i + 1 == filled {
            '>'
        } else {
            ' '
        });
    }
    s.push(']');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauges_fill_in_proportion() {
        assert_eq!(gauge(0.0, 4), "[    ]");
        assert_eq!(gauge(0.5, 4), "[=>  ]");
        assert_eq!(gauge(1.0, 4), "[====]");
        assert_eq!(gauge(7.0, 4), "[====]");
    }

    #[test]
    fn an_off_bar_is_never_due() {
        let b = Bar::forced(false);
        assert!(!b.due() && !b.is_on());
    }
}
