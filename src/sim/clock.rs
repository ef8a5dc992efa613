//! The simulator's clock: tokio's, read as a calendar time.
//!
//! `now = start + (tokio::time::Instant::now() - origin)`. Under a paused tokio runtime
//! (scenarios, exploration, tests) time moves only when the simulator advances it or when
//! every task waits — so a 24-hour scenario runs in milliseconds, and the guard's own
//! waits (a QPS back-off) move the same clock. Under a normal runtime (`sim-server`) it
//! is real time from `start`.

use std::time::Duration;

use tokio::time::Instant;

use crate::guard::Clock;
use crate::model::Timestamp;

/// A single-threaded tokio runtime whose clock starts paused: virtual time for a scenario
/// or an exploration (time moves when the simulation advances it or every task waits).
pub fn paused_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
}

/// One clock for the simulated RMS, the simulated OMS and the guard.
#[derive(Debug, Clone, Copy)]
pub struct SimClock {
    start: Timestamp,
    origin: Instant,
}

impl SimClock {
    /// A clock that reads `start` now.
    pub fn new(start: Timestamp) -> Self {
        SimClock {
            start,
            origin: Instant::now(),
        }
    }

    /// Time elapsed since the start.
    pub fn elapsed(&self) -> Duration {
        Instant::now().saturating_duration_since(self.origin)
    }

    /// The current calendar time.
    pub fn now(&self) -> Timestamp {
        let secs = i64::try_from(self.elapsed().as_secs()).unwrap_or(i64::MAX);
        Timestamp::from_unix(
            self.start.unix_seconds().saturating_add(secs),
            self.start.offset_seconds(),
        )
    }

    /// The tokio instant of a calendar time (never before the origin).
    pub fn instant_of(&self, t: Timestamp) -> Instant {
        let secs = t
            .unix_seconds()
            .saturating_sub(self.start.unix_seconds())
            .max(0);
        self.origin + Duration::from_secs(secs.unsigned_abs())
    }
}

impl Clock for SimClock {
    fn now(&self) -> Timestamp {
        SimClock::now(self)
    }
}

/// A `model::Duration` as a std duration (negative → zero).
pub fn std_duration(d: crate::model::Duration) -> Duration {
    Duration::from_secs(d.as_secs().max(0).unsigned_abs())
}
