//! The RMS `OrderModel`, as `getOrder` returns it.
//!
//! Only the fields a rule can look at are typed here; every other field RMS sends is
//! accepted, so a real `getOrder` response can be pasted in as it is. Amounts are integers
//! (yen) and may hold RMS's `-9999` "not set" sentinel; the rules file, not this type, says
//! what that value means.
//!
//! Two things the reader does beyond serde's derive, because a rule depends on them:
//!
//! - **Negative integers outside the typed fields are kept**, with their path below the
//!   order (`TaxSummaryModelList[0].taxPrice`). RMS adds fields and nested models over
//!   time; a `-9999` under a key this tool does not know yet must still stop a
//!   confirmation (the rules file's `anywhere: true` sentinels read them).
//! - **A key one typo away from a known field is refused** (`postage_price`,
//!   `packageModelList`: same letters, other case, `_` or `-`). Accepting it would drop
//!   the value it holds — and with it a `-9999`. Other unknown keys stay accepted.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::Timestamp;

/// One order, in RMS's own camelCase field names.
#[derive(Debug, Clone, Default, PartialEq, schemars::JsonSchema)]
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
    #[serde(default, rename = "PackageModelList")]
    pub package_model_list: Vec<Package>,
    /// Every negative integer found under a key that is not typed above, with its path
    /// below the order (`TaxSummaryModelList[0].taxPrice`).
    #[schemars(skip)]
    pub other_negatives: Vec<(String, i64)>,
}

/// One `PackageModelList[]` entry: a destination with its own amounts.
#[derive(Debug, Clone, Default, PartialEq, schemars::JsonSchema)]
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
    /// Negative integers under keys not typed above, with their path below the package.
    #[schemars(skip)]
    pub other_negatives: Vec<(String, i64)>,
}

/// An order number as S1 compares it: width-normalised (NFKC: `３７５０５５` is `375055`),
/// without invisible format characters (zero-width space, joiners, a byte-order mark, a
/// soft hyphen) and without surrounding whitespace — two spellings of one number are one
/// order, never two confirmations.
pub fn canonical_order_number(number: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    // Printable ASCII is its own NFKC form and holds no invisible character: the common
    // case (every RMS order number) costs a trim and a copy.
    if number.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return number.trim().to_owned();
    }
    number
        .nfkc()
        .filter(|c| !default_ignorable(*c))
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Unicode's `Default_Ignorable_Code_Point` characters (DerivedCoreProperties): drawn as
/// nothing, so a number holding one looks like the number without it. NFKC keeps them.
fn default_ignorable(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// What the `order` of a check document holds: one `OrderModel`, or a whole `getOrder`
/// response pasted in (`{"MessageModelList": …, "OrderModelList": […]}`).
#[derive(Debug, Clone, PartialEq)]
pub enum OrderInput {
    One(Box<Order>),
    /// The orders of a `getOrder` response, in its order.
    Response(Vec<Order>),
}

/// The keys of a `getOrder` response around its orders.
pub(crate) const RESPONSE_LIST_KEY: &str = "OrderModelList";
pub(crate) const RESPONSE_MESSAGES_KEY: &str = "MessageModelList";
const RESPONSE_OTHER_KEYS: &[&str] = &["version"];

/// One `MessageModelList` entry of a pasted response: what it says about which order.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResponseMessage {
    #[serde(default)]
    message_type: Option<String>,
    #[serde(default)]
    message_code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default, deserialize_with = "string_or_number")]
    order_number: Option<String>,
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

/// A pasted getOrder response must account for every order it names: an `ERROR`
/// message, or a message about an order that is not in `OrderModelList` (getOrder's
/// "受注情報が取得できませんでした"), means an order RMS did not return — checking the rest
/// as if the list were whole would silently drop it.
pub(crate) fn check_response_messages(
    orders: &[Order],
    messages: &[ResponseMessage],
) -> Result<(), String> {
    let listed = |n: &str| {
        orders
            .iter()
            .any(|o| o.order_number.as_deref().map(str::trim) == Some(n.trim()))
    };
    for m in messages {
        let is_error = m
            .message_type
            .as_deref()
            .is_some_and(|t| !t.eq_ignore_ascii_case("INFO"));
        let missing = m.order_number.as_deref().filter(|n| !listed(n));
        if is_error || missing.is_some() {
            let code = m.message_code.as_deref().unwrap_or("(no code)");
            let text = m.message.as_deref().unwrap_or("");
            let about = match m.order_number.as_deref() {
                Some(n) => format!(" about `{n}`"),
                None => String::new(),
            };
            return Err(format!(
                "the getOrder response reports `{code}`{about} ({text}): an order it names is not in `OrderModelList`, or RMS reported an error; fetch the orders again and paste a response that holds every order you want checked"
            ));
        }
    }
    Ok(())
}

// --- the known keys ---------------------------------------------------------------------

/// The keys of an `OrderModel` the typed [`Order`] reads (everything else is kept as given).
pub const ORDER_KEYS: &[&str] = &[
    "orderNumber",
    "orderProgress",
    "subStatusId",
    "orderDatetime",
    "shopOrderCfmDatetime",
    "orderFixDatetime",
    "shippingInstDatetime",
    "shippingCmplRptDatetime",
    "goodsPrice",
    "goodsTax",
    "postagePrice",
    "deliveryPrice",
    "paymentCharge",
    "totalPrice",
    "requestPrice",
    "couponAllTotalPrice",
    "couponShopPrice",
    "couponOtherPrice",
    "additionalFeeOccurAmountToUser",
    "additionalFeeOccurAmountToShop",
    "isolatedIslandFlag",
    "rakutenConfirmFlag",
    "modifyFlag",
    "PackageModelList",
];

/// The keys of a `PackageModelList` entry the typed [`Package`] reads.
pub const PACKAGE_KEYS: &[&str] = &[
    "basketId",
    "postagePrice",
    "deliveryPrice",
    "goodsTax",
    "goodsPrice",
    "totalPrice",
];

/// Known keys, each with its spelling folded (lowercase, without `_` and `-`), in the order
/// they are tried: what [`near_miss`] compares an unknown key with.
struct KnownKeys(Vec<(&'static str, String)>);

impl KnownKeys {
    fn of(lists: &[&[&'static str]]) -> Self {
        KnownKeys(
            lists
                .iter()
                .flat_map(|l| l.iter())
                .map(|k| (*k, folded(k)))
                .collect(),
        )
    }
}

/// The keys an `OrderModel` (or a whole `getOrder` response) is read with.
static ORDER_KNOWN: std::sync::LazyLock<KnownKeys> = std::sync::LazyLock::new(|| {
    KnownKeys::of(&[ORDER_KEYS, &[RESPONSE_LIST_KEY], RESPONSE_OTHER_KEYS])
});

/// The keys a `PackageModelList` entry is read with.
static PACKAGE_KNOWN: std::sync::LazyLock<KnownKeys> =
    std::sync::LazyLock::new(|| KnownKeys::of(&[PACKAGE_KEYS]));

/// The known key that `key` spells differently only by case, `_` or `-`, if any.
///
/// Every key of an `OrderModel` this model does not type (RMS writes a hundred) goes
/// through here, so the key is folded once and compared with the known keys' folded
/// spellings, made once.
fn near_miss(key: &str, known: &KnownKeys) -> Option<&'static str> {
    if key.is_ascii() {
        // Folded as it is compared, and only with the known keys as long once folded.
        let kept = |b: &u8| !matches!(b, b'_' | b'-');
        let length = key.bytes().filter(kept).count();
        return known
            .0
            .iter()
            .find(|(k, f)| {
                f.len() == length
                    && *k != key
                    && key
                        .bytes()
                        .filter(kept)
                        .map(|b| b.to_ascii_lowercase())
                        .eq(f.bytes())
            })
            .map(|(k, _)| *k);
    }
    let key_folded = folded(key);
    known
        .0
        .iter()
        .find(|(k, f)| *k != key && *f == key_folded)
        .map(|(k, _)| *k)
}

/// `key` lowercase, without `_` and `-`.
fn folded(key: &str) -> String {
    if key.is_ascii() {
        return key
            .bytes()
            .filter(|b| !matches!(b, b'_' | b'-'))
            .map(|b| char::from(b.to_ascii_lowercase()))
            .collect();
    }
    // Beyond ASCII, a lowercase may be ASCII (the Kelvin sign's is `k`) or longer.
    key.chars()
        .filter(|c| !matches!(c, '_' | '-'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Refuses the value of a key: the error is raised *inside* the value, so the error path
/// ends with the offending key (`order.postage_price`) and the position is the value's.
struct Refuse(String);

impl Refuse {
    /// A key one typo away from a known field.
    fn near_miss(key: &str, known: &str) -> Refuse {
        Refuse(format!(
            "unknown field `{key}`: did you mean `{known}`? (a key spelled like a known field would hide its value)"
        ))
    }

    /// A key given twice: which value counts would be a guess, and one may be a -9999.
    fn duplicate(key: &str) -> Refuse {
        Refuse(format!(
            "duplicate field `{key}`: a key given twice hides one of its values"
        ))
    }

    fn error<E: de::Error>(&self) -> E {
        E::custom(&self.0)
    }
}

impl<'de> DeserializeSeed<'de> for Refuse {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        // Through a visitor, so that the error carries the value's position.
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Refuse {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("no value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(self.error())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(self.error())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(self.error())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(self.error())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(self.error())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(self.error())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Err(self.error())
    }

    fn visit_some<D: Deserializer<'de>>(self, _: D) -> Result<(), D::Error> {
        Err(self.error())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(self.error())
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(self.error())
    }
}

/// A key, owned only when it is not one of `known`.
enum Key {
    Known(&'static str),
    Other(String),
}

struct KeySeed(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(match self.0.iter().find(|k| **k == v) {
            Some(k) => Key::Known(k),
            None => Key::Other(v.to_owned()),
        })
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Key, E> {
        Ok(Key::Other(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Key, E> {
        Ok(Key::Other(v.to_string()))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Key, E> {
        Ok(Key::Other(v.to_string()))
    }
}

// --- scanning unknown values for negative integers ---------------------------------------

/// Where a scanned value sits below the order: written out as a path ([`child_path`])
/// only for a negative number found there. Every key of every value RMS sends is walked,
/// and a path built for each was most of reading an order.
#[derive(Clone, Copy)]
enum At<'a> {
    Key(Option<&'a At<'a>>, &'a str),
    Index(&'a At<'a>, usize),
}

impl At<'_> {
    fn path(&self) -> String {
        match self {
            At::Key(None, key) => child_path("", key),
            At::Key(Some(parent), key) => child_path(&parent.path(), key),
            At::Index(parent, index) => format!("{}[{index}]", parent.path()),
        }
    }
}

/// Walks any value, recording every negative integer with its path.
struct Scan<'a> {
    at: At<'a>,
    out: &'a mut Vec<(String, i64)>,
}

impl<'a> Scan<'a> {
    /// Scans the value of the order's own key `key`.
    fn key(key: &'a str, out: &'a mut Vec<(String, i64)>) -> Self {
        Scan {
            at: At::Key(None, key),
            out,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Scan<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Scan<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        if v < 0 {
            self.out.push((self.at.path(), v));
        }
        Ok(())
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<(), E> {
        if v < 0 {
            // Below i64::MIN: record it as the lowest value, it is negative all the same.
            self.out
                .push((self.at.path(), i64::try_from(v).unwrap_or(i64::MIN)));
        }
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        // `-9999.0` and `-9.999e3` are the integer -9999 written as a float.
        if v < 0.0 && v.fract() == 0.0 && v >= i64::MIN as f64 {
            self.out.push((self.at.path(), v as i64));
        }
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0usize;
        loop {
            let seed = Scan {
                at: At::Index(&self.at, index),
                out: &mut *self.out,
            };
            if seq.next_element_seed(seed)?.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(KeySeed(&[]))? {
            let key = match key {
                Key::Known(k) => k.to_owned(),
                Key::Other(k) => k,
            };
            map.next_value_seed(Scan {
                at: At::Key(Some(&self.at), &key),
                out: &mut *self.out,
            })?;
        }
        Ok(())
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        // YAML tags (`!foo 1`) arrive as enums; their content is scanned like any value.
        use de::VariantAccess;
        let (_, variant) = data.variant::<de::IgnoredAny>()?;
        variant.newtype_variant_seed(self)
    }
}

/// The path of `key` below `parent`: `.key` for a plain name, `["a.b"]` for any other,
/// so a key with a dot cannot pass for a nested one.
pub(crate) fn child_path(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    match (plain, parent.is_empty()) {
        (true, true) => key.to_owned(),
        (true, false) => format!("{parent}.{key}"),
        (false, _) => format!("{parent}[{}]", serde_json::Value::from(key)),
    }
}

// --- Order and OrderInput ------------------------------------------------------------------

/// `null` and a list, alike (RMS sends `null` for an empty list as often as `[]`).
struct Packages;

impl<'de> DeserializeSeed<'de> for Packages {
    type Value = Vec<Package>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Package>, D::Error> {
        Ok(Option::<Vec<Package>>::deserialize(d)?.unwrap_or_default())
    }
}

struct OrderVisitor {
    /// Accept a whole `getOrder` response too.
    response: bool,
}

impl<'de> Visitor<'de> for OrderVisitor {
    type Value = OrderInput;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.response {
            f.write_str("an RMS OrderModel or a whole getOrder response")
        } else {
            f.write_str("an RMS OrderModel")
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderInput, A::Error> {
        let mut o = Order::default();
        let mut progress: Option<i64> = None;
        let mut typed_keys = 0usize;
        // Keys already read: typed ones as bits of ORDER_KEYS, others by name.
        let mut seen = 0u32;
        let mut other_keys: std::collections::HashSet<String> = Default::default();
        let mut response_orders: Option<Vec<Order>> = None;
        let mut messages: Option<Vec<ResponseMessage>> = None;
        let mut response_keys = 0usize;
        while let Some(key) = map.next_key_seed(KeySeed(ORDER_KEYS))? {
            let key = match key {
                Key::Known(k) => k,
                Key::Other(k) => {
                    if k == RESPONSE_LIST_KEY {
                        if !self.response {
                            return Err(de::Error::custom(
                                "a getOrder response (`OrderModelList`) is accepted only as the document's `order` or at its top, not inside a batch entry",
                            ));
                        }
                        if response_orders.is_some() {
                            map.next_value_seed(Refuse::duplicate(&k))?;
                            continue;
                        }
                        response_orders =
                            Some(map.next_value::<Option<Vec<Order>>>()?.unwrap_or_default());
                        continue;
                    }
                    if k == RESPONSE_MESSAGES_KEY {
                        if messages.is_some() {
                            map.next_value_seed(Refuse::duplicate(&k))?;
                            continue;
                        }
                        response_keys += 1;
                        messages = Some(
                            map.next_value::<Option<Vec<ResponseMessage>>>()?
                                .unwrap_or_default(),
                        );
                        continue;
                    }
                    if RESPONSE_OTHER_KEYS.contains(&k.as_str()) {
                        // The response's version, not an order's field.
                        if !other_keys.insert(k.clone()) {
                            map.next_value_seed(Refuse::duplicate(&k))?;
                            continue;
                        }
                        response_keys += 1;
                        map.next_value::<de::IgnoredAny>()?;
                        continue;
                    }
                    if let Some(known) = near_miss(&k, &ORDER_KNOWN) {
                        map.next_value_seed(Refuse::near_miss(&k, known))?;
                        continue;
                    }
                    if !other_keys.insert(k.clone()) {
                        map.next_value_seed(Refuse::duplicate(&k))?;
                        continue;
                    }
                    map.next_value_seed(Scan::key(&k, &mut o.other_negatives))?;
                    continue;
                }
            };
            let bit = 1u32 << ORDER_KEYS.iter().position(|k| *k == key).unwrap_or(31);
            if seen & bit != 0 {
                map.next_value_seed(Refuse::duplicate(key))?;
                continue;
            }
            seen |= bit;
            typed_keys += 1;
            match key {
                "orderNumber" => o.order_number = map.next_value()?,
                "orderProgress" => progress = Some(map.next_value()?),
                "subStatusId" => o.sub_status_id = map.next_value()?,
                "orderDatetime" => o.order_datetime = map.next_value()?,
                "shopOrderCfmDatetime" => o.shop_order_cfm_datetime = map.next_value()?,
                "orderFixDatetime" => o.order_fix_datetime = map.next_value()?,
                "shippingInstDatetime" => o.shipping_inst_datetime = map.next_value()?,
                "shippingCmplRptDatetime" => o.shipping_cmpl_rpt_datetime = map.next_value()?,
                "goodsPrice" => o.goods_price = map.next_value()?,
                "goodsTax" => o.goods_tax = map.next_value()?,
                "postagePrice" => o.postage_price = map.next_value()?,
                "deliveryPrice" => o.delivery_price = map.next_value()?,
                "paymentCharge" => o.payment_charge = map.next_value()?,
                "totalPrice" => o.total_price = map.next_value()?,
                "requestPrice" => o.request_price = map.next_value()?,
                "couponAllTotalPrice" => o.coupon_all_total_price = map.next_value()?,
                "couponShopPrice" => o.coupon_shop_price = map.next_value()?,
                "couponOtherPrice" => o.coupon_other_price = map.next_value()?,
                "additionalFeeOccurAmountToUser" => {
                    o.additional_fee_occur_amount_to_user = map.next_value()?
                }
                "additionalFeeOccurAmountToShop" => {
                    o.additional_fee_occur_amount_to_shop = map.next_value()?
                }
                "isolatedIslandFlag" => o.isolated_island_flag = map.next_value()?,
                "rakutenConfirmFlag" => o.rakuten_confirm_flag = map.next_value()?,
                "PackageModelList" => o.package_model_list = map.next_value_seed(Packages)?,
                "modifyFlag" => o.modify_flag = map.next_value()?,
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        match response_orders {
            Some(orders) => {
                if typed_keys > 0 {
                    return Err(de::Error::custom(
                        "a getOrder response has its orders inside `OrderModelList`, not beside it",
                    ));
                }
                if orders.is_empty() {
                    return Err(de::Error::custom(
                        "the getOrder response holds no order (`OrderModelList` is empty): look at its `MessageModelList`",
                    ));
                }
                check_response_messages(&orders, messages.as_deref().unwrap_or_default())
                    .map_err(de::Error::custom)?;
                Ok(OrderInput::Response(orders))
            }
            None if response_keys > 0 && typed_keys == 0 => Err(de::Error::custom(
                "the getOrder response holds no order (no `OrderModelList`): look at its `MessageModelList`",
            )),
            None => {
                o.order_progress = progress.ok_or_else(|| de::Error::missing_field("orderProgress"))?;
                Ok(OrderInput::One(Box::new(o)))
            }
        }
    }
}

impl<'de> Deserialize<'de> for Order {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match d.deserialize_map(OrderVisitor { response: false })? {
            OrderInput::One(o) => Ok(*o),
            // The visitor refuses responses when `response` is false.
            OrderInput::Response(_) => Err(de::Error::custom("expected one order")),
        }
    }
}

impl<'de> Deserialize<'de> for OrderInput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(OrderVisitor { response: true })
    }
}

impl OrderInput {
    /// The orders, one or many.
    pub fn into_orders(self) -> Vec<Order> {
        match self {
            OrderInput::One(o) => vec![*o],
            OrderInput::Response(orders) => orders,
        }
    }
}

struct PackageVisitor;

impl<'de> Visitor<'de> for PackageVisitor {
    type Value = Package;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a PackageModel")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Package, A::Error> {
        let mut p = Package::default();
        let mut seen = 0u32;
        let mut other_keys: std::collections::HashSet<String> = Default::default();
        while let Some(key) = map.next_key_seed(KeySeed(PACKAGE_KEYS))? {
            if let Key::Known(k) = &key {
                let bit = 1u32 << PACKAGE_KEYS.iter().position(|n| n == k).unwrap_or(31);
                if seen & bit != 0 {
                    map.next_value_seed(Refuse::duplicate(k))?;
                    continue;
                }
                seen |= bit;
            }
            match key {
                Key::Known("basketId") => p.basket_id = map.next_value()?,
                Key::Known("postagePrice") => p.postage_price = map.next_value()?,
                Key::Known("deliveryPrice") => p.delivery_price = map.next_value()?,
                Key::Known("goodsTax") => p.goods_tax = map.next_value()?,
                Key::Known("goodsPrice") => p.goods_price = map.next_value()?,
                Key::Known(_) => p.total_price = map.next_value()?,
                Key::Other(k) => {
                    if let Some(known) = near_miss(&k, &PACKAGE_KNOWN) {
                        map.next_value_seed(Refuse::near_miss(&k, known))?;
                        continue;
                    }
                    if !other_keys.insert(k.clone()) {
                        map.next_value_seed(Refuse::duplicate(&k))?;
                        continue;
                    }
                    map.next_value_seed(Scan::key(&k, &mut p.other_negatives))?;
                }
            }
        }
        Ok(p)
    }
}

impl<'de> Deserialize<'de> for Package {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(PackageVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every negative number under a key the model does not type is kept with its path,
    /// however deep: keys by name (`["a.b"]` for one with a dot), items by index.
    #[test]
    fn negative_numbers_are_found_with_their_paths() {
        let order: Order = serde_json::from_str(
            r#"{"orderNumber":"1","orderProgress":100,"x":{"a.b":[1,-2,{"c":-9999.0}],"d":{"e":[[0,-1]]}},"y":-5,"z":"-7",
                "PackageModelList":[{"basketId":1,"w":[-3],"v":{"u":-4}}]}"#,
        )
        .unwrap();
        let found = |n: &[(String, i64)]| -> Vec<String> {
            n.iter().map(|(p, v)| format!("{p}={v}")).collect()
        };
        assert_eq!(
            found(&order.other_negatives),
            [
                r#"x["a.b"][1]=-2"#,
                r#"x["a.b"][2].c=-9999"#,
                "x.d.e[0][1]=-1",
                "y=-5"
            ]
        );
        assert_eq!(
            found(&order.package_model_list[0].other_negatives),
            ["w[0]=-3", "v.u=-4"]
        );
    }

    /// `near_miss` finds what comparing every known key's fold with the key's fold finds,
    /// first list first: keys that match, keys of another length once folded, keys beyond
    /// ASCII (the Kelvin sign lowercases to `k`).
    #[test]
    fn near_misses_are_found_as_the_general_fold_finds_them() {
        fn fold(key: &str) -> impl Iterator<Item = char> + '_ {
            key.chars()
                .filter(|c| !matches!(c, '_' | '-'))
                .flat_map(char::to_lowercase)
        }
        let slow = |key: &str, lists: &[&[&'static str]]| {
            lists
                .iter()
                .flat_map(|l| l.iter())
                .copied()
                .find(|k| *k != key && fold(k).eq(fold(key)))
        };
        let keys = [
            "postage_price",
            "POSTAGE-PRICE",
            "postagePrice",
            "postagePrices",
            "postage__price_",
            "OrderNumber",
            "ordernumbe",
            "order-number-",
            "packageModelList",
            "orderModelList",
            "VERSION",
            "shopOrderCfmDatetime",
            "\u{212A}",
            "Pac\u{212A}ageModelList",
            "modifyflag",
            "",
            "_",
            "-orderProgress",
            "orderProgres",
            "ＯrderNumber",
        ];
        for key in keys {
            assert_eq!(
                near_miss(key, &ORDER_KNOWN),
                slow(
                    key,
                    &[ORDER_KEYS, &[RESPONSE_LIST_KEY], RESPONSE_OTHER_KEYS]
                ),
                "{key}"
            );
            assert_eq!(
                near_miss(key, &PACKAGE_KNOWN),
                slow(key, &[PACKAGE_KEYS]),
                "{key}"
            );
        }
        assert_eq!(
            near_miss("POSTAGE-PRICE", &ORDER_KNOWN),
            Some("postagePrice")
        );
        assert_eq!(
            near_miss("orderModelList", &ORDER_KNOWN),
            Some("OrderModelList")
        );
        assert_eq!(near_miss("postagePrice", &ORDER_KNOWN), None);
        assert_eq!(near_miss("postagePrices", &ORDER_KNOWN), None);
        assert_eq!(
            near_miss("Pac\u{212A}ageModelList", &ORDER_KNOWN),
            Some("PackageModelList")
        );
    }

    /// Every character drawn as nothing (Unicode's default-ignorable set, which NFKC keeps)
    /// is dropped, so a number holding one is the number without it (and the proxy, which
    /// forwards only numbers that are their own canonical form, refuses it).
    #[test]
    fn invisible_characters_are_not_part_of_an_order_number() {
        for c in [
            '\u{00AD}',
            '\u{034F}',
            '\u{061C}',
            '\u{115F}',
            '\u{17B4}',
            '\u{180E}',
            '\u{200B}',
            '\u{202E}',
            '\u{2066}',
            '\u{2069}',
            '\u{3164}',
            '\u{FE0F}',
            '\u{FEFF}',
            '\u{FFA0}',
            '\u{1D173}',
            '\u{E0041}',
            '\u{E01EF}',
        ] {
            let n = format!("375055-{c}20261130-00000001");
            assert_eq!(
                canonical_order_number(&n),
                "375055-20261130-00000001",
                "U+{:04X}",
                c as u32
            );
        }
        assert_eq!(canonical_order_number("３７５"), "375");
    }

    #[test]
    fn negatives_under_unknown_keys_are_kept_with_their_path() {
        let o: Order = serde_json::from_str(
            r#"{"orderProgress":100,"TaxSummaryModelList":[{"taxRate":0.1,"reqPrice":-9999}],
                "PackageModelList":[{"postagePrice":0,"newAmount":-9999,"SenderModel":{"x":-1}}],
                "pointType":-99,"count":5}"#,
        )
        .unwrap();
        assert_eq!(
            o.other_negatives,
            vec![
                ("TaxSummaryModelList[0].reqPrice".to_owned(), -9999),
                ("pointType".to_owned(), -99)
            ]
        );
        assert_eq!(
            o.package_model_list[0].other_negatives,
            vec![
                ("newAmount".to_owned(), -9999),
                ("SenderModel.x".to_owned(), -1)
            ]
        );
    }

    #[test]
    fn a_key_one_typo_away_is_refused() {
        for (json, key, known) in [
            (
                r#"{"orderProgress":100,"postage_price":-9999}"#,
                "postage_price",
                "postagePrice",
            ),
            (
                r#"{"orderProgress":100,"packageModelList":[]}"#,
                "packageModelList",
                "PackageModelList",
            ),
            (
                r#"{"orderProgress":100,"PackageModelList":[{"Goods-Tax":1}]}"#,
                "Goods-Tax",
                "goodsTax",
            ),
        ] {
            let err = serde_json::from_str::<Order>(json).unwrap_err().to_string();
            assert!(
                err.contains(&format!("unknown field `{key}`: did you mean `{known}`?")),
                "{err}"
            );
        }
    }

    #[test]
    fn a_get_order_response_is_an_order_input() {
        let input: OrderInput = serde_json::from_str(
            r#"{"MessageModelList":[{"messageType":"INFO"}],"version":7,
                "OrderModelList":[{"orderNumber":"a","orderProgress":100},{"orderNumber":"b","orderProgress":200}]}"#,
        )
        .unwrap();
        let orders = input.into_orders();
        assert_eq!(orders.len(), 2);
        assert_eq!(orders[1].order_progress, 200);
        let err = serde_json::from_str::<Order>(r#"{"OrderModelList":[]}"#).unwrap_err();
        assert!(err.to_string().contains("accepted only"), "{err}");
    }
}
