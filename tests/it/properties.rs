//! Properties: the parser round-trips and never panics; the engine never panics and is
//! deterministic, on requests no human would write.

use proptest::prelude::*;

use rms_preflight::expr::{parse_expr, BinaryOp, Expr, ExprKind, Span, UnaryOp, KEYWORDS};
use rms_preflight::model::{Duration, Order, Package};
use rms_preflight::{Action, Engine, Label, OmsState, Request, RuleSet, Shop, Timestamp};

fn node(kind: ExprKind) -> Expr {
    Expr {
        kind,
        span: Span::default(),
    }
}

fn ident() -> impl Strategy<Value = String> {
    "[a-zA-Z_][a-zA-Z0-9_]{0,8}".prop_filter("not a keyword", |s| !KEYWORDS.contains(&s.as_str()))
}

fn leaf() -> impl Strategy<Value = Expr> {
    prop_oneof![
        (i64::MIN + 1..=i64::MAX).prop_map(|n| node(ExprKind::Int(n))),
        Just(node(ExprKind::Int(-9999))),
        any::<String>().prop_map(|s| node(ExprKind::Str(s))),
        any::<bool>().prop_map(|b| node(ExprKind::Bool(b))),
        Just(node(ExprKind::Null)),
        (0i64..1_000_000_000).prop_map(|s| node(ExprKind::Duration(Duration::from_secs(s)))),
        prop::collection::vec(ident(), 1..4).prop_map(|p| node(ExprKind::Path(p))),
    ]
}

fn binary_op() -> impl Strategy<Value = BinaryOp> {
    prop_oneof![
        Just(BinaryOp::Or),
        Just(BinaryOp::And),
        Just(BinaryOp::Eq),
        Just(BinaryOp::Ne),
        Just(BinaryOp::Lt),
        Just(BinaryOp::Le),
        Just(BinaryOp::Gt),
        Just(BinaryOp::Ge),
        Just(BinaryOp::In),
        Just(BinaryOp::Add),
        Just(BinaryOp::Sub),
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(5, 48, 4, |inner| {
        prop_oneof![
            (binary_op(), inner.clone(), inner.clone())
                .prop_map(|(op, l, r)| node(ExprKind::Binary(op, Box::new(l), Box::new(r)))),
            inner
                .clone()
                .prop_map(|e| node(ExprKind::Unary(UnaryOp::Not, Box::new(e)))),
            inner
                .clone()
                .prop_map(|e| node(ExprKind::Unary(UnaryOp::Neg, Box::new(e)))),
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| node(ExprKind::List(v))),
            (ident(), prop::collection::vec(inner.clone(), 0..3))
                .prop_map(|(f, args)| node(ExprKind::Call(f, args))),
            (ident(), inner.clone(), ident(), inner).prop_map(|(f, list, p, body)| {
                let lambda = node(ExprKind::Lambda(p, Box::new(body)));
                node(ExprKind::Call(f, vec![list, lambda]))
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn print_then_parse_is_identity(e in expr()) {
        let text = e.to_string();
        let back = parse_expr(&text).map_err(|err| TestCaseError::fail(format!("{text}: {err}")))?;
        prop_assert_eq!(back, e, "{}", text);
    }

    #[test]
    fn parser_never_panics_on_any_string(s in "\\PC{0,64}") {
        let _ = parse_expr(&s);
    }

    #[test]
    fn parser_never_panics_on_near_expressions(
        s in r#"[a-z. ()\[\],"=!<>+\-0-9dmhs_]{0,48}|(not |and |or |in |=> )*"#
    ) {
        if let Ok(e) = parse_expr(&s) {
            // Whatever parses must print to something that parses to the same tree.
            prop_assert_eq!(parse_expr(&e.to_string()).ok(), Some(e));
        }
    }
}

fn amount() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![
        Just(None),
        Just(Some(-9999)),
        any::<i64>().prop_map(Some),
        (0i64..100_000).prop_map(Some),
    ]
}

fn timestamp() -> impl Strategy<Value = Option<Timestamp>> {
    prop_oneof![
        Just(None),
        any::<i64>().prop_map(|s| Some(Timestamp::from_unix(s, 9 * 3600))),
        (1_700_000_000i64..1_900_000_000).prop_map(|s| Some(Timestamp::from_unix(s, 9 * 3600))),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    let order = (
        prop_oneof![
            Just(100i64),
            Just(200),
            Just(300),
            Just(500),
            Just(800),
            Just(900),
            any::<i64>()
        ],
        timestamp(),
        prop::collection::vec(amount(), 12),
        prop::collection::vec(prop::collection::vec(amount(), 5), 0..3),
    )
        .prop_map(|(progress, dt, a, packages)| Order {
            order_number: Some("375055-20261130-00000001".into()),
            order_progress: progress,
            order_datetime: dt,
            goods_price: a[0],
            goods_tax: a[1],
            postage_price: a[2],
            delivery_price: a[3],
            payment_charge: a[4],
            total_price: a[5],
            request_price: a[6],
            coupon_shop_price: a[7],
            coupon_other_price: a[8],
            additional_fee_occur_amount_to_user: a[9],
            additional_fee_occur_amount_to_shop: a[10],
            coupon_all_total_price: a[11],
            package_model_list: packages
                .into_iter()
                .map(|p| Package {
                    basket_id: Some(1),
                    postage_price: p[0],
                    delivery_price: p[1],
                    goods_tax: p[2],
                    goods_price: p[3],
                    total_price: p[4],
                    ..Package::default()
                })
                .collect(),
            ..Order::default()
        });
    let shop = (
        any::<bool>(),
        any::<i64>(),
        prop::option::of(any::<i64>()),
        timestamp(),
        timestamp(),
    )
        .prop_map(
            |(api_option, import_status, import_days, license_expires_at, license_issued_at)| {
                Shop {
                    api_option,
                    import_status,
                    import_days,
                    license_expires_at,
                    license_issued_at,
                }
            },
        );
    let oms = (
        any::<[bool; 4]>(),
        prop_oneof![
            Just(Label::None),
            Just(Label::Processing),
            Just(Label::Processed)
        ],
        prop::option::of("[A-Z0-9-]{1,8}"),
        prop::option::of(prop_oneof![
            Just("qps_limit".to_string()),
            Just("maintenance".to_string()),
            Just("unrecognised".to_string())
        ]),
    )
        .prop_map(|(b, label, bundle_id, last_error)| OmsState {
            confirm_sent: b[0],
            label,
            bundle_id,
            modified_after_processed: b[1],
            confirmed_in_rms: b[2],
            unreflected_changes: b[3],
            last_error,
        });
    (
        prop::sample::select(Action::ALL.to_vec()),
        order,
        shop,
        oms,
        timestamp(),
    )
        .prop_map(|(action, order, shop, oms, now)| Request {
            shop,
            now,
            action,
            order: Some(order),
            oms,
            batch: Default::default(),
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn engine_is_total_and_deterministic(req in request()) {
        thread_local! {
            static ENGINE: Engine = Engine::new(RuleSet::embedded().unwrap());
        }
        ENGINE.with(|engine| {
            let first = engine.check(&req);
            let second = engine.check(&req.clone());
            prop_assert_eq!(&first, &second);
            // Explaining does not change the answer.
            let explained = engine.explain(&req);
            prop_assert_eq!(&explained.verdict, &first);
            prop_assert_eq!(explained.rules.iter().filter(|r| r.fired).count(), first.findings.len());
            // A denial always carries a remedy.
            for f in &first.findings {
                prop_assert!(f.remedies.iter().map(|r| r.steps.len()).sum::<usize>() > 0, "{}", f.rule);
            }
            Ok(())
        })?;
    }
}
