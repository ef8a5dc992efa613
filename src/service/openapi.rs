//! The service's OpenAPI 3.1 document, built with utoipa's model of OpenAPI.
//!
//! The paths, operations, parameters and examples are written here; the schemas of the
//! bodies are generated from the Rust types (schemars, the same generator as the JSON
//! Schemas checked in under `rules/`, so a body's schema here and there is one text), and
//! moved into `components.schemas`. Every response example is the answer the embedded
//! rules give to the request example of the same name — computed when the document is
//! built, so the document cannot promise what the service does not answer (a test sends
//! every example over HTTP and compares).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};
use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{
    ContentBuilder, InfoBuilder, OpenApiBuilder, PathsBuilder, Ref, RefOr, Required, Response,
    ResponseBuilder, Schema,
};

use crate::engine::Engine;
use crate::model::Timestamp;
use crate::render::{check_document, CheckOptions, JsonWriter};
use crate::rules::{ErrorEntry, Lang, Rule, RuleSet, SuccessEntry};

/// `{"error": {"message": …}}`: what every route but `/v1/check` answers on bad input.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ErrorAnswer {
    pub error: ErrorMessage,
}

/// What went wrong, lowercase, user input in backticks.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ErrorMessage {
    pub message: String,
}

/// `GET /healthz`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Health {
    /// Always `ok` while the service answers.
    pub status: &'static str,
    /// The rules answering now (also in the `x-rules-version` header).
    pub rules_version: String,
}

/// `GET /v1/rules`: every rule as the rules file writes it (both languages).
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct RulesAnswer<'a> {
    pub version: &'a str,
    pub rules: &'a [Rule],
}

/// `GET /v1/errors`: the error table, and the messages that mean success.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ErrorsAnswer<'a> {
    pub version: &'a str,
    pub errors: &'a [ErrorEntry],
    pub success: &'a [SuccessEntry],
}

/// The request examples of `POST /v1/check`: (name, summary, document).
fn check_examples() -> Vec<(&'static str, &'static str, Value)> {
    let order = |postage: i64| {
        json!({
            "orderNumber": "375055-20261130-00000001",
            "orderProgress": 100,
            "orderDatetime": "2026-11-29T10:00:00+0900",
            "goodsPrice": 3980,
            "postagePrice": postage,
            "totalPrice": if postage < 0 { -9999 } else { 3980 + postage },
            "requestPrice": if postage < 0 { -9999 } else { 3980 + postage },
        })
    };
    vec![
        (
            "allow",
            "a confirmation RMS will take",
            json!({
                "shop": {"api_option": true},
                "now": "2026-11-30T12:00:00+09:00",
                "action": "confirm",
                "order": order(660),
                "oms": {"confirm_sent": false, "label": "none"},
            }),
        ),
        (
            "deny",
            "a confirmation with RMS's unset shipping fee (-9999, S13)",
            json!({
                "shop": {"api_option": false},
                "now": "2026-11-30T12:00:00+09:00",
                "action": "confirm",
                "order": order(-9999),
                "oms": {"confirm_sent": false, "label": "none"},
            }),
        ),
        (
            "batch",
            "a batch confirming one order twice (S1 across entries)",
            json!({
                "shop": {"api_option": true},
                "now": "2026-11-30T12:00:00+09:00",
                "requests": [
                    {"action": "confirm", "order": order(660)},
                    {"action": "confirm", "order": order(660)},
                ],
            }),
        ),
        (
            "bad-input",
            "a misspelt field: refused with its path, line and column",
            json!({
                "now": "2026-11-30T12:00:00+09:00",
                "action": "confirm",
                "order": {"orderNumber": "375055-20261130-00000001", "postage_price": -9999},
            }),
        ),
    ]
}

/// The request examples of `POST /v1/explain-error`: (name, summary, body).
fn explain_examples() -> Vec<(&'static str, &'static str, &'static str)> {
    vec![
        (
            "license-expired",
            "the gateway's answer to an expired licence key",
            r#"{"Results":{"errorCode":"ES01-01","message":"Un-Authorised"}}"#,
        ),
        (
            "per-order",
            "confirmOrder: one order refused, one confirmed",
            r#"{"MessageModelList":[{"messageType":"ERROR","messageCode":"ORDER_EXT_API_CONFIRM_ORDER_ERROR_103","message":"注文確認できないステータスです","orderNumber":"375055-20261130-00000001"},{"messageType":"INFO","messageCode":"ORDER_EXT_API_CONFIRM_ORDER_INFO_101","message":"注文確認処理が完了しました","orderNumber":"375055-20261130-00000002"}]}"#,
        ),
        (
            "oms-message",
            "the message an OMS showed",
            "APIエラー: Forbidden-Exceeded QPS Limitation",
        ),
        (
            "duplicate-key",
            "a key given twice: refused",
            r#"{"MessageModelList":[],"MessageModelList":[]}"#,
        ),
    ]
}

/// What the embedded rules answer to a check example: (status, document).
fn check_answer(engine: &Engine, document: &Value) -> (u16, Value) {
    let text = serde_json::to_vec(document).unwrap_or_default();
    let mut out = Vec::new();
    let options = CheckOptions {
        format: None,
        explain: false,
        now: Timestamp::from_unix(0, 9 * 3600),
        stop_on_write_error: false,
    };
    let run = check_document(
        engine,
        &text[..],
        &options,
        &mut JsonWriter::new(Lang::Ja),
        &mut out,
        &mut |_, _| {},
    );
    let status = if run.read.is_ok() { 200 } else { 400 };
    (status, serde_json::from_slice(&out).unwrap_or(Value::Null))
}

/// What the embedded rules answer to an explain-error example: (status, document).
fn explain_answer(engine: &Engine, body: &str) -> (u16, Value) {
    match crate::render::explain_error(engine, None, body, Lang::Ja) {
        Ok(out) => (200, serde_json::to_value(&out).unwrap_or(Value::Null)),
        Err(e) => (
            400,
            serde_json::to_value(ErrorAnswer {
                error: ErrorMessage {
                    message: e.to_string(),
                },
            })
            .unwrap_or(Value::Null),
        ),
    }
}

fn schema_ref(name: &str) -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(name))
}

fn string_enum(values: &[&str], default: &str) -> Schema {
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(values.iter().copied()))
            .default(Some(json!(default)))
            .build(),
    )
}

fn query(name: &str, description: &str, schema: Schema) -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

fn version_header() -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(Schema::Object(ObjectBuilder::new().schema_type(Type::String).build()))
        .description(Some(
            "The rule set the answer came from: the first 16 hex digits of the SHA-256 of the rules text",
        ))
        .build()
}

/// A JSON response of schema `schema` with named examples.
fn json_response(description: &str, schema: &str, examples: Vec<(String, Value)>) -> Response {
    let mut content = ContentBuilder::new().schema(Some(schema_ref(schema)));
    if !examples.is_empty() {
        content = content.examples_from_iter(
            examples
                .into_iter()
                .map(|(name, value)| (name, ExampleBuilder::new().value(Some(value)).build())),
        );
    }
    ResponseBuilder::new()
        .description(description)
        .header(super::RULES_VERSION_HEADER, version_header())
        .content("application/json", content.build())
        .build()
}

fn text_response(description: &str, content_type: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .header(super::RULES_VERSION_HEADER, version_header())
        .content(
            content_type,
            ContentBuilder::new()
                .schema(Some(Schema::Object(
                    ObjectBuilder::new().schema_type(Type::String).build(),
                )))
                .build(),
        )
        .build()
}

fn lang_parameter() -> utoipa::openapi::path::Parameter {
    query(
        "lang",
        "Language of messages and remedies",
        string_enum(&["ja", "en"], "ja"),
    )
}

/// The OpenAPI 3.1 document of the service (`GET /openapi.json`, `rules/openapi.json`).
pub fn openapi() -> Value {
    let engine = match RuleSet::embedded() {
        Ok(rules) => Some(Engine::new(rules)),
        Err(_) => None,
    };

    // POST /v1/check
    let mut request_examples = Vec::new();
    let mut by_status: BTreeMap<u16, Vec<(String, Value)>> = BTreeMap::new();
    for (name, summary, document) in check_examples() {
        if let Some(engine) = &engine {
            let (status, answer) = check_answer(engine, &document);
            by_status
                .entry(status)
                .or_default()
                .push((name.to_owned(), answer));
        }
        request_examples.push((
            name,
            ExampleBuilder::new()
                .summary(summary)
                .value(Some(document))
                .build(),
        ));
    }
    let check_body = RequestBodyBuilder::new()
        .description(Some(
            "A check document: one request or a batch (`requests: […]`), as `rms-preflight check` reads it. `Content-Type` `application/json` or `application/yaml`; without one (or `text/plain`) the syntax is sniffed: `{` first is JSON.",
        ))
        .required(Some(Required::True))
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(schema_ref("CheckRequest")))
                .examples_from_iter(request_examples)
                .build(),
        )
        .content(
            "application/yaml",
            ContentBuilder::new().schema(Some(schema_ref("CheckRequest"))).build(),
        )
        .build();
    let check = OperationBuilder::new()
        .operation_id(Some("check"))
        .summary(Some("May I? Check one request or a batch"))
        .description(Some(
            "Answers exactly what `rms-preflight check --format json` prints. Allow, warn and deny are answers (200). A batch streams in and out; an answer longer than 64 KiB is sent as it is written, so a batch cut short by bad input after that point ends with the `error` member under status 200.",
        ))
        .parameter(lang_parameter())
        .parameter(query(
            "explain",
            "Add every rule that applies, whether it fired, and the values it read",
            Schema::Object(
                ObjectBuilder::new()
                    .schema_type(Type::Boolean)
                    .default(Some(json!(false)))
                    .build(),
            ),
        ))
        .request_body(Some(check_body))
        .response(
            "200",
            json_response(
                "The verdicts (allow, warn or deny) and their summary",
                "CheckOutput",
                by_status.remove(&200).unwrap_or_default(),
            ),
        )
        .response(
            "400",
            json_response(
                "Bad input: the document so far and `error` (message, JSON path, line, column)",
                "CheckOutput",
                by_status.remove(&400).unwrap_or_default(),
            ),
        )
        .response(
            "413",
            json_response(
                "A document (or one entry of a JSON batch) over the input limit",
                "CheckOutput",
                vec![],
            ),
        )
        .response(
            "415",
            json_response("A `Content-Type` that is neither JSON nor YAML", "CheckOutput", vec![]),
        )
        .build();

    // POST /v1/explain-error
    let mut explain_requests = Vec::new();
    let mut explain_by_status: BTreeMap<u16, Vec<(String, Value)>> = BTreeMap::new();
    for (name, summary, body) in explain_examples() {
        if let Some(engine) = &engine {
            let (status, answer) = explain_answer(engine, body);
            explain_by_status
                .entry(status)
                .or_default()
                .push((name.to_owned(), answer));
        }
        explain_requests.push((
            name,
            ExampleBuilder::new()
                .summary(summary)
                .value(Some(json!(body)))
                .build(),
        ));
    }
    let explain = OperationBuilder::new()
        .operation_id(Some("explainError"))
        .summary(Some("Which RMS error is this, and what now?"))
        .description(Some(
            "The body is an RMS answer (any API's error shape, or a `MessageModelList`) or the message an OMS showed, as text. Answers exactly what `rms-preflight explain-error --format json` prints.",
        ))
        .parameter(query(
            "status",
            "The HTTP status RMS answered with, if known",
            Schema::Object(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(100))
                    .maximum(Some(599))
                    .build(),
            ),
        ))
        .parameter(lang_parameter())
        .request_body(Some(
            RequestBodyBuilder::new()
                .required(Some(Required::True))
                .content(
                    "text/plain",
                    ContentBuilder::new()
                        .schema(Some(Schema::Object(
                            ObjectBuilder::new().schema_type(Type::String).build(),
                        )))
                        .examples_from_iter(explain_requests)
                        .build(),
                )
                .build(),
        ))
        .response(
            "200",
            json_response(
                "The outcome: success, or the error entry with its retry and remedy; per order",
                "ExplainErrorOutput",
                explain_by_status.remove(&200).unwrap_or_default(),
            ),
        )
        .response(
            "400",
            json_response(
                "A bad query, a body that is not UTF-8, or a key given twice",
                "ErrorAnswer",
                explain_by_status.remove(&400).unwrap_or_default(),
            ),
        )
        .response(
            "413",
            json_response("A body over the input limit", "ErrorAnswer", vec![]),
        )
        .build();

    let health_example = engine
        .as_ref()
        .map(|_| {
            vec![(
                "ok".to_owned(),
                json!({ "status": "ok", "rules_version": super::version_of(crate::rules::EMBEDDED_RULES) }),
            )]
        })
        .unwrap_or_default();

    let get = |id: &str, summary: &str, response: Response| {
        OperationBuilder::new()
            .operation_id(Some(id))
            .summary(Some(summary))
            .response("200", response)
            .build()
    };
    let graph = OperationBuilder::new()
        .operation_id(Some("rulesGraph"))
        .summary(Some(
            "RMS's order state machine, as `rms-preflight rules graph` draws it",
        ))
        .parameter(query(
            "format",
            "The graph's language",
            string_enum(&["mermaid", "dot"], "mermaid"),
        ))
        .response("200", {
            let mut r = text_response("Mermaid", "text/vnd.mermaid");
            if let Some(c) = text_response("DOT", "text/vnd.graphviz")
                .content
                .shift_remove("text/vnd.graphviz")
            {
                r.content.insert("text/vnd.graphviz".into(), c);
            }
            r
        })
        .response(
            "400",
            json_response("An unknown format", "ErrorAnswer", vec![]),
        )
        .build();

    let paths = PathsBuilder::new()
        .path("/v1/check", PathItem::new(HttpMethod::Post, check))
        .path("/v1/explain-error", PathItem::new(HttpMethod::Post, explain))
        .path(
            "/v1/rules",
            PathItem::new(
                HttpMethod::Get,
                get(
                    "rules",
                    "Every rule: id, seed tag, severity, actions, guard, message and remedy variants (both languages)",
                    json_response("The rules", "RulesAnswer", vec![]),
                ),
            ),
        )
        .path("/v1/rules/graph", PathItem::new(HttpMethod::Get, graph))
        .path(
            "/v1/errors",
            PathItem::new(
                HttpMethod::Get,
                get(
                    "errors",
                    "The error table (S17–S21) and the messages that mean success",
                    json_response("The error table", "ErrorsAnswer", vec![]),
                ),
            ),
        )
        .path(
            "/healthz",
            PathItem::new(
                HttpMethod::Get,
                get(
                    "health",
                    "The service answers, and with which rules",
                    json_response("Up", "Health", health_example),
                ),
            ),
        )
        .path(
            "/metrics",
            PathItem::new(
                HttpMethod::Get,
                get(
                    "metrics",
                    "Prometheus text: answers by route and status, latency histogram, decisions by action, findings by rule and action, reloads, rules version",
                    text_response("The counters", "text/plain"),
                ),
            ),
        )
        .path(
            "/openapi.json",
            PathItem::new(
                HttpMethod::Get,
                get(
                    "openapi",
                    "This document",
                    text_response("OpenAPI 3.1", "application/json"),
                ),
            ),
        )
        .build();

    let doc = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("rms-preflight")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "May I do this to this Rakuten Pay order now? The pre-flight checks of `rms-preflight` as an HTTP service (`rms-preflight serve`). Examples are answered by the embedded rules.",
                ))
                .build(),
        )
        .paths(paths)
        .build();
    let mut doc = serde_json::to_value(&doc).unwrap_or(Value::Null);
    let mut schemas = serde_json::Map::new();
    for (name, schema) in [
        ("CheckRequest", crate::model::request_json_schema()),
        ("CheckOutput", crate::render::check_output_schema()),
        ("ExplainErrorOutput", crate::render::explain_error_schema()),
        ("ErrorAnswer", json_schema::<ErrorAnswer>()),
        ("Health", json_schema::<Health>()),
        ("RulesAnswer", json_schema::<RulesAnswer<'static>>()),
        ("ErrorsAnswer", json_schema::<ErrorsAnswer<'static>>()),
    ] {
        add_component(&mut schemas, name, schema);
    }
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("components".into(), json!({ "schemas": schemas }));
    }
    doc
}

fn json_schema<T: schemars::JsonSchema>() -> Value {
    serde_json::to_value(schemars::schema_for!(T)).unwrap_or(Value::Null)
}

/// Moves a schemars root schema into `components.schemas` as `name`: its `definitions`
/// become components of their own (a name taken by a different schema gets `name`'s
/// prefix), `$ref`s point there, and `$schema` goes (the document's dialect is JSON
/// Schema 2020-12, which these schemas also are).
fn add_component(schemas: &mut serde_json::Map<String, Value>, name: &str, mut schema: Value) {
    let mut renames = BTreeMap::new();
    let definitions = schema
        .as_object_mut()
        .and_then(|o| {
            o.remove("$schema");
            o.remove("definitions")
        })
        .and_then(|d| match d {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .unwrap_or_default();
    let mut moved = Vec::new();
    for (def, value) in definitions {
        let target = match schemas.get(&def) {
            Some(existing) if existing != &value => format!("{name}{def}"),
            _ => def.clone(),
        };
        renames.insert(def, target.clone());
        moved.push((target, value));
    }
    for (target, mut value) in moved {
        rewrite_refs(&mut value, &renames);
        schemas.insert(target, value);
    }
    rewrite_refs(&mut schema, &renames);
    schemas.insert(name.to_owned(), schema);
}

fn rewrite_refs(value: &mut Value, renames: &BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if k == "$ref" {
                    if let Some(def) = v.as_str().and_then(|r| r.strip_prefix("#/definitions/")) {
                        let target = renames.get(def).cloned().unwrap_or_else(|| def.to_owned());
                        *v = Value::String(format!("#/components/schemas/{target}"));
                    }
                } else {
                    rewrite_refs(v, renames);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_refs(v, renames)),
        _ => {}
    }
}
