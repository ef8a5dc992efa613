//! The RMS `OrderModel`, as `getOrder` returns it.
//!
//! Only the fields a rule can look at are typed here; every other field RMS sends is
//! accepted and ignored, so a real `getOrder` response can be pasted in as it is. Amounts
//! are integers (yen) and may hold RMS's `-9999` "not set" sentinel; the rules file, not
//! this type, says what that value means.

use serde::Deserialize;

use super::Timestamp;

/// One order, in RMS's own camelCase field names.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    /// `375055-20261130-00000001`.
    #[serde(default)]
    pub order_number: Option<String>,
    /// RMS status code: 100 注文確認待ち … 900 キャンセル確定.
    pub order_progress: i64,
    #[serde(default)]
    pub sub_status_id: Option<i64>,
    #[serde(default)]
    pub order_datetime: Option<Timestamp>,
    #[serde(default)]
    pub shop_order_cfm_datetime: Option<Timestamp>,
    #[serde(default)]
    pub order_fix_datetime: Option<Timestamp>,
    #[serde(default)]
    pub shipping_inst_datetime: Option<Timestamp>,
    #[serde(default)]
    pub shipping_cmpl_rpt_datetime: Option<Timestamp>,
    #[serde(default)]
    pub goods_price: Option<i64>,
    #[serde(default)]
    pub goods_tax: Option<i64>,
    #[serde(default)]
    pub postage_price: Option<i64>,
    #[serde(default)]
    pub delivery_price: Option<i64>,
    #[serde(default)]
    pub payment_charge: Option<i64>,
    #[serde(default)]
    pub total_price: Option<i64>,
    #[serde(default)]
    pub request_price: Option<i64>,
    #[serde(default)]
    pub coupon_all_total_price: Option<i64>,
    #[serde(default)]
    pub coupon_shop_price: Option<i64>,
    #[serde(default)]
    pub coupon_other_price: Option<i64>,
    #[serde(default)]
    pub additional_fee_occur_amount_to_user: Option<i64>,
    #[serde(default)]
    pub additional_fee_occur_amount_to_shop: Option<i64>,
    #[serde(default)]
    pub isolated_island_flag: Option<i64>,
    #[serde(default)]
    pub rakuten_confirm_flag: Option<i64>,
    #[serde(default)]
    pub modify_flag: Option<i64>,
    /// One entry per delivery destination (送付先).
    #[serde(
        default,
        rename = "PackageModelList",
        deserialize_with = "null_as_empty"
    )]
    pub package_model_list: Vec<Package>,
}

/// One `PackageModelList[]` entry: a destination with its own amounts.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Package {
    #[serde(default)]
    pub basket_id: Option<i64>,
    #[serde(default)]
    pub postage_price: Option<i64>,
    #[serde(default)]
    pub delivery_price: Option<i64>,
    #[serde(default)]
    pub goods_tax: Option<i64>,
    #[serde(default)]
    pub goods_price: Option<i64>,
    #[serde(default)]
    pub total_price: Option<i64>,
}

/// RMS sends `null` for an empty list as often as `[]`.
fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}
