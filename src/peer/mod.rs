//! Per-peer plumbing: bounded ring buffers for queues that wait on a peer.

pub mod ring;
