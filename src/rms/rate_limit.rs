//! A client-side rate limiter, so the shop never earns `Forbidden-Exceeded QPS
//! Limitation` (S20) by itself. Time comes from tokio's clock, so tests can pause it.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Spaces calls at least `interval` apart (default: the rules' `timing.request_interval`).
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    pub fn new(interval: Duration) -> Self {
        RateLimiter {
            interval,
            next: Mutex::new(None),
        }
    }

    /// Waits until the next call may go.
    pub async fn acquire(&self) {
        if self.interval.is_zero() {
            return;
        }
        let wait_until = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let slot = match *next {
                Some(t) if t > now => t,
                _ => now,
            };
            *next = Some(slot + self.interval);
            slot
        };
        tokio::time::sleep_until(wait_until).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spaces_calls_by_the_interval() {
        let limiter = RateLimiter::new(Duration::from_secs(1));
        let start = Instant::now();
        for _ in 0..5 {
            limiter.acquire().await;
        }
        // The first goes at once, the next four one second apart.
        assert_eq!(start.elapsed(), Duration::from_secs(4));
    }
}
