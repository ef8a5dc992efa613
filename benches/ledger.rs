//! Ledger claims per second (issue 10's targets: ≥ 5,000 orders/s on SQLite, ≥ 2,000 on
//! PostgreSQL), as the guard uses the ledger: one claim batch per chunk of up to 100
//! orders, then one mark batch with the outcomes. Every order is new (a claim that wins).
//!
//! `cargo bench --bench ledger` — SQLite on a file under the temp dir (WAL, the default
//! `synchronous = NORMAL`; `LEDGER_BENCH_SQLITE_OPTIONS='?synchronous=full'` makes each
//! batch wait for the disk); PostgreSQL too when
//! `RMS_PREFLIGHT_TEST_POSTGRES` names a database (`bash .ci/with-postgres cargo bench
//! --bench ledger` starts a throwaway one, with fsync off).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use rms_preflight::ledger::{self, Key, Ledger, Mark};
use rms_preflight::Action;

/// Claims `n` fresh orders in one batch and, when `mark`, marks them confirmed.
async fn round(ledger: &dyn Ledger, shop: &str, next: &AtomicUsize, n: usize, mark: bool) {
    let start = next.fetch_add(n, Ordering::Relaxed);
    let keys: Vec<Key> = (start..start + n)
        .map(|i| Key::new(shop, &format!("375055-20261130-{i:08}"), Action::Confirm))
        .collect();
    let claims = ledger.claim(&keys).await.expect("claim");
    if mark {
        let marks: Vec<_> = claims
            .into_iter()
            .filter_map(|c| c.ticket().cloned())
            .map(|t| (t, Mark::Confirmed))
            .collect();
        assert_eq!(marks.len(), n, "every claim of a fresh order wins");
        ledger.mark(&marks).await.expect("mark");
    }
}

fn bench_backend(c: &mut Criterion, rt: &tokio::runtime::Runtime, name: &str, url: &str) {
    let ledger: Arc<dyn Ledger> = rt.block_on(ledger::open(url)).expect("the ledger opens");
    let shop = format!(
        "bench-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let next = AtomicUsize::new(0);
    let mut group = c.benchmark_group(format!("ledger/{name}"));
    for (label, n, mark) in [
        ("claim 100 (one batch)", 100, false),
        ("claim + mark 100 (a guard's chunk)", 100, true),
        ("claim + mark 1 (one order at a time)", 1, true),
    ] {
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(label, |b| {
            b.iter(|| rt.block_on(round(&*ledger, &shop, &next, n, mark)))
        });
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let dir =
        std::env::temp_dir().join(format!("rms-preflight-bench-ledger-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    // `LEDGER_BENCH_SQLITE_OPTIONS=?synchronous=full` measures the other durability setting.
    let url = format!(
        "sqlite:{}{}",
        dir.join("ledger.db").display(),
        std::env::var("LEDGER_BENCH_SQLITE_OPTIONS").unwrap_or_default()
    );
    bench_backend(c, &rt, "sqlite", &url);
    match std::env::var("RMS_PREFLIGHT_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => bench_backend(c, &rt, "postgres", &url),
        _ => eprintln!("ledger/postgres: skipped (RMS_PREFLIGHT_TEST_POSTGRES not set)"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group! {
    name = ledger_benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = benches
}
criterion_main!(ledger_benches);
