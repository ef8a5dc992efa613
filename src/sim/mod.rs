//! The simulator: a stateful RMS ([`SimRms`]), the OMS that drives it through the real
//! [`Guard`](crate::guard::Guard), scenario files, and random exploration.

pub mod clock;
pub mod rms;

pub use clock::SimClock;
pub use rms::{FaultKind, FaultRule, RandomFaults, SimConfig, SimHandler, SimRms};
