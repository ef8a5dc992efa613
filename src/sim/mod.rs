//! The simulator: a stateful RMS ([`SimRms`]), the OMS that drives it through the real
//! [`Guard`](crate::guard::Guard), scenario files, and random exploration.

//!
//! The public surface is the scenario format ([`scenario`]), its reports ([`report`]) and
//! the re-exports below; the rest (the clock, the OMS's internals, the simulated RMS's
//! seams, the runner and the explorer) stays inside.

mod clock;
pub mod coverage;
mod explore;
pub mod html;
mod oms;
pub mod report;
mod rms;
mod rng;
mod runner;
pub mod scenario;

pub use clock::{paused_runtime, SimClock};
pub use explore::{
    explore, first_violation, generate, shrink, ExploreConfig, ExploreResult, Played, Shrunk,
    Violation,
};
pub use oms::{ActionResult, Oms, OmsOrder};
pub use rms::{
    rms_time, CallRecord, FaultKind, FaultRule, Moved, RandomFaults, SimConfig, SimHandler, SimRms,
};
pub use runner::{
    build as build_oms, run_scenario, CallTrace, Mismatch, OrderAfter, RunOptions, ScenarioReport,
    StepKind, StepReport, StepTrace,
};
