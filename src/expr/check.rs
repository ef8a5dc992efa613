//! Type checking: an [`Expr`] becomes a [`Compiled`] tree whose every name is resolved
//! and whose every operator is known to apply to its operands.
//!
//! Everything that can be wrong with a guard is found here, at load time: unknown fields
//! (with a "did you mean"), `null` compared with a field that is never null, a label or
//! error id that does not exist, a rule for `import` that reads the order.

use std::collections::BTreeMap;

use super::ast::{BinaryOp, Expr, ExprKind, Span, UnaryOp};
use super::error::ExprError;
use super::vocabulary::{
    closest, field_by_path, package_field, Base, Domain, FieldDef, PackageFieldDef, Type, FIELDS,
    PACKAGE_FIELDS,
};
use crate::model::{Action, Duration, Label, LedgerState};

/// What a guard may refer to besides the request's fields.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'s> {
    /// `timing.<name>` constants.
    pub timing: Option<&'s BTreeMap<String, Duration>>,
    /// Names usable in `sentinel("…")`, in table order.
    pub sentinels: &'s [String],
    /// Ids of the error table (for `oms.last_error`).
    pub error_ids: &'s [String],
    /// The `retry` of each error-table entry, parallel to `error_ids` (for `retry_of`).
    pub error_retries: &'s [&'static str],
    /// `false` when the rule applies to `import`, which has no order.
    pub order_available: bool,
}

impl Default for Scope<'_> {
    fn default() -> Self {
        Scope {
            timing: None,
            sentinels: &[],
            error_ids: &[],
            error_retries: &[],
            order_available: true,
        }
    }
}

/// Deepest nesting of `any`/`all`.
pub(crate) const MAX_LAMBDA_DEPTH: usize = 4;

/// A checked guard, ready to evaluate.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub(crate) root: Node,
    reads_order: bool,
    finds_fields: bool,
}

impl Compiled {
    /// Whether the guard reads any `order.` field.
    pub fn reads_order(&self) -> bool {
        self.reads_order
    }

    /// Whether the guard searches fields (`sentinel`, `negative`), so that a finding can
    /// name the fields it found.
    pub fn finds_fields(&self) -> bool {
        self.finds_fields
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Const(Const),
    Field(&'static FieldDef),
    Local {
        depth: usize,
        field: &'static PackageFieldDef,
        list_path: Box<str>,
    },
    Not(Box<Node>),
    Neg(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Eq(Box<Node>, Box<Node>),
    Ne(Box<Node>, Box<Node>),
    Cmp(BinaryOp, Box<Node>, Box<Node>),
    In(Box<Node>, Vec<Node>),
    Add(Box<Node>, Box<Node>),
    Sub(Box<Node>, Box<Node>),
    Quantifier {
        all: bool,
        list: Box<Node>,
        body: Box<Node>,
        depth: usize,
    },
    Sentinel(usize),
    /// A listed field of the sentinel group holding a negative value other than the
    /// group's own.
    Negative(usize),
    Days(Box<Node>),
    /// The last second of the calendar day of a time, in a zone given as a UTC offset.
    EndOfDay(Box<Node>, Box<Node>),
    /// The `retry` of an error id, looked up in a table copied from the rules file.
    RetryOf(Box<Node>, Box<[(Box<str>, &'static str)]>),
    /// `field == const` (`!=` when `negate`): one node instead of three, made by [`fuse`].
    FieldEq {
        field: &'static FieldDef,
        value: Const,
        negate: bool,
    },
    /// `field in [const, …]`, made by [`fuse`].
    FieldIn(&'static FieldDef, Box<[Const]>),
}

fn field_and_const(l: &Node, r: &Node) -> bool {
    matches!((l, r), (Node::Field(_), Node::Const(_)))
}

fn field_eq(l: Node, r: Node, negate: bool) -> Node {
    match (l, r) {
        (Node::Field(field), Node::Const(value)) => Node::FieldEq {
            field,
            value,
            negate,
        },
        (l, r) if negate => Node::Ne(Box::new(l), Box::new(r)),
        (l, r) => Node::Eq(Box::new(l), Box::new(r)),
    }
}

/// Fuses the comparisons of a field with constants into single nodes (fewer calls for
/// the evaluator; the same reads, in the same order, and the same values).
fn fuse(node: Node) -> Node {
    let b = |n: Box<Node>| Box::new(fuse(*n));
    match node {
        Node::Eq(l, r) if field_and_const(&l, &r) => field_eq(*l, *r, false),
        Node::Ne(l, r) if field_and_const(&l, &r) => field_eq(*l, *r, true),
        Node::In(l, items)
            if matches!(&*l, Node::Field(_))
                && items.iter().all(|i| matches!(i, Node::Const(_))) =>
        {
            let consts = items
                .into_iter()
                .filter_map(|i| match i {
                    Node::Const(c) => Some(c),
                    _ => None,
                })
                .collect();
            match *l {
                Node::Field(field) => Node::FieldIn(field, consts),
                l => Node::In(Box::new(l), Vec::new()),
            }
        }
        Node::Not(n) => Node::Not(b(n)),
        Node::Neg(n) => Node::Neg(b(n)),
        Node::And(l, r) => Node::And(b(l), b(r)),
        Node::Or(l, r) => Node::Or(b(l), b(r)),
        Node::Eq(l, r) => Node::Eq(b(l), b(r)),
        Node::Ne(l, r) => Node::Ne(b(l), b(r)),
        Node::Cmp(op, l, r) => Node::Cmp(op, b(l), b(r)),
        Node::In(l, items) => Node::In(b(l), items.into_iter().map(fuse).collect()),
        Node::Add(l, r) => Node::Add(b(l), b(r)),
        Node::Sub(l, r) => Node::Sub(b(l), b(r)),
        Node::Quantifier {
            all,
            list,
            body,
            depth,
        } => Node::Quantifier {
            all,
            list: b(list),
            body: b(body),
            depth,
        },
        Node::Days(n) => Node::Days(b(n)),
        Node::EndOfDay(t, z) => Node::EndOfDay(b(t), b(z)),
        Node::RetryOf(n, table) => Node::RetryOf(b(n), table),
        other => other,
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Const {
    Null,
    Bool(bool),
    Int(i64),
    Str(Box<str>),
    Duration(i64),
}

/// Checks `expr` as a guard (it must be a `bool`) and lowers it.
pub fn compile(expr: &Expr, scope: &Scope<'_>) -> Result<Compiled, ExprError> {
    let mut checker = Checker {
        scope,
        locals: Vec::new(),
        reads_order: false,
        finds_fields: false,
    };
    let (root, ty, _) = checker.node(expr)?;
    if ty != Type::of(Base::Bool) {
        return Err(ExprError::check(
            expr.span,
            format!(
                "a guard must be a condition (`bool`), found `{}`",
                describe(ty)
            ),
        )
        .with_help("compare it with something, e.g. `… == 100` or `… != null`"));
    }
    Ok(Compiled {
        root: fuse(root),
        reads_order: checker.reads_order,
        finds_fields: checker.finds_fields,
    })
}

fn describe(ty: Type) -> String {
    if ty.nullable && ty.base != Base::Null {
        format!("{} or null", ty.base.name())
    } else {
        ty.base.name().to_owned()
    }
}

const ROOTS: &[&str] = &["order", "shop", "oms", "batch", "now", "action", "timing"];
const FUNCTIONS: &[&str] = &[
    "any",
    "all",
    "sentinel",
    "negative",
    "days",
    "end_of_day",
    "retry_of",
];

/// The values `retry_of(…)` can take.
pub(crate) const RETRY_NAMES: &[&str] = &["never", "after_fix", "after_reconcile"];

struct Checker<'a, 's> {
    scope: &'a Scope<'s>,
    locals: Vec<(String, Box<str>)>,
    reads_order: bool,
    finds_fields: bool,
}

type Checked = (Node, Type, Domain);

impl Checker<'_, '_> {
    fn node(&mut self, e: &Expr) -> Result<Checked, ExprError> {
        let plain = |node, base| Ok((node, Type::of(base), Domain::Any));
        match &e.kind {
            ExprKind::Int(n) => plain(Node::Const(Const::Int(*n)), Base::Int),
            ExprKind::Bool(b) => plain(Node::Const(Const::Bool(*b)), Base::Bool),
            ExprKind::Str(s) => plain(Node::Const(Const::Str(s.as_str().into())), Base::Str),
            ExprKind::Null => Ok((
                Node::Const(Const::Null),
                Type::nullable(Base::Null),
                Domain::Any,
            )),
            ExprKind::Duration(d) => {
                plain(Node::Const(Const::Duration(d.as_secs())), Base::Duration)
            }
            ExprKind::Path(parts) => self.path(parts, e.span),
            ExprKind::List(_) => Err(ExprError::check(
                e.span,
                "a list is only allowed on the right of `in`",
            )),
            ExprKind::Lambda(..) => Err(ExprError::check(
                e.span,
                "a lambda is only allowed as the second argument of `any` or `all`",
            )),
            ExprKind::Unary(UnaryOp::Not, inner) => {
                let n = self.expect_bool(inner, "`not`")?;
                plain(Node::Not(Box::new(n)), Base::Bool)
            }
            ExprKind::Unary(UnaryOp::Neg, inner) => {
                let (n, ty, _) = self.node(inner)?;
                if !matches!(ty.base, Base::Int | Base::Duration) {
                    return Err(ExprError::check(
                        inner.span,
                        format!(
                            "`-` needs an `int` or a `duration`, found `{}`",
                            describe(ty)
                        ),
                    ));
                }
                Ok((Node::Neg(Box::new(n)), ty, Domain::Any))
            }
            ExprKind::Binary(op, l, r) => self.binary(*op, l, r, e.span),
            ExprKind::Call(name, args) => self.call(name, args, e.span),
        }
    }

    fn expect_bool(&mut self, e: &Expr, what: &str) -> Result<Node, ExprError> {
        let (n, ty, _) = self.node(e)?;
        if ty != Type::of(Base::Bool) {
            return Err(ExprError::check(
                e.span,
                format!("{what} needs a `bool`, found `{}`", describe(ty)),
            ));
        }
        Ok(n)
    }

    fn path(&mut self, parts: &[String], span: Span) -> Result<Checked, ExprError> {
        let full = parts.join(".");
        // A lambda parameter: `p.postagePrice`.
        if let Some(depth) = self.locals.iter().rposition(|(name, _)| *name == parts[0]) {
            let list_path = self.locals[depth].1.clone();
            let [_, name] = parts else {
                return Err(ExprError::check(
                    span,
                    format!("`{}` is a package; name one of its fields", parts[0]),
                )
                .with_help(package_fields_help(&parts[0])));
            };
            let Some(field) = package_field(name) else {
                let mut err = ExprError::check(span, format!("unknown package field `{full}`"));
                err = match closest(name, PACKAGE_FIELDS.iter().map(|f| f.name)) {
                    Some(c) => err.with_help(format!("did you mean `{}.{c}`?", parts[0])),
                    None => err.with_help(package_fields_help(&parts[0])),
                };
                return Err(err);
            };
            return Ok((
                Node::Local {
                    depth,
                    field,
                    list_path,
                },
                field.ty,
                Domain::Any,
            ));
        }
        if parts[0] == "timing" {
            return self.timing(parts, span);
        }
        if let Some(field) = field_by_path(&full) {
            if field.needs_order() {
                if !self.scope.order_available {
                    return Err(ExprError::check(
                        span,
                        format!("`{full}` is not available: this rule applies to `import`, which has no order"),
                    )
                    .with_help("split the rule: one for `import`, one for the actions on an order"));
                }
                self.reads_order = true;
            }
            return Ok((Node::Field(field), field.ty, field.domain));
        }
        Err(self.unknown_path(parts, &full, span))
    }

    fn timing(&mut self, parts: &[String], span: Span) -> Result<Checked, ExprError> {
        let names = || {
            self.scope
                .timing
                .map(|t| {
                    t.keys()
                        .map(|k| format!("`timing.{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        };
        let [_, name] = parts else {
            return Err(
                ExprError::check(span, "`timing` is a table; name one of its entries")
                    .with_help(format!("entries: {}", names())),
            );
        };
        match self.scope.timing.and_then(|t| t.get(name)) {
            Some(d) => Ok((
                Node::Const(Const::Duration(d.as_secs())),
                Type::of(Base::Duration),
                Domain::Any,
            )),
            None => {
                let err = ExprError::check(span, format!("unknown timing fact `timing.{name}`"));
                let keys = self.scope.timing.map(|t| t.keys().map(String::as_str));
                Err(match keys.and_then(|k| closest(name, k)) {
                    Some(c) => err.with_help(format!("did you mean `timing.{c}`?")),
                    None => err.with_help(format!("entries: {}", names())),
                })
            }
        }
    }

    fn unknown_path(&self, parts: &[String], full: &str, span: Span) -> ExprError {
        if !ROOTS.contains(&parts[0].as_str()) {
            let err = ExprError::check(span, format!("unknown name `{}`", parts[0]));
            let mut names: Vec<&str> = ROOTS.to_vec();
            names.extend(self.locals.iter().map(|(n, _)| n.as_str()));
            return match closest(&parts[0], names.iter().copied()) {
                Some(c) => err.with_help(format!("did you mean `{c}`?")),
                None => err.with_help(
                    "a path starts with `order`, `shop`, `oms`, `batch`, `now`, `action`, `timing` or a lambda parameter",
                ),
            };
        }
        let prefix = format!("{full}.");
        let children: Vec<&str> = FIELDS
            .iter()
            .map(|f| f.path)
            .filter(|p| p.starts_with(&prefix))
            .collect();
        if !children.is_empty() {
            return ExprError::check(
                span,
                format!("`{full}` is an object; name one of its fields"),
            )
            .with_help(format!("fields: {}", quote_list(&children)));
        }
        if let Some(rest) = full.strip_prefix("order.PackageModelList.") {
            return ExprError::check(span, format!("unknown field `{full}`")).with_help(format!(
                "packages are a list: use `any(order.PackageModelList, p => p.{rest} …)`"
            ));
        }
        let err = ExprError::check(span, format!("unknown field `{full}`"));
        let same_root = format!("{}.", parts[0]);
        match closest(full, FIELDS.iter().map(|f| f.path)) {
            Some(c) => err.with_help(format!("did you mean `{c}`?")),
            None => {
                let siblings: Vec<&str> = FIELDS
                    .iter()
                    .map(|f| f.path)
                    .filter(|p| p.starts_with(&same_root))
                    .collect();
                err.with_help(format!("fields: {}", quote_list(&siblings)))
            }
        }
    }

    fn binary(
        &mut self,
        op: BinaryOp,
        l: &Expr,
        r: &Expr,
        span: Span,
    ) -> Result<Checked, ExprError> {
        let boolean = |node| Ok((node, Type::of(Base::Bool), Domain::Any));
        match op {
            BinaryOp::And | BinaryOp::Or => {
                let what = format!("`{}`", op.symbol());
                let ln = self.expect_bool(l, &what)?;
                let rn = self.expect_bool(r, &what)?;
                let (ln, rn) = (Box::new(ln), Box::new(rn));
                boolean(if op == BinaryOp::And {
                    Node::And(ln, rn)
                } else {
                    Node::Or(ln, rn)
                })
            }
            BinaryOp::Eq | BinaryOp::Ne => {
                let (ln, lt, ld) = self.node(l)?;
                let (rn, rt, rd) = self.node(r)?;
                self.comparable(op, (l, lt, ld), (r, rt, rd), span)?;
                let (ln, rn) = (Box::new(ln), Box::new(rn));
                boolean(if op == BinaryOp::Eq {
                    Node::Eq(ln, rn)
                } else {
                    Node::Ne(ln, rn)
                })
            }
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
                let (ln, lt, _) = self.node(l)?;
                let (rn, rt, _) = self.node(r)?;
                let ordered = matches!(lt.base, Base::Int | Base::Time | Base::Duration);
                if !ordered || lt.base != rt.base {
                    return Err(ExprError::check(
                        span,
                        format!(
                            "`{}` compares `{}` with `{}`",
                            op.symbol(),
                            describe(lt),
                            describe(rt)
                        ),
                    )
                    .with_help("order comparisons take two ints, two times or two durations"));
                }
                boolean(Node::Cmp(op, Box::new(ln), Box::new(rn)))
            }
            BinaryOp::In => {
                let (ln, lt, ld) = self.node(l)?;
                let ExprKind::List(items) = &r.kind else {
                    return Err(ExprError::check(
                        r.span,
                        "the right of `in` must be a list, like `[800, 900]`",
                    ));
                };
                if items.is_empty() {
                    return Err(ExprError::check(r.span, "`in []` is never true")
                        .with_help("list the values to look for"));
                }
                let mut nodes = Vec::with_capacity(items.len());
                for item in items {
                    let (n, it, idom) = self.node(item)?;
                    self.comparable(BinaryOp::In, (l, lt, ld), (item, it, idom), item.span)?;
                    if it.base == Base::Null {
                        return Err(ExprError::check(item.span, "`null` cannot be in a list")
                            .with_help("test it on its own: `… == null`"));
                    }
                    nodes.push(n);
                }
                boolean(Node::In(Box::new(ln), nodes))
            }
            BinaryOp::Add | BinaryOp::Sub => {
                let (ln, lt, _) = self.node(l)?;
                let (rn, rt, _) = self.node(r)?;
                use Base::*;
                let base = match (op, lt.base, rt.base) {
                    (_, Int, Int) => Some(Int),
                    (_, Time, Duration) => Some(Time),
                    (BinaryOp::Add, Duration, Time) => Some(Time),
                    (_, Duration, Duration) => Some(Duration),
                    (BinaryOp::Sub, Time, Time) => Some(Duration),
                    _ => None,
                };
                let Some(base) = base else {
                    return Err(ExprError::check(
                        span,
                        format!(
                            "`{}` does not apply to `{}` and `{}`",
                            op.symbol(),
                            describe(lt),
                            describe(rt)
                        ),
                    )
                    .with_help("use ints, a time and a duration, or two times (`-` only)"));
                };
                let ty = Type {
                    base,
                    nullable: lt.nullable || rt.nullable,
                };
                let (ln, rn) = (Box::new(ln), Box::new(rn));
                let node = if op == BinaryOp::Add {
                    Node::Add(ln, rn)
                } else {
                    Node::Sub(ln, rn)
                };
                Ok((node, ty, Domain::Any))
            }
        }
    }

    /// Whether `l` and `r` may be compared with `==`, `!=` or `in`.
    fn comparable(
        &self,
        op: BinaryOp,
        (l, lt, ld): (&Expr, Type, Domain),
        (r, rt, rd): (&Expr, Type, Domain),
        span: Span,
    ) -> Result<(), ExprError> {
        if lt.base == Base::Null || rt.base == Base::Null {
            let (other, ot) = if lt.base == Base::Null {
                (r, rt)
            } else {
                (l, lt)
            };
            if ot.base == Base::Null {
                return Err(ExprError::check(span, "both sides are `null`"));
            }
            if !ot.nullable {
                return Err(
                    ExprError::check(other.span, format!("`{other}` is never null"))
                        .with_help("only nullable fields can be compared with `null`"),
                );
            }
            return Ok(());
        }
        if lt.base != rt.base || lt.base == Base::Packages {
            return Err(ExprError::check(
                span,
                format!(
                    "`{}` compares `{}` with `{}`",
                    op.symbol(),
                    describe(lt),
                    describe(rt)
                ),
            ));
        }
        // A string literal compared with a field of known values must be one of them.
        for (dom, lit, field) in [(ld, r, l), (rd, l, r)] {
            if let ExprKind::Str(s) = &lit.kind {
                self.in_domain(dom, s, lit.span, field)?;
            }
        }
        Ok(())
    }

    fn in_domain(
        &self,
        domain: Domain,
        value: &str,
        span: Span,
        field: &Expr,
    ) -> Result<(), ExprError> {
        let allowed: Vec<&str> = match domain {
            Domain::Any => return Ok(()),
            Domain::Labels => Label::NAMES.to_vec(),
            Domain::ErrorIds => self.scope.error_ids.iter().map(String::as_str).collect(),
            Domain::Actions => Action::ALL.iter().map(|a| a.name()).collect(),
            Domain::Retry => RETRY_NAMES.to_vec(),
            Domain::LedgerStates => LedgerState::NAMES.to_vec(),
        };
        if allowed.contains(&value) {
            return Ok(());
        }
        let err = ExprError::check(span, format!("`{value}` is not a value of `{field}`"));
        Err(match closest(value, allowed.iter().copied()) {
            Some(c) => err.with_help(format!("did you mean `{c}`?")),
            None => err.with_help(format!("expected one of {}", quote_list(&allowed))),
        })
    }

    fn call(&mut self, name: &str, args: &[Expr], span: Span) -> Result<Checked, ExprError> {
        let arity = |n: usize, usage: &str| {
            if args.len() == n {
                Ok(())
            } else {
                Err(ExprError::check(
                    span,
                    format!(
                        "`{name}` takes {n} argument{}, found {}",
                        if n == 1 { "" } else { "s" },
                        args.len()
                    ),
                )
                .with_help(format!("usage: `{usage}`")))
            }
        };
        match name {
            "any" | "all" => {
                arity(
                    2,
                    &format!("{name}(order.PackageModelList, p => p.postagePrice == -9999)"),
                )?;
                let (list, lt, _) = self.node(&args[0])?;
                if lt.base != Base::Packages {
                    return Err(ExprError::check(
                        args[0].span,
                        format!("`{name}` needs a list, found `{}`", describe(lt)),
                    )
                    .with_help("the list is `order.PackageModelList`"));
                }
                let ExprKind::Lambda(param, body) = &args[1].kind else {
                    return Err(ExprError::check(
                        args[1].span,
                        format!("the second argument of `{name}` must be a lambda"),
                    )
                    .with_help("write `p => p.postagePrice == -9999`"));
                };
                if ROOTS.contains(&param.as_str()) || self.locals.iter().any(|(n, _)| n == param) {
                    return Err(ExprError::check(
                        args[1].span,
                        format!("the parameter `{param}` hides another name"),
                    )
                    .with_help("pick another name, like `p`"));
                }
                if self.locals.len() >= MAX_LAMBDA_DEPTH {
                    return Err(ExprError::check(span, "`any`/`all` are nested too deeply"));
                }
                let list_path: Box<str> = args[0].to_string().into();
                let depth = self.locals.len();
                self.locals.push((param.clone(), list_path));
                let body = self.expect_bool(body, "a lambda body");
                self.locals.pop();
                Ok((
                    Node::Quantifier {
                        all: name == "all",
                        list: Box::new(list),
                        body: Box::new(body?),
                        depth,
                    },
                    Type::of(Base::Bool),
                    Domain::Any,
                ))
            }
            "sentinel" | "negative" => {
                arity(1, &format!("{name}(\"shipping_fee_unset\")"))?;
                let ExprKind::Str(group) = &args[0].kind else {
                    return Err(ExprError::check(
                        args[0].span,
                        format!("`{name}` takes the name of a `sentinels` entry, as a string"),
                    ));
                };
                match self.scope.sentinels.iter().position(|s| s == group) {
                    Some(i) => {
                        self.finds_fields = true;
                        self.reads_order = true;
                        let node = if name == "sentinel" {
                            Node::Sentinel(i)
                        } else {
                            Node::Negative(i)
                        };
                        Ok((node, Type::of(Base::Bool), Domain::Any))
                    }
                    None => {
                        let err =
                            ExprError::check(args[0].span, format!("unknown sentinel `{group}`"));
                        let names: Vec<&str> =
                            self.scope.sentinels.iter().map(String::as_str).collect();
                        Err(match closest(group, names.iter().copied()) {
                            Some(c) => err.with_help(format!("did you mean `{c}`?")),
                            None => err.with_help(format!("sentinels: {}", quote_list(&names))),
                        })
                    }
                }
            }
            "days" => {
                arity(1, "days(shop.import_days)")?;
                let (n, ty, _) = self.node(&args[0])?;
                if ty.base != Base::Int {
                    return Err(ExprError::check(
                        args[0].span,
                        format!("`days` needs an `int`, found `{}`", describe(ty)),
                    ));
                }
                Ok((
                    Node::Days(Box::new(n)),
                    Type {
                        base: Base::Duration,
                        nullable: ty.nullable,
                    },
                    Domain::Any,
                ))
            }
            "end_of_day" => {
                arity(
                    2,
                    "end_of_day(shop.license_issued_at, timing.rms_utc_offset)",
                )?;
                let (t, tt, _) = self.node(&args[0])?;
                if tt.base != Base::Time {
                    return Err(ExprError::check(
                        args[0].span,
                        format!("`end_of_day` needs a `time`, found `{}`", describe(tt)),
                    ));
                }
                let (z, zt, _) = self.node(&args[1])?;
                if zt.base != Base::Duration {
                    return Err(ExprError::check(
                        args[1].span,
                        format!(
                            "`end_of_day` needs the zone as a `duration` (its UTC offset), found `{}`",
                            describe(zt)
                        ),
                    ));
                }
                Ok((
                    Node::EndOfDay(Box::new(t), Box::new(z)),
                    Type {
                        base: Base::Time,
                        nullable: tt.nullable || zt.nullable,
                    },
                    Domain::Any,
                ))
            }
            "retry_of" => {
                arity(1, "retry_of(oms.last_error)")?;
                let (id, ty, domain) = self.node(&args[0])?;
                if domain != Domain::ErrorIds {
                    return Err(ExprError::check(
                        args[0].span,
                        format!("`retry_of` needs an error id, found `{}`", describe(ty)),
                    )
                    .with_help("write `retry_of(oms.last_error)`"));
                }
                let table = self
                    .scope
                    .error_ids
                    .iter()
                    .zip(self.scope.error_retries)
                    .map(|(id, retry)| (id.as_str().into(), *retry))
                    .collect();
                Ok((
                    Node::RetryOf(Box::new(id), table),
                    Type::nullable(Base::Str),
                    Domain::Retry,
                ))
            }
            _ => {
                let err = ExprError::check(span, format!("unknown function `{name}`"));
                Err(match closest(name, FUNCTIONS.iter().copied()) {
                    Some(c) => err.with_help(format!("did you mean `{c}`?")),
                    None => err.with_help(format!("functions: {}", quote_list(FUNCTIONS))),
                })
            }
        }
    }
}

fn package_fields_help(param: &str) -> String {
    let names: Vec<String> = PACKAGE_FIELDS
        .iter()
        .map(|f| format!("{param}.{}", f.name))
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    format!("fields: {}", quote_list(&refs))
}

fn quote_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
