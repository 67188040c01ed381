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

use std::sync::OnceLock;

use serde_json::{Map, Value, json};

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

/// Swagger UI over the finished document.
pub fn swagger_html() -> String {
    let service = super::service();
    service
        .swagger_ui_html()
        .replacen(&service.spec(), document(), 1)
}

/// The Content-Security-Policy of `/docs`: Swagger UI's inline scripts are
/// allowed by their SHA-256 hashes (computed from the page served), nothing else
/// runs; styles may be inline (Swagger UI sets style attributes from script);
/// requests go to this origin only; no page may frame it.
pub fn swagger_csp(html: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let mut hashes = String::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        let after = &rest[start..];
        let Some(open_end) = after.find('>') else {
            break;
        };
        let tag = &after[..open_end];
        let body_and_more = &after[open_end + 1..];
        let Some(close) = body_and_more.find("</script>") else {
            break;
        };
        if !tag.contains("src=") {
            let digest = sha2::Sha256::digest(&body_and_more.as_bytes()[..close]);
            let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
            hashes.push_str(&format!(" 'sha256-{b64}'"));
        }
        rest = &body_and_more[close + "</script>".len()..];
    }
    format!(
        "default-src 'none'; script-src{hashes}; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'"
    )
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

/// Length, range and pattern rules of request fields that JSON Schema can state,
/// from the limits the server enforces (`crate::limits`, `crate::ids`). Text
/// lengths are counted by the server after NFC normalisation and trimming, so
/// it never refuses what `maxLength` allows (a decomposed accent is one
/// character to it). Rules the schema cannot state (password strength,
/// invisible characters, blank after trimming) are the server's alone: 422.
fn constraints() -> Vec<(&'static str, &'static str, Value)> {
    use crate::limits::*;
    let text = |max: usize| json!({ "minLength": 1, "maxLength": max });
    // An existing password may be shorter than today's minimum in characters (the
    // rule counted bytes before): only new passwords state the minimum.
    let password = json!({ "maxLength": PASSWORD_MAX_CHARS });
    let new_password = json!({ "minLength": PASSWORD_MIN_CHARS, "maxLength": PASSWORD_MAX_CHARS });
    let user_id = json!({ "pattern": crate::ids::OBJECT_ID_PATTERN });
    vec![
        (
            "RegisterRequest",
            "username",
            json!({ "pattern": format!("^[A-Za-z0-9_.-]{{{USERNAME_MIN_CHARS},{USERNAME_MAX_CHARS}}}$") }),
        ),
        ("RegisterRequest", "password", new_password.clone()),
        (
            "RegisterRequest",
            "display_name",
            text(DISPLAY_NAME_MAX_CHARS),
        ),
        ("LoginRequest", "password", password.clone()),
        ("PasswordChange", "current_password", password),
        ("PasswordChange", "new_password", new_password),
        ("ProfilePatch", "display_name", text(DISPLAY_NAME_MAX_CHARS)),
        ("GroupCreate", "name", text(GROUP_NAME_MAX_CHARS)),
        ("GroupPatch", "name", text(GROUP_NAME_MAX_CHARS)),
        (
            "GroupCreate",
            "description",
            json!({ "maxLength": GROUP_DESCRIPTION_MAX_CHARS }),
        ),
        (
            "GroupPatch",
            "description",
            json!({ "maxLength": GROUP_DESCRIPTION_MAX_CHARS }),
        ),
        ("SendMessage", "body", text(MESSAGE_BODY_MAX_CHARS)),
        ("EditMessage", "body", text(MESSAGE_BODY_MAX_CHARS)),
        (
            "SendMessage",
            "client_id",
            json!({ "pattern": format!("^[!-~]{{1,{CLIENT_ID_MAX_CHARS}}}$") }),
        ),
        ("OpenDm", "user_id", user_id.clone()),
        ("OwnershipTransfer", "user_id", user_id),
        (
            "ReadMarker",
            "seq",
            json!({ "minimum": 0, "maximum": SEQ_MAX }),
        ),
    ]
}

/// The same for query parameters: (operationId, parameter, rules).
fn parameter_constraints() -> Vec<(&'static str, &'static str, Value)> {
    use crate::limits::*;
    vec![
        (
            "searchUsers",
            "q",
            json!({ "minLength": 1, "maxLength": USERNAME_MAX_CHARS }),
        ),
        (
            "listMessages",
            "before",
            json!({ "minimum": 0, "maximum": SEQ_MAX }),
        ),
        (
            "listMessages",
            "after",
            json!({ "minimum": 0, "maximum": SEQ_MAX }),
        ),
        (
            "listDms",
            "cursor",
            json!({ "pattern": crate::chat::dms::CURSOR_PATTERN }),
        ),
    ]
}

fn add_parameter_constraints(spec: &mut Value) {
    let rules = parameter_constraints();
    let Some(paths) = spec.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for op in paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|m| m.values_mut())
    {
        let id = op
            .get("operationId")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
            continue;
        };
        for param in params {
            let name = param
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let Some(Value::Object(schema)) = param.get_mut("schema") else {
                continue;
            };
            // Unsigned integers: a negative or too large value does not parse (400).
            let range = match schema.get("format").and_then(Value::as_str) {
                Some("uint32") => Some(json!(u32::MAX)),
                Some("uint64") => Some(json!(u64::MAX)),
                _ => None,
            };
            if let Some(max) = range {
                schema.entry("minimum").or_insert(json!(0));
                schema.entry("maximum").or_insert(max);
            }
            for (op_id, param_name, extra) in &rules {
                if *op_id == id
                    && *param_name == name
                    && let Value::Object(extra) = extra
                {
                    schema.extend(extra.clone());
                }
            }
        }
    }
}

fn add_constraints(schemas: &mut Map<String, Value>) {
    for (schema, property, rules) in constraints() {
        if let (Some(Value::Object(target)), Value::Object(rules)) = (
            schemas
                .get_mut(schema)
                .and_then(|s| s.pointer_mut(&format!("/properties/{property}"))),
            rules,
        ) {
            target.extend(rules);
        }
    }
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

/// One OpenAPI link: from an operation's response to another operation, with
/// where each of its parameters comes from.
type Link = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// (operationId, status, link name, target operationId, parameters)
const LINKS: &[Link] = &[
    (
        "register",
        "201",
        "GetUser",
        "getUser",
        &[("id", "$response.body#/id")],
    ),
    (
        "getMe",
        "200",
        "GetUser",
        "getUser",
        &[("id", "$response.body#/id")],
    ),
    (
        "createGroup",
        "201",
        "GetGroup",
        "getGroup",
        &[("id", "$response.body#/id")],
    ),
    (
        "createGroup",
        "201",
        "UpdateGroup",
        "updateGroup",
        &[("id", "$response.body#/id")],
    ),
    (
        "createGroup",
        "201",
        "ListGroupMembers",
        "listGroupMembers",
        &[("id", "$response.body#/id")],
    ),
    (
        "createGroup",
        "201",
        "SendMessage",
        "sendMessage",
        &[("id", "$response.body#/id")],
    ),
    (
        "createGroup",
        "201",
        "ListMessages",
        "listMessages",
        &[("id", "$response.body#/id")],
    ),
    (
        "createGroup",
        "201",
        "GetPresence",
        "getPresence",
        &[("id", "$response.body#/id")],
    ),
    (
        "createGroup",
        "201",
        "DeleteGroup",
        "deleteGroup",
        &[("id", "$response.body#/id")],
    ),
    (
        "getGroup",
        "200",
        "JoinGroup",
        "joinGroup",
        &[("id", "$response.body#/id")],
    ),
    (
        "putGroupMember",
        "200",
        "RemoveGroupMember",
        "removeGroupMember",
        &[
            ("id", "$request.path.id"),
            ("user_id", "$response.body#/user/id"),
        ],
    ),
    (
        "openDm",
        "201",
        "SendMessage",
        "sendMessage",
        &[("id", "$response.body#/id")],
    ),
    (
        "openDm",
        "201",
        "ListMessages",
        "listMessages",
        &[("id", "$response.body#/id")],
    ),
    (
        "openDm",
        "201",
        "MarkRead",
        "markRead",
        &[("id", "$response.body#/id")],
    ),
    (
        "openDm",
        "200",
        "SendMessage",
        "sendMessage",
        &[("id", "$response.body#/id")],
    ),
    (
        "openDm",
        "200",
        "ListMessages",
        "listMessages",
        &[("id", "$response.body#/id")],
    ),
    (
        "sendMessage",
        "201",
        "EditMessage",
        "editMessage",
        &[("id", "$response.body#/id")],
    ),
    (
        "sendMessage",
        "201",
        "DeleteMessage",
        "deleteMessage",
        &[("id", "$response.body#/id")],
    ),
    (
        "sendMessage",
        "201",
        "ListMessages",
        "listMessages",
        &[("id", "$response.body#/conversation_id")],
    ),
    (
        "editMessage",
        "200",
        "DeleteMessage",
        "deleteMessage",
        &[("id", "$response.body#/id")],
    ),
];

fn add_links(spec: &mut Value) {
    let Some(paths) = spec.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for methods in paths.values_mut().filter_map(Value::as_object_mut) {
        for op in methods.values_mut() {
            let Some(id) = op
                .get("operationId")
                .and_then(Value::as_str)
                .map(str::to_owned)
            else {
                continue;
            };
            for (from, status, name, target, params) in LINKS {
                if *from != id {
                    continue;
                }
                let Some(response) = op
                    .pointer_mut(&format!("/responses/{status}"))
                    .and_then(Value::as_object_mut)
                else {
                    continue;
                };
                let parameters: Map<String, Value> = params
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
                    .collect();
                let links = response
                    .entry("links")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Some(links) = links.as_object_mut() {
                    links.insert(
                        (*name).to_owned(),
                        json!({ "operationId": target, "parameters": parameters }),
                    );
                }
            }
        }
    }
}

/// The methods the API serves at `path` (a concrete request path), for `Allow`.
pub fn allowed_methods(path: &str) -> Option<String> {
    static ROUTES: OnceLock<Vec<(Vec<String>, String)>> = OnceLock::new();
    let routes = ROUTES.get_or_init(|| {
        let spec: Value = serde_json::from_str(document()).unwrap_or(Value::Null);
        spec.get("paths")
            .and_then(Value::as_object)
            .map(|paths| {
                paths
                    .iter()
                    .map(|(template, methods)| {
                        let segments = template.split('/').map(str::to_owned).collect();
                        let mut allowed: Vec<String> = methods
                            .as_object()
                            .map(|m| m.keys().map(|k| k.to_ascii_uppercase()).collect())
                            .unwrap_or_default();
                        allowed.sort();
                        (segments, allowed.join(", "))
                    })
                    .collect()
            })
            .unwrap_or_default()
    });
    let segments: Vec<&str> = path.split('/').collect();
    routes
        .iter()
        .find(|(template, _)| {
            template.len() == segments.len()
                && template
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| (t.starts_with('{') && !s.is_empty()) || t == s)
        })
        .map(|(_, allowed)| allowed.clone())
}

#[cfg(test)]
mod tests {
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
}
