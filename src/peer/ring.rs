//! Bounded ring buffers (being written).
