//! Evaluating a [`Compiled`] guard against a request: no IO, no allocation (unless a
//! [`Trace`] records what was read, for `check --explain`).

use std::fmt;

use super::check::{Compiled, Const, Node, MAX_LAMBDA_DEPTH};
use super::value::Value;
use super::vocabulary::{Base, FieldDef, PackageFieldDef, FIELDS, PACKAGE_FIELDS};
use crate::expr::BinaryOp;
use crate::model::{Package, Request};

/// A named set of fields that hold a sentinel value when RMS has not set them
/// (RMS's `-9999`); built by the engine from the rules file's `sentinels` table.
#[derive(Debug, Clone)]
pub struct SentinelGroup {
    pub name: String,
    pub value: i64,
    pub order_fields: Vec<&'static FieldDef>,
    pub package_fields: Vec<&'static PackageFieldDef>,
    /// Every other integer of the order too (typed or not), but for `except_*`.
    pub anywhere: bool,
    /// Fields left to other groups (`except:` in the rules file).
    pub except_order_fields: Vec<&'static FieldDef>,
    pub except_package_fields: Vec<&'static PackageFieldDef>,
    /// The order and package fields [`hits`](Self::hits) reads, in its order: computed
    /// once by [`prepare`](Self::prepare) from the lists above.
    pub scan_order_fields: Vec<&'static FieldDef>,
    pub scan_package_fields: Vec<&'static PackageFieldDef>,
}

/// Whether any integer a sentinel search can read — every integer field of the order and
/// of its packages the vocabulary names, and the unknown negative keys kept while reading —
/// is below zero. Sentinels are negative (RMS's `-9999`) and `negative(…)` looks for
/// values below zero, so an order without one skips both searches (most orders).
fn any_negative(o: &crate::model::Order) -> bool {
    let neg = |v: Option<i64>| v.is_some_and(|n| n < 0);
    o.order_progress < 0
        || [
            o.sub_status_id,
            o.goods_price,
            o.goods_tax,
            o.postage_price,
            o.delivery_price,
            o.payment_charge,
            o.total_price,
            o.request_price,
            o.coupon_all_total_price,
            o.coupon_shop_price,
            o.coupon_other_price,
            o.additional_fee_occur_amount_to_user,
            o.additional_fee_occur_amount_to_shop,
            o.isolated_island_flag,
            o.rakuten_confirm_flag,
            o.modify_flag,
        ]
        .into_iter()
        .any(neg)
        || !o.other_negatives.is_empty()
        || o.package_model_list.iter().any(|p| {
            [
                p.basket_id,
                p.postage_price,
                p.delivery_price,
                p.goods_tax,
                p.goods_price,
                p.total_price,
            ]
            .into_iter()
            .any(neg)
                || !p.other_negatives.is_empty()
        })
}

impl SentinelGroup {
    /// Computes the fields [`hits`](Self::hits) reads (after the lists are final).
    pub fn prepare(&mut self) {
        let is_listed = |f: &FieldDef| {
            self.order_fields.iter().any(|d| std::ptr::eq(*d, f))
                || self.except_order_fields.iter().any(|d| std::ptr::eq(*d, f))
        };
        let order: Vec<&'static FieldDef> = self
            .order_fields
            .iter()
            .copied()
            .chain(
                FIELDS
                    .iter()
                    .filter(|f| self.anywhere && f.needs_order() && f.ty.base == Base::Int)
                    .filter(|f| !is_listed(f)),
            )
            .collect();
        let is_listed_p = |f: &PackageFieldDef| {
            self.package_fields.iter().any(|d| std::ptr::eq(*d, f))
                || self
                    .except_package_fields
                    .iter()
                    .any(|d| std::ptr::eq(*d, f))
        };
        let package: Vec<&'static PackageFieldDef> = self
            .package_fields
            .iter()
            .copied()
            .chain(
                PACKAGE_FIELDS
                    .iter()
                    .filter(|f| self.anywhere && f.ty.base == Base::Int)
                    .filter(|f| !is_listed_p(f)),
            )
            .collect();
        self.scan_order_fields = order;
        self.scan_package_fields = package;
    }

    /// Calls `hit` with the path and value of every field of `order` that holds the
    /// sentinel, in a stable order: listed order fields, then (for `anywhere`) the other
    /// typed ones, then unknown keys; then each package the same way. Stops when `hit`
    /// returns `false`. Returns whether anything was hit.
    pub fn hits(
        &self,
        request: &Request,
        mut hit: impl FnMut(fmt::Arguments<'_>, i64) -> bool,
    ) -> bool {
        let Some(order) = request.order.as_ref() else {
            return false;
        };
        let value = self.value;
        if value < 0 && !any_negative(order) {
            return false;
        }
        let mut any = false;
        let order_fields = self.scan_order_fields.iter();
        for field in order_fields {
            if field.read(request) == Value::Int(value) {
                any = true;
                if !hit(format_args!("{}", field.path), value) {
                    return true;
                }
            }
        }
        if self.anywhere {
            for (path, v) in &order.other_negatives {
                if *v == value {
                    any = true;
                    // A key that is not a plain name is already bracketed: `order["a.b"]`.
                    let dot = if path.starts_with('[') { "" } else { "." };
                    if !hit(format_args!("order{dot}{path}"), value) {
                        return true;
                    }
                }
            }
        }
        for (index, package) in order.package_model_list.iter().enumerate() {
            let fields = self.scan_package_fields.iter();
            for field in fields {
                if field.read(package) == Value::Int(value) {
                    any = true;
                    if !hit(
                        format_args!("order.PackageModelList[{index}].{}", field.name),
                        value,
                    ) {
                        return true;
                    }
                }
            }
            if self.anywhere {
                for (path, v) in &package.other_negatives {
                    if *v == value {
                        any = true;
                        let dot = if path.starts_with('[') { "" } else { "." };
                        if !hit(
                            format_args!("order.PackageModelList[{index}]{dot}{path}"),
                            value,
                        ) {
                            return true;
                        }
                    }
                }
            }
        }
        any
    }

    /// Like [`hits`](Self::hits), for the *listed* fields holding a negative value other
    /// than the sentinel (an amount that cannot be right).
    pub fn negatives(
        &self,
        request: &Request,
        mut hit: impl FnMut(fmt::Arguments<'_>, i64) -> bool,
    ) -> bool {
        let Some(order) = request.order.as_ref() else {
            return false;
        };
        if !any_negative(order) {
            return false;
        }
        let wrong = |v: Value<'_>| match v {
            Value::Int(n) if n < 0 && n != self.value => Some(n),
            _ => None,
        };
        let mut any = false;
        for field in &self.order_fields {
            if let Some(n) = wrong(field.read(request)) {
                any = true;
                if !hit(format_args!("{}", field.path), n) {
                    return true;
                }
            }
        }
        for (index, package) in order.package_model_list.iter().enumerate() {
            for field in &self.package_fields {
                if let Some(n) = wrong(field.read(package)) {
                    any = true;
                    if !hit(
                        format_args!("order.PackageModelList[{index}].{}", field.name),
                        n,
                    ) {
                        return true;
                    }
                }
            }
        }
        any
    }
}

/// What an evaluation reads from.
#[derive(Debug, Clone, Copy)]
pub struct Env<'a> {
    pub request: &'a Request,
    pub sentinels: &'a [SentinelGroup],
}

/// Observes the values an evaluation reads.
pub trait Trace {
    /// `false` lets the compiler remove every recording call.
    const ENABLED: bool;
    fn record(&mut self, path: fmt::Arguments<'_>, value: Value<'_>);
    /// A field of the vocabulary read at its own path; by default recorded like any read.
    fn record_field(&mut self, path: &'static str, value: Value<'_>) {
        self.record(format_args!("{path}"), value);
    }
    /// A field a `sentinel`/`negative` search found; by default recorded like any read.
    fn hit(&mut self, path: fmt::Arguments<'_>, value: Value<'_>) {
        self.record(path, value);
    }
}

/// Records nothing.
pub struct NoTrace;

impl Trace for NoTrace {
    const ENABLED: bool = false;
    fn record(&mut self, _: fmt::Arguments<'_>, _: Value<'_>) {}
}

impl Compiled {
    /// Evaluates the guard.
    pub fn eval(&self, env: &Env<'_>) -> bool {
        self.eval_traced(env, &mut NoTrace)
    }

    /// Evaluates the guard, telling `trace` every value it reads.
    pub fn eval_traced<T: Trace>(&self, env: &Env<'_>, trace: &mut T) -> bool {
        let mut ev = Evaluator {
            env: *env,
            locals: [None; MAX_LAMBDA_DEPTH],
            trace,
        };
        matches!(ev.eval(&self.root), Value::Bool(true))
    }
}

struct Evaluator<'a, 't, T: Trace> {
    env: Env<'a>,
    locals: [Option<(&'a Package, usize)>; MAX_LAMBDA_DEPTH],
    trace: &'t mut T,
}

impl<'a, T: Trace> Evaluator<'a, '_, T> {
    /// The nodes most guards are made of, in a small stack frame (each node is one call);
    /// the others in [`eval_other`](Self::eval_other).
    fn eval(&mut self, node: &'a Node) -> Value<'a> {
        match node {
            Node::Const(Const::Bool(b)) => Value::Bool(*b),
            Node::Const(Const::Int(n)) => Value::Int(*n),
            Node::Field(field) => {
                let v = field.read(self.env.request);
                if T::ENABLED {
                    self.trace.record_field(field.path, v);
                }
                v
            }
            Node::Not(n) => match self.eval(n) {
                Value::Bool(b) => Value::Bool(!b),
                _ => Value::Null,
            },
            Node::And(l, r) => {
                Value::Bool(self.eval(l) == Value::Bool(true) && self.eval(r) == Value::Bool(true))
            }
            Node::Or(l, r) => {
                Value::Bool(self.eval(l) == Value::Bool(true) || self.eval(r) == Value::Bool(true))
            }
            Node::Eq(l, r) => {
                let (l, r) = (self.eval(l), self.eval(r));
                Value::Bool(equal(l, r))
            }
            Node::Ne(l, r) => {
                let (l, r) = (self.eval(l), self.eval(r));
                Value::Bool(!equal(l, r))
            }
            Node::FieldEq {
                field,
                value,
                negate,
            } => {
                let v = field.read(self.env.request);
                if T::ENABLED {
                    self.trace.record_field(field.path, v);
                }
                Value::Bool(equal(v, constant(value)) != *negate)
            }
            Node::FieldIn(field, items) => {
                let v = field.read(self.env.request);
                if T::ENABLED {
                    self.trace.record_field(field.path, v);
                }
                if v == Value::Null {
                    return Value::Bool(false);
                }
                Value::Bool(items.iter().any(|c| equal(v, constant(c))))
            }
            _ => self.eval_other(node),
        }
    }

    #[inline(never)]
    fn eval_other(&mut self, node: &'a Node) -> Value<'a> {
        match node {
            Node::Const(c) => match c {
                Const::Null => Value::Null,
                Const::Bool(b) => Value::Bool(*b),
                Const::Int(n) => Value::Int(*n),
                Const::Str(s) => Value::Str(s),
                Const::Duration(d) => Value::Duration(*d),
            },
            Node::Field(field) => {
                let v = field.read(self.env.request);
                if T::ENABLED {
                    self.trace.record_field(field.path, v);
                }
                v
            }
            Node::Local {
                depth,
                field,
                list_path,
            } => match self.locals[*depth] {
                Some((package, index)) => {
                    let v = field.read(package);
                    if T::ENABLED {
                        self.trace
                            .record(format_args!("{list_path}[{index}].{}", field.name), v);
                    }
                    v
                }
                None => Value::Null,
            },
            Node::Not(n) => match self.eval(n) {
                Value::Bool(b) => Value::Bool(!b),
                _ => Value::Null,
            },
            Node::Neg(n) => match self.eval(n) {
                Value::Int(i) => i.checked_neg().map_or(Value::Null, Value::Int),
                Value::Duration(d) => d.checked_neg().map_or(Value::Null, Value::Duration),
                _ => Value::Null,
            },
            Node::And(l, r) => {
                Value::Bool(self.eval(l) == Value::Bool(true) && self.eval(r) == Value::Bool(true))
            }
            Node::Or(l, r) => {
                Value::Bool(self.eval(l) == Value::Bool(true) || self.eval(r) == Value::Bool(true))
            }
            Node::Eq(l, r) => {
                let (l, r) = (self.eval(l), self.eval(r));
                Value::Bool(equal(l, r))
            }
            Node::Ne(l, r) => {
                let (l, r) = (self.eval(l), self.eval(r));
                Value::Bool(!equal(l, r))
            }
            Node::Cmp(op, l, r) => {
                let (l, r) = (self.eval(l), self.eval(r));
                let ord = match (l, r) {
                    (Value::Int(a), Value::Int(b)) => a.cmp(&b),
                    (Value::Duration(a), Value::Duration(b)) => a.cmp(&b),
                    (Value::Time(a), Value::Time(b)) => a.unix_seconds().cmp(&b.unix_seconds()),
                    _ => return Value::Bool(false),
                };
                Value::Bool(match op {
                    BinaryOp::Lt => ord.is_lt(),
                    BinaryOp::Le => ord.is_le(),
                    BinaryOp::Gt => ord.is_gt(),
                    BinaryOp::Ge => ord.is_ge(),
                    _ => false,
                })
            }
            Node::In(l, items) => {
                let l = self.eval(l);
                if l == Value::Null {
                    return Value::Bool(false);
                }
                Value::Bool(items.iter().any(|item| {
                    let v = self.eval(item);
                    equal(l, v)
                }))
            }
            Node::Add(l, r) => {
                let (l, r) = (self.eval(l), self.eval(r));
                add(l, r)
            }
            Node::Sub(l, r) => {
                let (l, r) = (self.eval(l), self.eval(r));
                sub(l, r)
            }
            Node::Quantifier {
                all,
                list,
                body,
                depth,
            } => {
                let Value::Packages(packages) = self.eval(list) else {
                    return Value::Bool(*all);
                };
                for (index, package) in packages.iter().enumerate() {
                    self.locals[*depth] = Some((package, index));
                    let holds = self.eval(body) == Value::Bool(true);
                    if holds != *all {
                        self.locals[*depth] = None;
                        return Value::Bool(!*all);
                    }
                }
                self.locals[*depth] = None;
                Value::Bool(*all)
            }
            Node::FieldEq { .. } | Node::FieldIn(..) => self.eval(node),
            Node::Sentinel(i) => Value::Bool(self.search(*i, false)),
            Node::Negative(i) => Value::Bool(self.search(*i, true)),
            Node::Days(n) => match self.eval(n) {
                Value::Int(d) => d.checked_mul(86_400).map_or(Value::Null, Value::Duration),
                _ => Value::Null,
            },
            Node::EndOfDay(t, zone) => match (self.eval(t), self.eval(zone)) {
                (Value::Time(t), Value::Duration(offset)) => end_of_day(t, offset),
                _ => Value::Null,
            },
            Node::RetryOf(id, table) => match self.eval(id) {
                Value::Str(id) => table
                    .iter()
                    .find(|(e, _)| &**e == id)
                    .map_or(Value::Null, |(_, retry)| Value::Str(retry)),
                _ => Value::Null,
            },
        }
    }

    /// Whether a field of the group holds the sentinel (`negative`: a negative value
    /// other than it); when tracing, reports every one (so a finding names each field).
    #[inline(never)]
    fn search(&mut self, index: usize, negative: bool) -> bool {
        let env = self.env;
        let Some(group) = env.sentinels.get(index) else {
            return false;
        };
        let trace = &mut *self.trace;
        let hit = |path: fmt::Arguments<'_>, v: i64| {
            if T::ENABLED {
                trace.hit(path, Value::Int(v));
            }
            T::ENABLED
        };
        if negative {
            group.negatives(env.request, hit)
        } else {
            group.hits(env.request, hit)
        }
    }
}

/// The last second (23:59:59) of the calendar day `t` falls on, in the zone `offset`
/// seconds east of UTC. The result is shown in that zone.
fn end_of_day(t: crate::model::Timestamp, offset: i64) -> Value<'static> {
    const DAY: i64 = 86_400;
    let Ok(offset32) = i32::try_from(offset) else {
        return Value::Null;
    };
    if offset.abs() >= DAY {
        return Value::Null;
    }
    let Some(local) = t.unix_seconds().checked_add(offset) else {
        return Value::Null;
    };
    let day_start = local.div_euclid(DAY) * DAY;
    match (day_start + DAY - 1).checked_sub(offset) {
        Some(secs) => Value::Time(crate::model::Timestamp::from_unix(secs, offset32)),
        None => Value::Null,
    }
}

fn constant(c: &Const) -> Value<'_> {
    match c {
        Const::Null => Value::Null,
        Const::Bool(b) => Value::Bool(*b),
        Const::Int(n) => Value::Int(*n),
        Const::Str(s) => Value::Str(s),
        Const::Duration(d) => Value::Duration(*d),
    }
}

fn equal(l: Value<'_>, r: Value<'_>) -> bool {
    match (l, r) {
        (Value::Time(a), Value::Time(b)) => a.unix_seconds() == b.unix_seconds(),
        (Value::Packages(_), _) | (_, Value::Packages(_)) => false,
        (a, b) => a == b,
    }
}

fn add<'a>(l: Value<'a>, r: Value<'a>) -> Value<'a> {
    match (l, r) {
        (Value::Int(a), Value::Int(b)) => a.checked_add(b).map_or(Value::Null, Value::Int),
        (Value::Duration(a), Value::Duration(b)) => {
            a.checked_add(b).map_or(Value::Null, Value::Duration)
        }
        (Value::Time(t), Value::Duration(d)) | (Value::Duration(d), Value::Time(t)) => shift(t, d),
        _ => Value::Null,
    }
}

fn sub<'a>(l: Value<'a>, r: Value<'a>) -> Value<'a> {
    match (l, r) {
        (Value::Int(a), Value::Int(b)) => a.checked_sub(b).map_or(Value::Null, Value::Int),
        (Value::Duration(a), Value::Duration(b)) => {
            a.checked_sub(b).map_or(Value::Null, Value::Duration)
        }
        (Value::Time(t), Value::Duration(d)) => {
            d.checked_neg().map_or(Value::Null, |d| shift(t, d))
        }
        (Value::Time(a), Value::Time(b)) => a
            .unix_seconds()
            .checked_sub(b.unix_seconds())
            .map_or(Value::Null, Value::Duration),
        _ => Value::Null,
    }
}

fn shift(t: crate::model::Timestamp, d: i64) -> Value<'static> {
    match t.unix_seconds().checked_add(d) {
        Some(secs) => Value::Time(crate::model::Timestamp::from_unix(secs, t.offset_seconds())),
        None => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::super::vocabulary::{Base, FIELDS, PACKAGE_FIELDS};

    /// `any_negative` sees every integer field of the vocabulary (a field added there and
    /// not there would make sentinel searches skip it).
    #[test]
    fn any_negative_covers_every_integer_field() {
        for f in FIELDS
            .iter()
            .filter(|f| f.needs_order() && f.ty.base == Base::Int)
        {
            let key = f.path.trim_start_matches("order.");
            let mut doc = serde_json::json!({ "orderProgress": 100 });
            doc[key] = (-5).into();
            // A field the reader refuses negative is never negative in an order.
            if let Ok(order) = serde_json::from_value::<crate::model::Order>(doc) {
                assert!(super::any_negative(&order), "{}", f.path);
            }
        }
        for f in PACKAGE_FIELDS.iter().filter(|f| f.ty.base == Base::Int) {
            let order: crate::model::Order = serde_json::from_value(
                serde_json::json!({ "orderProgress": 100, "PackageModelList": [{ (f.name): -5 }] }),
            )
            .expect(f.name);
            assert!(super::any_negative(&order), "{}", f.name);
        }
        let order: crate::model::Order =
            serde_json::from_value(serde_json::json!({ "orderProgress": 100, "goodsPrice": 5 }))
                .expect("an order");
        assert!(!super::any_negative(&order));
    }
}
