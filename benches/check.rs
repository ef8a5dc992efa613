//! Criterion benchmarks of the engine (targets in README: a single `confirm` check on the
//! shipped rule set under 2 µs median).
//!
//! `cargo bench --bench check`

use criterion::{black_box, criterion_group, criterion_main, Criterion};

use rms_preflight::model::{read_document, Order};
use rms_preflight::{Action, Engine, Request, RuleSet, Timestamp};

fn order(postage: i64) -> Order {
    let doc = format!(
        r#"{{"orderNumber":"375055-20261130-00000001","orderProgress":100,
        "orderDatetime":"2026-11-29T10:00:00+0900","goodsPrice":3980,"goodsTax":0,
        "postagePrice":{postage},"deliveryPrice":0,"paymentCharge":0,"totalPrice":4640,
        "requestPrice":4640,"PackageModelList":[{{"basketId":1,"postagePrice":{postage},
        "deliveryPrice":0,"goodsPrice":3980,"totalPrice":4640}}]}}"#
    );
    serde_json::from_str(&doc).expect("a valid order")
}

fn request(action: Action, postage: i64) -> Request {
    let mut r = Request::new(action, Some(order(postage)));
    r.now = Some(
        "2026-11-30T12:00:00+09:00"
            .parse::<Timestamp>()
            .expect("a timestamp"),
    );
    r.shop.license_expires_at = Some("2027-01-31T23:59:59+09:00".parse().expect("a timestamp"));
    r
}

fn benches(c: &mut Criterion) {
    let engine = Engine::new(RuleSet::embedded().expect("the shipped rules load"));
    let allow = request(Action::Confirm, 660);
    let deny = request(Action::Confirm, -9999);
    let ship = request(Action::Ship, 660);

    c.bench_function("check/confirm-allow", |b| {
        b.iter(|| engine.check(black_box(&allow)))
    });
    c.bench_function("check/confirm-deny-s13", |b| {
        b.iter(|| engine.check(black_box(&deny)))
    });
    c.bench_function("check/ship", |b| b.iter(|| engine.check(black_box(&ship))));
    c.bench_function("explain/confirm-deny-s13", |b| {
        b.iter(|| engine.explain(black_box(&deny)))
    });
    let qps = r#"{"errors":[{"code":"GA0003","message":"Forbidden- Exceeded QPS Limitation"}]}"#;
    c.bench_function("classify/qps", |b| {
        b.iter(|| engine.classify(Some(403), black_box(qps)))
    });
    c.bench_function("load/embedded-rules", |b| b.iter(RuleSet::embedded));

    // Reading + checking a 1,000-order JSON batch, without the CLI's output.
    let mut batch = String::from(r#"{"shop":{},"now":"2026-11-30T12:00:00+09:00","requests":["#);
    for i in 0..1000 {
        if i > 0 {
            batch.push(',');
        }
        let postage = if i % 7 == 0 { -9999 } else { 660 };
        batch.push_str(&format!(
            r#"{{"action":"confirm","order":{{"orderNumber":"375055-20261130-{i:08}","orderProgress":100,"orderDatetime":"2026-11-29T10:00:00+0900","postagePrice":{postage},"totalPrice":4640}}}}"#
        ));
    }
    batch.push_str("]}");
    c.bench_function("read+check/1000-order-batch", |b| {
        b.iter(|| {
            let mut denied = 0usize;
            read_document(batch.as_bytes(), None, &mut |_, r| {
                if engine.check(&r).decision == rms_preflight::Decision::Deny {
                    denied += 1;
                }
                Ok(())
            })
            .expect("valid batch");
            denied
        })
    });
}

criterion_group!(check, benches);
criterion_main!(check);
