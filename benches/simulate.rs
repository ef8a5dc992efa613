//! The simulator at scale: 10,000 orders through a 24-hour virtual day — every order
//! confirmed in bulk (S3, chunks of 100), screened, then polled every 5 minutes (288
//! polls) — target in README: under 5 s. Bounded: it runs once and prints its figures.
//!
//! `cargo bench --bench simulate` (`ORDERS=10000` to change the size)

use std::sync::Arc;
use std::time::Instant;

use rms_preflight::sim::Oms;
use rms_preflight::sim::{SimClock, SimConfig, SimRms};
use rms_preflight::{Engine, OmsState, RuleSet, Shop};

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let orders: usize = std::env::var("ORDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 500 } else { 10_000 });
    let engine = Arc::new(Engine::new(
        RuleSet::embedded().expect("the shipped rules load"),
    ));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a runtime");
    let wall = Instant::now();
    let (polls, calls, processed) = rt.block_on(async {
        let start = "2026-11-30T00:00:00+09:00".parse().expect("a timestamp");
        let sim = Arc::new(SimRms::new(
            engine.clone(),
            SimClock::new(start),
            SimConfig::default(),
        ));
        let mut oms = Oms::new(engine.clone(), sim.clone(), Shop::default());
        let mut numbers = Vec::with_capacity(orders);
        for i in 0..orders {
            let n = format!("375055-20261130-{i:08}");
            let order = serde_json::json!({
                "orderNumber": n, "orderProgress": 100, "orderDatetime": "2026-11-29T23:00:00+0900",
                "goodsPrice": 3980, "postagePrice": 660, "totalPrice": 4640, "requestPrice": 4640,
                "PackageModelList": [{"basketId": i, "postagePrice": 660, "goodsPrice": 3980}]
            });
            let map = order.as_object().expect("an object").clone();
            sim.add_order(map.clone()).expect("a valid order");
            oms.import(map, OmsState::default());
            numbers.push(n);
        }
        oms.confirm(&numbers).await.expect("known orders");
        oms.advance("24h".parse().expect("a duration")).await;
        let processed = oms
            .orders()
            .filter(|(_, o)| o.state.label == rms_preflight::Label::Processed)
            .count();
        (oms.polls(), sim.call_count(), processed)
    });
    let elapsed = wall.elapsed();
    assert_eq!(processed, orders, "every order reached 【楽天処理済】");
    println!(
        "simulate: {orders} orders through a 24-hour virtual day ({polls} polls, {calls} RMS calls) in {:.3} s",
        elapsed.as_secs_f64()
    );
}
