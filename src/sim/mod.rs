//! The simulator: a stateful RMS ([`SimRms`]), the OMS that drives it through the real
//! [`Guard`](crate::guard::Guard), scenario files, and random exploration.

pub mod clock;
pub mod explore;
pub mod oms;
pub mod report;
pub mod rms;
mod rng;
pub mod runner;
pub mod scenario;

pub use clock::SimClock;
pub use oms::{ActionResult, Oms, OmsOrder};
pub use rms::{FaultKind, FaultRule, RandomFaults, SimConfig, SimHandler, SimRms};
