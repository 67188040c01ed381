//! The OpenAPI document as served and committed: poem-openapi's output, finished.
//!
//! poem-openapi writes most of the spec from the handlers' types. A few things it
//! cannot say are added here, in one pass over its JSON, so that generators
//! (openapi-python-client, @hey-api/openapi-ts, openapi-generator) take it whole:
//! - request bodies declare `additionalProperties: false` (their types refuse
//!   unknown fields with 400);
//! - JSON is `application/json` (the server sends `; charset=utf-8`, which
//!   the media type implies);
//! - a union variant with no fields of its own (`ping`, `pong`) is just its
//!   `type`: an empty object in an `allOf` reads as "any object" to generators;
//! - OpenAPI `links` say which response field feeds which operation's id, so
//!   clients and schemathesis' stateful phase can follow them;
//! - the methods each path supports, for the `Allow` header of a 405.
//!
//! This file holds the document and the pass that finishes it, with the fixes
//! of its shape (closed request bodies, empty union members, plain JSON); the
//! rest is in the children: `constraints` (the rules of fields and parameters),
//! `links` (OpenAPI links), `allow` (the `Allow` header), `docs` (the `/docs`
//! page and its Content-Security-Policy), `tests` the unit tests.

use std::sync::OnceLock;

use serde_json::{Map, Value, json};

mod allow;
mod constraints;
mod docs;
mod links;
#[cfg(test)]
mod tests;

pub use allow::allowed_methods;
use constraints::{add_constraints, add_parameter_constraints};
pub use docs::{swagger_csp, swagger_html};
use links::add_links;

/// The finished document, pretty-printed (what `/openapi.json` serves and what
/// `openapi/openapi.json` holds).
pub fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let raw = super::service().spec();
        match serde_json::from_str::<Value>(&raw) {
            Ok(mut spec) => {
                finish(&mut spec);
                serde_json::to_string_pretty(&spec).unwrap_or(raw) + "\n"
            }
            Err(_) => raw,
        }
    })
}

fn finish(spec: &mut Value) {
    let request_schemas = request_body_schemas(spec);
    if let Some(schemas) = spec
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for name in &request_schemas {
            if let Some(Value::Object(schema)) = schemas.get_mut(name)
                && schema.contains_key("properties")
            {
                schema.insert("additionalProperties".into(), Value::Bool(false));
            }
        }
        add_constraints(schemas);
        let dropped = drop_empty_union_members(schemas);
        let text = spec.to_string();
        if let Some(schemas) = spec
            .pointer_mut("/components/schemas")
            .and_then(Value::as_object_mut)
        {
            for name in dropped {
                if !text.contains(&format!("\"#/components/schemas/{name}\"")) {
                    schemas.remove(&name);
                }
            }
        }
    }
    add_parameter_constraints(spec);
    plain_json(spec);
    add_links(spec);
}

/// Names of the component schemas that request bodies refer to.
fn request_body_schemas(spec: &Value) -> Vec<String> {
    let mut names = Vec::new();
    for op in operations(spec) {
        if let Some(content) = op
            .pointer("/requestBody/content")
            .and_then(Value::as_object)
        {
            for media in content.values() {
                if let Some(name) = media
                    .pointer("/schema/$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                {
                    names.push(name.to_owned());
                }
            }
        }
    }
    names
}

fn operations(spec: &Value) -> impl Iterator<Item = &Value> {
    spec.get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|paths| paths.values())
        .filter_map(Value::as_object)
        .flat_map(|methods| methods.values())
}

/// `allOf: [{type: ping}, {$ref: PingFrame}]` where `PingFrame` has no properties
/// becomes the first part alone. Returns the empty schemas (to remove when
/// nothing refers to them any more).
fn drop_empty_union_members(schemas: &mut Map<String, Value>) -> Vec<String> {
    let empty: Vec<String> = schemas
        .iter()
        .filter(|(_, s)| {
            s.get("type") == Some(&json!("object"))
                && ["oneOf", "anyOf", "allOf"]
                    .iter()
                    .all(|k| s.get(k).is_none())
                && s.get("properties")
                    .and_then(Value::as_object)
                    .is_none_or(Map::is_empty)
        })
        .map(|(name, _)| name.clone())
        .collect();
    let is_empty_ref = |part: &Value| {
        part.get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
            .is_some_and(|name| empty.iter().any(|e| e == name))
    };
    for schema in schemas.values_mut() {
        let Some(parts) = schema.get("allOf").and_then(Value::as_array) else {
            continue;
        };
        if !parts.iter().any(is_empty_ref) {
            continue;
        }
        let kept: Vec<Value> = parts.iter().filter(|p| !is_empty_ref(p)).cloned().collect();
        if let [only] = kept.as_slice() {
            *schema = only.clone();
        } else if let Some(obj) = schema.as_object_mut() {
            obj.insert("allOf".into(), Value::Array(kept));
        }
    }
    empty
}

/// Every `application/json; charset=utf-8` content entry becomes `application/json`.
fn plain_json(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(content)) = map.get_mut("content")
                && let Some(media) = content.remove("application/json; charset=utf-8")
            {
                content.insert("application/json".into(), media);
            }
            map.values_mut().for_each(plain_json);
        }
        Value::Array(items) => items.iter_mut().for_each(plain_json),
        _ => {}
    }
}
