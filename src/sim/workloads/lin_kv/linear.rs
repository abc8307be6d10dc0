//! Linearizability of register histories (placeholder).

/// Checker options.
#[derive(Clone, Debug)]
pub struct Options {
    /// States the search may explore per register before the verdict is unknown.
    pub max_states: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options { max_states: 10_000_000 }
    }
}
