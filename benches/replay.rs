//! In-process replay cost per call (target in README: < 20 µs).
//!
//! `cargo bench --bench replay`

use std::path::PathBuf;

use criterion::{black_box, criterion_group, criterion_main, Criterion};

use rms_preflight::fixture::ReplayRms;
use rms_preflight::rms::wire::{ConfirmOrderRequest, GetOrderRequest};
use rms_preflight::rms::{RmsApi, RmsCall};

fn benches(c: &mut Criterion) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/cassettes");
    let replay =
        ReplayRms::from_files(&[dir.join("happy-path.yaml"), dir.join("confirm-errors.yaml")])
            .expect("the shipped cassettes load");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let confirm = serde_json::json!({"orderNumberList": ["375055-20261130-00000001"]});
    let body = serde_json::to_vec(&confirm).expect("json");

    c.bench_function("replay/match-only", |b| {
        b.iter(|| {
            replay
                .replayer()
                .answer("POST", "/es/2.0/order/confirmOrder/", black_box(&body))
        })
    });
    c.bench_function("replay/send-raw", |b| {
        b.iter(|| {
            rt.block_on(replay.send(RmsCall {
                function: "confirmOrder".into(),
                body: confirm.clone(),
            }))
        })
    });
    c.bench_function("replay/confirm_order-typed", |b| {
        let req = ConfirmOrderRequest {
            order_number_list: vec!["375055-20261130-00000001".into()],
        };
        b.iter(|| rt.block_on(replay.confirm_order(black_box(&req))))
    });
    c.bench_function("replay/get_order-typed", |b| {
        let req = GetOrderRequest {
            order_number_list: vec!["375055-20261130-00000001".into()],
            version: 7,
        };
        b.iter(|| rt.block_on(replay.get_order(black_box(&req))))
    });
}

criterion_group!(replay, benches);
criterion_main!(replay);
