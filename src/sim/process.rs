//! Process mode (placeholder; being written).
use super::engine::Backend;
use crate::time::Instant;
use std::path::Path;
/// Real node processes.
pub struct Processes;
impl Processes {
    /// Spawns one process per node.
    pub fn spawn(_: &Path, _: &[String], _: &[String], _: bool) -> std::io::Result<Processes> {
        Err(std::io::Error::other("process mode is not written yet"))
    }
}
impl Backend for Processes {
    fn is_virtual(&self) -> bool {
        false
    }
    fn deliver(&mut self, _: Instant, _: usize, _: &[u8]) {}
    fn next_timer(&self) -> Option<Instant> {
        None
    }
    fn fire_timers(&mut self, _: Instant) {}
    fn wait(&mut self, until: Option<Instant>) -> Instant {
        until.unwrap_or(Instant::ZERO)
    }
    fn take_output(&mut self, _: &mut Vec<(usize, Vec<u8>)>) {}
    fn take_logs(&mut self, _: &mut [Vec<u8>]) {}
    fn stop(&mut self) -> Vec<String> {
        Vec::new()
    }
}
