//! The snapshot cache: the orders the OMS's own `getOrder` reads showed, fresh for a
//! window, so a confirmation right after a read costs no second read.
//!
//! Keyed by (shop, order number as the batch check compares it). An entry is dropped when
//! the proxy sends a state-changing call for its order (RMS's answer changes the order),
//! and the cache holds at most [`SnapshotCache::capacity`] entries: when full, entries past
//! their window go first, then the oldest.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::model::{canonical_order_number, Order};

/// Fresh order snapshots by shop and order number.
#[derive(Debug)]
pub struct SnapshotCache {
    window: Duration,
    capacity: usize,
    entries: Mutex<HashMap<(String, String), (Instant, Order)>>,
}

impl SnapshotCache {
    /// A cache whose entries count as fresh for `window` (zero: no cache).
    pub fn new(window: Duration, capacity: usize) -> Self {
        SnapshotCache {
            window,
            capacity: capacity.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Most entries held at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Remembers `orders` of `shop`, read now.
    pub fn put(&self, shop: &str, orders: &[Order]) {
        if self.window.is_zero() {
            return;
        }
        let now = Instant::now();
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        for order in orders {
            let Some(number) = order.order_number.as_deref() else {
                continue;
            };
            if entries.len() >= self.capacity {
                let window = self.window;
                entries.retain(|_, (at, _)| now.duration_since(*at) < window);
            }
            if entries.len() >= self.capacity {
                let oldest = entries
                    .iter()
                    .min_by_key(|(_, (at, _))| *at)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    entries.remove(&k);
                }
            }
            entries.insert(
                (shop.to_owned(), canonical_order_number(number)),
                (now, order.clone()),
            );
        }
    }

    /// The snapshot of `number`, if one was read within the window.
    pub fn get(&self, shop: &str, number: &str) -> Option<Order> {
        let entries = self.entries.lock().ok()?;
        let (at, order) = entries.get(&(shop.to_owned(), canonical_order_number(number)))?;
        (at.elapsed() < self.window).then(|| order.clone())
    }

    /// Forgets `numbers` of `shop` (a call that changes them was sent).
    pub fn forget(&self, shop: &str, numbers: &[String]) {
        if let Ok(mut entries) = self.entries.lock() {
            for n in numbers {
                entries.remove(&(shop.to_owned(), canonical_order_number(n)));
            }
        }
    }

    /// Entries held now (fresh or not).
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(n: &str) -> Order {
        Order {
            order_number: Some(n.into()),
            order_progress: 100,
            ..Order::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn entries_are_fresh_for_the_window_and_bounded() {
        let cache = SnapshotCache::new(Duration::from_secs(30), 2);
        cache.put("s", &[order("a"), order("b")]);
        assert!(
            cache.get("s", " a ").is_some(),
            "trimmed numbers are one order"
        );
        assert!(cache.get("t", "a").is_none(), "shops are apart");
        tokio::time::advance(Duration::from_secs(31)).await;
        assert!(cache.get("s", "a").is_none(), "stale");
        cache.put("s", &[order("c")]);
        assert_eq!(cache.len(), 1, "stale entries make room");
        cache.put("s", &[order("d"), order("e")]);
        assert_eq!(cache.len(), 2);
        cache.forget("s", &["e".into()]);
        assert!(cache.get("s", "e").is_none());
    }
}
