//! The committed spec is what the server serves, and it is complete. These tests
//! need no database: the app is served against an unreachable one.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

const PUBLIC: [&str; 7] = [
    "register", "login", "refresh", "healthz", "readyz", "metrics", "openapi",
];

fn committed() -> Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .expect("openapi/openapi.json");
    serde_json::from_str(&text).expect("valid JSON")
}

#[tokio::test]
async fn the_committed_spec_matches_the_served_one() {
    let app = spawn_unready_app().await;
    let served = expect_json(app.get("/openapi.json", None).await, StatusCode::OK).await;
    assert!(
        served == committed(),
        "openapi/openapi.json is stale; regenerate it with: cargo run --quiet -- openapi > openapi/openapi.json"
    );
}

#[tokio::test]
async fn swagger_ui_is_served_at_docs() {
    let app = spawn_unready_app().await;
    let resp = app.get("/docs", None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.text()
            .await
            .unwrap()
            .to_lowercase()
            .contains("swagger")
    );
}

#[test]
fn every_operation_is_documented_typed_and_secured() {
    let spec = committed();
    assert!(spec["components"]["securitySchemes"]["BearerAuth"]["scheme"] == "bearer");
    let mut operation_ids = std::collections::HashSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}: operationId"));
            assert!(
                operation_ids.insert(id.to_owned()),
                "duplicate operationId {id}"
            );
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{id}: summary"
            );
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{id}: tags"
            );
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2') || s == "101"),
                "{id}: success response"
            );
            if id != "healthz" && id != "metrics" {
                assert!(
                    responses.contains_key("503") || responses.contains_key("400"),
                    "{id}: error responses"
                );
            }
            if let Some(error) = responses.get("400") {
                let schema = &error["content"]["application/json; charset=utf-8"]["schema"]["$ref"];
                assert_eq!(
                    schema, "#/components/schemas/ErrorBody",
                    "{id}: error shape"
                );
            }
            let secured = op
                .get("security")
                .and_then(Value::as_array)
                .is_some_and(|s| !s.is_empty());
            if id == "connectWebSocket" {
                // Bearer header or single-use ticket: checked by the gateway itself.
                assert!(
                    responses.contains_key("401") && responses.contains_key("403"),
                    "{id}"
                );
                let schemas = &spec["components"]["schemas"];
                assert!(
                    schemas.get("ServerFrame").is_some() && schemas.get("ClientFrame").is_some(),
                    "frames documented"
                );
                continue;
            }
            assert_eq!(secured, !PUBLIC.contains(&id), "{id}: bearer security");
            if secured {
                assert!(responses.contains_key("401"), "{id}: declares 401");
            }
        }
    }
    assert!(operation_ids.len() >= 17, "{operation_ids:?}");
}
