//! Evaluating a [`Compiled`] guard against a request: no IO, no allocation (unless a
//! [`Trace`] records what was read, for `check --explain`).

use std::fmt;

use super::check::{Compiled, Const, Node, MAX_LAMBDA_DEPTH};
use super::value::Value;
use super::vocabulary::{FieldDef, PackageFieldDef};
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
    fn eval(&mut self, node: &'a Node) -> Value<'a> {
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
                    self.trace.record(format_args!("{}", field.path), v);
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
            Node::Sentinel(i) => Value::Bool(self.sentinel(*i)),
            Node::Days(n) => match self.eval(n) {
                Value::Int(d) => d.checked_mul(86_400).map_or(Value::Null, Value::Duration),
                _ => Value::Null,
            },
        }
    }

    /// Whether any field of the group holds the sentinel; when tracing, reports every one
    /// that does (so `--explain` names each unset amount).
    fn sentinel(&mut self, index: usize) -> bool {
        let env = self.env;
        let Some(group) = env.sentinels.get(index) else {
            return false;
        };
        let mut hit = false;
        for field in &group.order_fields {
            let v = field.read(env.request);
            if v == Value::Int(group.value) {
                if !T::ENABLED {
                    return true;
                }
                hit = true;
                self.trace.record(format_args!("{}", field.path), v);
            }
        }
        let packages = env
            .request
            .order
            .as_ref()
            .map_or(&[][..], |o| &o.package_model_list[..]);
        for (index, package) in packages.iter().enumerate() {
            for field in &group.package_fields {
                let v = field.read(package);
                if v == Value::Int(group.value) {
                    if !T::ENABLED {
                        return true;
                    }
                    hit = true;
                    self.trace.record(
                        format_args!("order.PackageModelList[{index}].{}", field.name),
                        v,
                    );
                }
            }
        }
        hit
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
