//! The committed spec is what the server serves, and it is complete. These tests
//! need no database: the app is served against an unreachable one.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

const PUBLIC: [&str; 10] = [
    "register",
    "login",
    "refresh",
    "webLogin",
    "webRefresh",
    "webLogout",
    "healthz",
    "readyz",
    "metrics",
    "openapi",
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
    // Its own CSP: only its inline scripts run (by hash), no framing (issue 20).
    let csp = resp
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let scripts = csp
        .split(';')
        .find(|d| d.trim_start().starts_with("script-src"))
        .unwrap_or_default();
    assert!(scripts.contains("'sha256-"), "{csp}");
    assert!(!scripts.contains("unsafe"), "{csp}");
    assert_eq!(
        resp.headers().get("x-frame-options").map(|v| v.as_bytes()),
        Some(&b"DENY"[..])
    );
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
                let schema = &error["content"]["application/json"]["schema"]["$ref"];
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

fn operation<'a>(spec: &'a Value, id: &str) -> &'a Value {
    spec["paths"]
        .as_object()
        .into_iter()
        .flat_map(|p| p.values())
        .filter_map(Value::as_object)
        .flat_map(|m| m.values())
        .find(|op| op["operationId"] == id)
        .unwrap_or_else(|| panic!("no operation {id}"))
}

fn statuses(spec: &Value, id: &str) -> Vec<String> {
    operation(spec, id)["responses"]
        .as_object()
        .map(|r| r.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn each_operation_lists_only_the_errors_it_can_return_with_their_codes() {
    let spec = committed();
    let me = statuses(&spec, "getMe");
    for impossible in ["400", "403", "404", "409", "413", "415", "422", "429"] {
        assert!(
            !me.contains(&impossible.to_owned()),
            "getMe lists {impossible}"
        );
    }
    for needed in ["401", "500", "503"] {
        assert!(me.contains(&needed.to_owned()), "getMe lacks {needed}");
    }
    let register = statuses(&spec, "register");
    for impossible in ["401", "403", "404"] {
        assert!(
            !register.contains(&impossible.to_owned()),
            "register lists {impossible}"
        );
    }
    for needed in ["400", "409", "413", "415", "422", "429", "503"] {
        assert!(
            register.contains(&needed.to_owned()),
            "register lacks {needed}"
        );
    }
    let conflict = &operation(&spec, "register")["responses"]["409"];
    assert!(
        conflict["description"]
            .as_str()
            .is_some_and(|d| d.contains("`username_taken`")),
        "{conflict}"
    );
    let limited = &operation(&spec, "sendMessage")["responses"]["429"];
    assert!(limited["headers"]["Retry-After"].is_object(), "{limited}");
}

#[test]
fn links_lead_from_created_resources_to_the_operations_on_them() {
    let spec = committed();
    let created = &operation(&spec, "createGroup")["responses"]["201"]["links"];
    assert_eq!(created["GetGroup"]["operationId"], "getGroup");
    assert_eq!(
        created["GetGroup"]["parameters"]["id"],
        "$response.body#/id"
    );
    let sent = &operation(&spec, "sendMessage")["responses"]["201"]["links"];
    assert_eq!(sent["EditMessage"]["operationId"], "editMessage");
}

#[tokio::test]
async fn a_method_a_path_does_not_support_is_405_with_allow() {
    let app = spawn_unready_app().await;
    for (method, path, allow) in [
        (reqwest::Method::GET, "/api/v1/auth/login", "POST"),
        (
            reqwest::Method::PUT,
            "/api/v1/groups/0123456789abcdef01234567",
            "DELETE, GET, PATCH",
        ),
        (reqwest::Method::DELETE, "/api/v1/users/me", "GET, PATCH"),
    ] {
        let resp = app
            .http
            .request(method.clone(), app.url(path))
            .send()
            .await
            .expect("request");
        assert_eq!(
            resp.headers()
                .get("allow")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .as_deref(),
            Some(allow),
            "{method} {path}"
        );
        assert_eq!(
            expect_error(resp, StatusCode::METHOD_NOT_ALLOWED).await,
            "method_not_allowed"
        );
    }
}
