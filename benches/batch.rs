//! The 100,000-order JSON batch (the shape `benches/gen_batch.py` writes) through the
//! library path `check --format json` uses — read the file, check every request, write the
//! JSON results through the CLI's writer into a discarding sink — against the floor:
//! reading the same file into equivalent Rust structs (the crate's own `Shop`, `Order`,
//! `OmsState`…) with `serde_json::from_slice`. Both are timed alternately in one run; the
//! ratio of the medians is the figure (absolute times on a shared machine are noise).
//!
//! `cargo bench --bench batch` (`BATCH_ORDERS=1000000`, `BATCH_ROUNDS=9` to change)

use std::io::{BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Deserialize;

use rms_preflight::model::{set_json_fast_path, Action, OmsState, Order, Shop, Timestamp};
use rms_preflight::render::{check_document, CheckOptions, JsonWriter};
use rms_preflight::{Engine, Lang, RuleSet};

// The allocator the binary runs with (src/main.rs): both ways run with it.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The batch of `benches/gen_batch.py`, byte for byte.
fn write_batch(path: &PathBuf, n: usize) -> std::io::Result<()> {
    let mut out = BufWriter::new(std::fs::File::create(path)?);
    out.write_all(
        br#"{"shop":{"api_option":false,"license_expires_at":"2027-01-31T23:59:59+09:00"},"#,
    )?;
    out.write_all(b"\"now\":\"2026-11-30T12:00:00+09:00\",\"requests\":[\n")?;
    for i in 0..n {
        let postage: i64 = if i % 7 == 0 { -9999 } else { 660 };
        let total = if postage > 0 { 4640 } else { -9999 };
        let confirmed = i % 11 == 0;
        let label = if confirmed { "processing" } else { "none" };
        writeln!(
            out,
            r#"{}{{"action":"confirm","order":{{"orderNumber":"375055-20261130-{i:08}","orderProgress":100,"orderDatetime":"2026-11-29T10:00:00+0900","goodsPrice":3980,"postagePrice":{postage},"totalPrice":{total},"requestPrice":{total},"PackageModelList":[{{"basketId":{i},"postagePrice":{postage},"goodsPrice":3980}}]}},"oms":{{"confirm_sent":{confirmed},"label":"{label}"}}}}"#,
            if i > 0 { "," } else { "" }
        )?;
    }
    out.write_all(b"]}\n")?;
    out.flush()
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct FloorDocument {
    shop: Shop,
    now: Option<Timestamp>,
    requests: Vec<FloorEntry>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct FloorEntry {
    action: Action,
    order: Option<Order>,
    #[serde(default)]
    oms: OmsState,
}

fn floor(path: &PathBuf) -> usize {
    let bytes = std::fs::read(path).expect("the batch file");
    let doc: FloorDocument = serde_json::from_slice(&bytes).expect("a valid batch");
    std::hint::black_box(&doc);
    doc.requests.len()
}

fn cli_path(engine: &Engine, path: &PathBuf) -> usize {
    let file = std::fs::File::open(path).expect("the batch file");
    let reader = BufReader::with_capacity(1 << 16, file);
    let mut writer = JsonWriter::new(Lang::Ja);
    let mut out = BufWriter::new(std::io::sink());
    let options = CheckOptions {
        format: None,
        explain: false,
        now: Timestamp::now_jst(),
        stop_on_write_error: false,
    };
    let run = check_document(
        engine,
        reader,
        &options,
        &mut writer,
        &mut out,
        &mut |_, _| {},
    );
    run.read.expect("a valid batch");
    out.flush().expect("the sink");
    run.summary.total()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument that names neither runs nothing.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args
        .iter()
        .any(|a| !a.starts_with('-') && !"batch".contains(a.as_str()))
    {
        return;
    }
    let n: usize = std::env::var("BATCH_ORDERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let rounds: usize = std::env::var("BATCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(9);
    let path = std::env::temp_dir().join(format!("rms-preflight-bench-batch-{n}.json"));
    write_batch(&path, n).expect("writing the batch");
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let engine = Engine::new(RuleSet::embedded().expect("the shipped rules load"));

    // Warm-up (page cache, allocator).
    assert_eq!(floor(&path), n);
    assert_eq!(cli_path(&engine, &path), n);

    // `BATCH_ONLY=cli`: only the CLI path, for a profiler (`perf record`).
    if std::env::var("BATCH_ONLY").as_deref() == Ok("cli") {
        for _ in 0..rounds {
            cli_path(&engine, &path);
        }
        let _ = std::fs::remove_file(&path);
        return;
    }
    let (mut floors, mut cli, mut ratios, mut tracked) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        floor(&path);
        let f = t.elapsed();
        let t = Instant::now();
        cli_path(&engine, &path);
        let c = t.elapsed();
        // The same with the JSON fast path off: the path-tracking reader over the stream
        // alone, as before the fast path.
        set_json_fast_path(false);
        let t = Instant::now();
        cli_path(&engine, &path);
        tracked.push(t.elapsed());
        set_json_fast_path(true);
        floors.push(f);
        cli.push(c);
        ratios.push(c.as_secs_f64() / f.as_secs_f64());
    }
    let (f, c, s) = (median(floors), median(cli), median(tracked));
    ratios.sort_by(f64::total_cmp);
    println!(
        "batch/{n}-orders ({:.1} MB, {rounds} rounds, medians)",
        size as f64 / 1e6
    );
    println!("  floor: fs::read + serde_json::from_slice into structs  {f:>10.1?}");
    println!("  check --format json path (read + check + JSON to sink) {c:>10.1?}");
    println!(
        "  ratio of medians {:.2}x   (per-round ratios {:.2}x .. {:.2}x, median {:.2}x)",
        c.as_secs_f64() / f.as_secs_f64(),
        ratios[0],
        ratios[ratios.len() - 1],
        ratios[ratios.len() / 2]
    );
    println!(
        "  the same, JSON fast path off (path-tracking stream reader) {s:>10.1?}: {:.2}x the floor",
        s.as_secs_f64() / f.as_secs_f64()
    );
    let _ = std::fs::remove_file(&path);
}
