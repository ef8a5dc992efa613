//! The snapshot cache: the orders the OMS's own `getOrder` reads showed, fresh for a
//! window, so a confirmation right after a read costs no second read.
//!
//! Keyed by (shop, order number as the batch check compares it). An entry is dropped when
//! the proxy sends a state-changing call for its order (RMS's answer changes the order),
//! and the cache holds at most [`SnapshotCache::capacity`] entries: when full, entries past
//! their window go first, then the oldest.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::model::{canonical_order_number, Order};

/// Fresh order snapshots by shop and order number.
#[derive(Debug)]
pub struct SnapshotCache {
    window: Duration,
    capacity: usize,
    entries: Mutex<Entries>,
}

type CacheKey = (String, String);

/// The entries, and their keys in the order they were put (oldest first): eviction takes
/// from the front in constant time, however full the cache is. A key put again, or
/// forgotten, leaves a dead item in the queue, skipped when it reaches the front.
#[derive(Debug, Default)]
struct Entries {
    map: HashMap<CacheKey, (Instant, Order)>,
    queue: VecDeque<(Instant, CacheKey)>,
}

impl Entries {
    /// Drops entries past `window`, then the oldest while more than `capacity` are held.
    fn evict(&mut self, now: Instant, window: Duration, capacity: usize) {
        while let Some((at, key)) = self.queue.front() {
            let live = self.map.get(key).is_some_and(|(put, _)| put == at);
            let expired = now.duration_since(*at) >= window;
            if live && !expired && self.map.len() <= capacity {
                break;
            }
            if live {
                self.map.remove(key);
            }
            self.queue.pop_front();
        }
        // Dead items (keys put again within the window) are bounded too: rebuild the
        // queue from the live entries when they outnumber them.
        if self.queue.len() > 2 * capacity.max(self.map.len()) {
            let mut live: Vec<(Instant, CacheKey)> = self
                .map
                .iter()
                .map(|(k, (at, _))| (*at, k.clone()))
                .collect();
            live.sort();
            self.queue = live.into();
        }
    }
}

impl SnapshotCache {
    /// A cache whose entries count as fresh for `window` (zero: no cache).
    pub fn new(window: Duration, capacity: usize) -> Self {
        SnapshotCache {
            window,
            capacity: capacity.max(1),
            entries: Mutex::new(Entries::default()),
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
            let key = (shop.to_owned(), canonical_order_number(number));
            entries.queue.push_back((now, key.clone()));
            entries.map.insert(key, (now, order.clone()));
        }
        entries.evict(now, self.window, self.capacity);
    }

    /// The snapshot of `number`, if one was read within the window.
    pub fn get(&self, shop: &str, number: &str) -> Option<Order> {
        let entries = self.entries.lock().ok()?;
        let (at, order) = entries
            .map
            .get(&(shop.to_owned(), canonical_order_number(number)))?;
        (at.elapsed() < self.window).then(|| order.clone())
    }

    /// Forgets `numbers` of `shop` (a call that changes them was sent).
    /// Takes the fresh snapshots of `numbers` (canonical order numbers) out of the cache,
    /// under one lock, each with the time it was read: a confirmation moves each into its
    /// check (no copy), and [`SnapshotCache::restore`] puts back those it did not send.
    pub fn take(&self, shop: &str, numbers: &[String]) -> Vec<Option<(Instant, Order)>> {
        let Ok(mut entries) = self.entries.lock() else {
            return numbers.iter().map(|_| None).collect();
        };
        let mut key = (shop.to_owned(), String::new());
        let now = Instant::now();
        numbers
            .iter()
            .map(|n| {
                n.clone_into(&mut key.1);
                let (at, order) = entries.map.remove(&key)?;
                (now.saturating_duration_since(at) < self.window).then_some((at, order))
            })
            .collect()
    }

    /// Puts back snapshots [`SnapshotCache::take`] took and nothing changed at RMS (their
    /// orders were not sent), as old as they were, unless a newer one came meanwhile.
    pub fn restore(&self, shop: &str, taken: Vec<(String, Instant, Order)>) {
        if taken.is_empty() {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        for (number, at, order) in taken {
            if at.elapsed() >= self.window {
                continue;
            }
            let key = (shop.to_owned(), number);
            if entries.map.contains_key(&key) {
                continue;
            }
            entries.queue.push_back((at, key.clone()));
            entries.map.insert(key, (at, order));
        }
        entries.evict(Instant::now(), self.window, self.capacity);
    }

    pub fn forget(&self, shop: &str, numbers: &[String]) {
        if let Ok(mut entries) = self.entries.lock() {
            for n in numbers {
                entries
                    .map
                    .remove(&(shop.to_owned(), canonical_order_number(n)));
            }
        }
    }

    /// Forgets every snapshot of `shop` (after an answer that does not say which orders
    /// it was about).
    pub fn forget_shop(&self, shop: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.map.retain(|(s, _), _| s != shop);
        }
    }

    /// Entries held now (fresh or not).
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.map.len()).unwrap_or(0)
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

    /// A confirmation takes its snapshots out (no copy) and puts back those it did not
    /// send, as old as they were; a newer snapshot that came meanwhile is kept.
    #[tokio::test(start_paused = true)]
    async fn taken_snapshots_come_back_as_old_as_they_were() {
        let cache = SnapshotCache::new(Duration::from_secs(30), 10);
        cache.put("s", &[order("a"), order("b")]);
        tokio::time::advance(Duration::from_secs(20)).await;
        let taken = cache.take("s", &["a".into(), "b".into(), "c".into()]);
        assert!(taken[0].is_some() && taken[1].is_some() && taken[2].is_none());
        assert!(cache.get("s", "a").is_none(), "taken out");
        let mut taken = taken.into_iter().flatten();
        let (a_at, a) = taken.next().unwrap();
        let (b_at, b) = taken.next().unwrap();
        cache.put("s", &[order("b")]); // read again meanwhile
        cache.restore("s", vec![("a".into(), a_at, a), ("b".into(), b_at, b)]);
        assert!(cache.get("s", "a").is_some(), "put back");
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(cache.get("s", "a").is_none(), "as old as it was: stale now");
        assert!(cache.get("s", "b").is_some(), "the newer one was kept");
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_cache_evicts_the_oldest_and_stays_bounded() {
        let cache = SnapshotCache::new(Duration::from_secs(30), 3);
        cache.put("s", &[order("a"), order("b"), order("c")]);
        tokio::time::advance(Duration::from_secs(1)).await;
        // `a` is put again: now the newest, so `b` goes first.
        cache.put("s", &[order("a")]);
        cache.put("s", &[order("d")]);
        assert!(cache.get("s", "b").is_none());
        assert!(cache.get("s", "a").is_some() && cache.get("s", "c").is_some());
        // The same key put over and over leaves no unbounded queue behind.
        for _ in 0..1000 {
            cache.put("s", &[order("a")]);
        }
        let held = cache.entries.lock().unwrap();
        assert_eq!(held.map.len(), 3);
        assert!(held.queue.len() <= 6, "queue {}", held.queue.len());
    }
}
