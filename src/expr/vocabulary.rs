//! The names a guard expression can read: fields of the request, their types, and how to
//! read them.
//!
//! This is the *vocabulary* of the rules, not a rule: it says that `order.postagePrice` is
//! a nullable integer, never what a value of it means. Adding a field here makes it usable
//! in every rules file; the type checker rejects any other name at load time.

use super::value::Value;
use crate::model::{Package, Request};

/// The type of a value, as the checker sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    Bool,
    Int,
    Str,
    Time,
    Duration,
    /// `order.PackageModelList`.
    Packages,
    /// The type of the `null` literal.
    Null,
}

impl Base {
    pub fn name(self) -> &'static str {
        match self {
            Base::Bool => "bool",
            Base::Int => "int",
            Base::Str => "string",
            Base::Time => "time",
            Base::Duration => "duration",
            Base::Packages => "list of packages",
            Base::Null => "null",
        }
    }
}

/// A base type and whether the value may be `null`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Type {
    pub base: Base,
    pub nullable: bool,
}

impl Type {
    pub const fn of(base: Base) -> Self {
        Type {
            base,
            nullable: false,
        }
    }

    pub const fn nullable(base: Base) -> Self {
        Type {
            base,
            nullable: true,
        }
    }
}

/// Which strings a string field can hold, checked against literals at load time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    Any,
    /// `none`, `processing`, `processed`.
    Labels,
    /// The ids of the rules file's error table.
    ErrorIds,
    /// The action names.
    Actions,
    /// An error entry's `retry`: `never`, `after_fix`, `after_reconcile`.
    Retry,
    /// A ledger row's state: `sending`, `confirmed`, `failed`, `unknown`.
    LedgerStates,
}

/// A field of the request.
#[derive(Debug)]
pub struct FieldDef {
    pub path: &'static str,
    pub ty: Type,
    pub domain: Domain,
    pub id: FieldId,
}

impl FieldDef {
    /// Whether reading the field needs an order (so it cannot be used by `import` rules).
    pub fn needs_order(&self) -> bool {
        self.path.starts_with("order.")
    }

    /// Reads the field from a request.
    pub fn read<'a>(&self, r: &'a Request) -> Value<'a> {
        self.id.read(r)
    }
}

/// A field of one `PackageModelList[]` entry.
#[derive(Debug)]
pub struct PackageFieldDef {
    pub name: &'static str,
    pub ty: Type,
    pub id: PackageFieldId,
}

impl PackageFieldDef {
    pub fn read<'a>(&self, p: &'a Package) -> Value<'a> {
        self.id.read(p)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldId {
    Now,
    Action,
    ShopApiOption,
    ShopImportStatus,
    ShopImportDays,
    ShopLicenseExpiresAt,
    ShopLicenseIssuedAt,
    OmsConfirmSent,
    OmsLabel,
    OmsBundleId,
    OmsModifiedAfterProcessed,
    OmsConfirmedInRms,
    OmsUnreflectedChanges,
    OmsLastError,
    BatchRepeatOf,
    LedgerState,
    OrderNumber,
    OrderProgress,
    SubStatusId,
    OrderDatetime,
    ShopOrderCfmDatetime,
    OrderFixDatetime,
    ShippingInstDatetime,
    ShippingCmplRptDatetime,
    GoodsPrice,
    GoodsTax,
    PostagePrice,
    DeliveryPrice,
    PaymentCharge,
    TotalPrice,
    RequestPrice,
    CouponAllTotalPrice,
    CouponShopPrice,
    CouponOtherPrice,
    AdditionalFeeToUser,
    AdditionalFeeToShop,
    IsolatedIslandFlag,
    RakutenConfirmFlag,
    ModifyFlag,
    PackageModelList,
}

impl FieldId {
    fn read(self, r: &Request) -> Value<'_> {
        use FieldId::*;
        let int = |v: Option<i64>| v.map_or(Value::Null, Value::Int);
        let time = |v: Option<crate::model::Timestamp>| v.map_or(Value::Null, Value::Time);
        match self {
            Now => time(r.now),
            Action => Value::Str(r.action.name()),
            ShopApiOption => Value::Bool(r.shop.api_option),
            ShopImportStatus => Value::Int(r.shop.import_status),
            ShopImportDays => int(r.shop.import_days),
            ShopLicenseExpiresAt => time(r.shop.license_expires_at),
            ShopLicenseIssuedAt => time(r.shop.license_issued_at),
            OmsConfirmSent => Value::Bool(r.oms.confirm_sent),
            OmsLabel => Value::Str(r.oms.label.name()),
            OmsBundleId => r.oms.bundle_id.as_deref().map_or(Value::Null, Value::Str),
            OmsModifiedAfterProcessed => Value::Bool(r.oms.modified_after_processed),
            OmsConfirmedInRms => Value::Bool(r.oms.confirmed_in_rms),
            OmsUnreflectedChanges => Value::Bool(r.oms.unreflected_changes),
            OmsLastError => r.oms.last_error.as_deref().map_or(Value::Null, Value::Str),
            BatchRepeatOf => r
                .batch
                .repeat_of
                .and_then(|i| i64::try_from(i).ok())
                .map_or(Value::Null, Value::Int),
            LedgerState => r.batch.ledger.map_or(Value::Null, |s| Value::Str(s.name())),
            _ => {
                let Some(o) = r.order.as_ref() else {
                    return Value::Null;
                };
                match self {
                    OrderNumber => o.order_number.as_deref().map_or(Value::Null, Value::Str),
                    OrderProgress => Value::Int(o.order_progress),
                    SubStatusId => int(o.sub_status_id),
                    OrderDatetime => time(o.order_datetime),
                    ShopOrderCfmDatetime => time(o.shop_order_cfm_datetime),
                    OrderFixDatetime => time(o.order_fix_datetime),
                    ShippingInstDatetime => time(o.shipping_inst_datetime),
                    ShippingCmplRptDatetime => time(o.shipping_cmpl_rpt_datetime),
                    GoodsPrice => int(o.goods_price),
                    GoodsTax => int(o.goods_tax),
                    PostagePrice => int(o.postage_price),
                    DeliveryPrice => int(o.delivery_price),
                    PaymentCharge => int(o.payment_charge),
                    TotalPrice => int(o.total_price),
                    RequestPrice => int(o.request_price),
                    CouponAllTotalPrice => int(o.coupon_all_total_price),
                    CouponShopPrice => int(o.coupon_shop_price),
                    CouponOtherPrice => int(o.coupon_other_price),
                    AdditionalFeeToUser => int(o.additional_fee_occur_amount_to_user),
                    AdditionalFeeToShop => int(o.additional_fee_occur_amount_to_shop),
                    IsolatedIslandFlag => int(o.isolated_island_flag),
                    RakutenConfirmFlag => int(o.rakuten_confirm_flag),
                    ModifyFlag => int(o.modify_flag),
                    PackageModelList => Value::Packages(&o.package_model_list),
                    _ => Value::Null,
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageFieldId {
    BasketId,
    PostagePrice,
    DeliveryPrice,
    GoodsTax,
    GoodsPrice,
    TotalPrice,
}

impl PackageFieldId {
    fn read(self, p: &Package) -> Value<'_> {
        let v = match self {
            PackageFieldId::BasketId => p.basket_id,
            PackageFieldId::PostagePrice => p.postage_price,
            PackageFieldId::DeliveryPrice => p.delivery_price,
            PackageFieldId::GoodsTax => p.goods_tax,
            PackageFieldId::GoodsPrice => p.goods_price,
            PackageFieldId::TotalPrice => p.total_price,
        };
        v.map_or(Value::Null, Value::Int)
    }
}

const fn field(path: &'static str, ty: Type, domain: Domain, id: FieldId) -> FieldDef {
    FieldDef {
        path,
        ty,
        domain,
        id,
    }
}

const BOOL: Type = Type::of(Base::Bool);
const INT: Type = Type::of(Base::Int);
const INT_OR_NULL: Type = Type::nullable(Base::Int);
const STR: Type = Type::of(Base::Str);
const STR_OR_NULL: Type = Type::nullable(Base::Str);
const TIME_OR_NULL: Type = Type::nullable(Base::Time);

/// Every field of the request an expression can read.
pub static FIELDS: &[FieldDef] = &[
    field("now", TIME_OR_NULL, Domain::Any, FieldId::Now),
    field("action", STR, Domain::Actions, FieldId::Action),
    field("shop.api_option", BOOL, Domain::Any, FieldId::ShopApiOption),
    field(
        "shop.import_status",
        INT,
        Domain::Any,
        FieldId::ShopImportStatus,
    ),
    field(
        "shop.import_days",
        INT_OR_NULL,
        Domain::Any,
        FieldId::ShopImportDays,
    ),
    field(
        "shop.license_expires_at",
        TIME_OR_NULL,
        Domain::Any,
        FieldId::ShopLicenseExpiresAt,
    ),
    field(
        "shop.license_issued_at",
        TIME_OR_NULL,
        Domain::Any,
        FieldId::ShopLicenseIssuedAt,
    ),
    field(
        "oms.confirm_sent",
        BOOL,
        Domain::Any,
        FieldId::OmsConfirmSent,
    ),
    field("oms.label", STR, Domain::Labels, FieldId::OmsLabel),
    field(
        "oms.bundle_id",
        STR_OR_NULL,
        Domain::Any,
        FieldId::OmsBundleId,
    ),
    field(
        "oms.modified_after_processed",
        BOOL,
        Domain::Any,
        FieldId::OmsModifiedAfterProcessed,
    ),
    field(
        "oms.confirmed_in_rms",
        BOOL,
        Domain::Any,
        FieldId::OmsConfirmedInRms,
    ),
    field(
        "oms.unreflected_changes",
        BOOL,
        Domain::Any,
        FieldId::OmsUnreflectedChanges,
    ),
    field(
        "oms.last_error",
        STR_OR_NULL,
        Domain::ErrorIds,
        FieldId::OmsLastError,
    ),
    field(
        "batch.repeat_of",
        INT_OR_NULL,
        Domain::Any,
        FieldId::BatchRepeatOf,
    ),
    field(
        "ledger.state",
        STR_OR_NULL,
        Domain::LedgerStates,
        FieldId::LedgerState,
    ),
    field(
        "order.orderNumber",
        STR_OR_NULL,
        Domain::Any,
        FieldId::OrderNumber,
    ),
    field(
        "order.orderProgress",
        INT,
        Domain::Any,
        FieldId::OrderProgress,
    ),
    field(
        "order.subStatusId",
        INT_OR_NULL,
        Domain::Any,
        FieldId::SubStatusId,
    ),
    field(
        "order.orderDatetime",
        TIME_OR_NULL,
        Domain::Any,
        FieldId::OrderDatetime,
    ),
    field(
        "order.shopOrderCfmDatetime",
        TIME_OR_NULL,
        Domain::Any,
        FieldId::ShopOrderCfmDatetime,
    ),
    field(
        "order.orderFixDatetime",
        TIME_OR_NULL,
        Domain::Any,
        FieldId::OrderFixDatetime,
    ),
    field(
        "order.shippingInstDatetime",
        TIME_OR_NULL,
        Domain::Any,
        FieldId::ShippingInstDatetime,
    ),
    field(
        "order.shippingCmplRptDatetime",
        TIME_OR_NULL,
        Domain::Any,
        FieldId::ShippingCmplRptDatetime,
    ),
    field(
        "order.goodsPrice",
        INT_OR_NULL,
        Domain::Any,
        FieldId::GoodsPrice,
    ),
    field(
        "order.goodsTax",
        INT_OR_NULL,
        Domain::Any,
        FieldId::GoodsTax,
    ),
    field(
        "order.postagePrice",
        INT_OR_NULL,
        Domain::Any,
        FieldId::PostagePrice,
    ),
    field(
        "order.deliveryPrice",
        INT_OR_NULL,
        Domain::Any,
        FieldId::DeliveryPrice,
    ),
    field(
        "order.paymentCharge",
        INT_OR_NULL,
        Domain::Any,
        FieldId::PaymentCharge,
    ),
    field(
        "order.totalPrice",
        INT_OR_NULL,
        Domain::Any,
        FieldId::TotalPrice,
    ),
    field(
        "order.requestPrice",
        INT_OR_NULL,
        Domain::Any,
        FieldId::RequestPrice,
    ),
    field(
        "order.couponAllTotalPrice",
        INT_OR_NULL,
        Domain::Any,
        FieldId::CouponAllTotalPrice,
    ),
    field(
        "order.couponShopPrice",
        INT_OR_NULL,
        Domain::Any,
        FieldId::CouponShopPrice,
    ),
    field(
        "order.couponOtherPrice",
        INT_OR_NULL,
        Domain::Any,
        FieldId::CouponOtherPrice,
    ),
    field(
        "order.additionalFeeOccurAmountToUser",
        INT_OR_NULL,
        Domain::Any,
        FieldId::AdditionalFeeToUser,
    ),
    field(
        "order.additionalFeeOccurAmountToShop",
        INT_OR_NULL,
        Domain::Any,
        FieldId::AdditionalFeeToShop,
    ),
    field(
        "order.isolatedIslandFlag",
        INT_OR_NULL,
        Domain::Any,
        FieldId::IsolatedIslandFlag,
    ),
    field(
        "order.rakutenConfirmFlag",
        INT_OR_NULL,
        Domain::Any,
        FieldId::RakutenConfirmFlag,
    ),
    field(
        "order.modifyFlag",
        INT_OR_NULL,
        Domain::Any,
        FieldId::ModifyFlag,
    ),
    field(
        "order.PackageModelList",
        Type::of(Base::Packages),
        Domain::Any,
        FieldId::PackageModelList,
    ),
];

/// Every field of a `PackageModelList[]` entry.
pub static PACKAGE_FIELDS: &[PackageFieldDef] = &[
    PackageFieldDef {
        name: "basketId",
        ty: INT_OR_NULL,
        id: PackageFieldId::BasketId,
    },
    PackageFieldDef {
        name: "postagePrice",
        ty: INT_OR_NULL,
        id: PackageFieldId::PostagePrice,
    },
    PackageFieldDef {
        name: "deliveryPrice",
        ty: INT_OR_NULL,
        id: PackageFieldId::DeliveryPrice,
    },
    PackageFieldDef {
        name: "goodsTax",
        ty: INT_OR_NULL,
        id: PackageFieldId::GoodsTax,
    },
    PackageFieldDef {
        name: "goodsPrice",
        ty: INT_OR_NULL,
        id: PackageFieldId::GoodsPrice,
    },
    PackageFieldDef {
        name: "totalPrice",
        ty: INT_OR_NULL,
        id: PackageFieldId::TotalPrice,
    },
];

/// Looks a request field up by its full path.
pub fn field_by_path(path: &str) -> Option<&'static FieldDef> {
    FIELDS.iter().find(|f| f.path == path)
}

/// Looks a package field up by name.
pub fn package_field(name: &str) -> Option<&'static PackageFieldDef> {
    PACKAGE_FIELDS.iter().find(|f| f.name == name)
}

/// The closest of `candidates` to `wanted`, if it is close enough to be a typo.
pub fn closest<'c>(wanted: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(&wanted.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
