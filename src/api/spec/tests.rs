//! Unit tests of the finished document: links, closed request bodies and plain
//! JSON, constraints, and the `Allow` methods of templated paths.

use super::constraints::constraints;
use super::links::LINKS;
use super::*;

#[test]
fn every_link_names_operations_and_statuses_that_exist() {
    let spec: Value = serde_json::from_str(document()).expect("json");
    let ids: Vec<&str> = operations(&spec)
        .filter_map(|op| op.get("operationId").and_then(Value::as_str))
        .collect();
    for (from, status, name, target, _) in LINKS {
        assert!(ids.contains(from), "{from}");
        assert!(ids.contains(target), "{target}");
        let op = operations(&spec)
            .find(|op| op.get("operationId") == Some(&json!(from)))
            .expect("operation");
        assert!(
            op.pointer(&format!("/responses/{status}/links/{name}"))
                .is_some(),
            "{from} {status} {name}"
        );
    }
}

#[test]
fn request_bodies_refuse_unknown_fields_and_json_is_plain() {
    let spec: Value = serde_json::from_str(document()).expect("json");
    for name in request_body_schemas(&spec) {
        let schema = &spec["components"]["schemas"][&name];
        assert_eq!(schema["additionalProperties"], json!(false), "{name}");
    }
    assert!(!document().contains("application/json; charset=utf-8"));
    // No `allOf` wrapper that only adds a description to a `$ref` (what a
    // doc comment on an enum-typed field produces; generators reject it).
    fn no_description_wrappers(value: &Value) {
        match value {
            Value::Object(map) => {
                if let Some(Value::Array(parts)) = map.get("allOf") {
                    for part in parts {
                        let keys: Vec<&String> =
                            part.as_object().into_iter().flat_map(Map::keys).collect();
                        assert_ne!(keys, ["description"], "{value}");
                    }
                }
                map.values().for_each(no_description_wrappers);
            }
            Value::Array(items) => items.iter().for_each(no_description_wrappers),
            _ => {}
        }
    }
    no_description_wrappers(&spec);
}

#[test]
fn every_constraint_lands_on_a_property_that_exists() {
    let spec: Value = serde_json::from_str(document()).expect("json");
    for (schema, property, rules) in constraints() {
        let target = &spec["components"]["schemas"][schema]["properties"][property];
        for (rule, value) in rules.as_object().expect("rules") {
            assert_eq!(&target[rule], value, "{schema}.{property}.{rule}");
        }
    }
}

#[test]
fn allowed_methods_match_templated_paths() {
    assert_eq!(
        allowed_methods("/api/v1/groups/0123456789abcdef01234567").as_deref(),
        Some("DELETE, GET, PATCH")
    );
    assert_eq!(
        allowed_methods("/api/v1/auth/login").as_deref(),
        Some("POST")
    );
    assert_eq!(allowed_methods("/api/v1/nothing"), None);
}
