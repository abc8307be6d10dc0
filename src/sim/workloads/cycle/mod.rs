//! Machinery shared by the transactional (cycle) checkers: dependency-graph algorithms
//! (`graph`) and Elle's consistency-model and anomaly tables ([`models`]).

pub(crate) mod graph;
pub mod models;
