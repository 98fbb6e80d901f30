//! Reports: the serde model of summary.json (`model`) and its writers.
pub mod model;
pub mod plot;
