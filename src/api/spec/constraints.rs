//! The rules of request fields and query parameters that JSON Schema can state,
//! written into the document from the limits the server enforces.

use serde_json::{Map, Value, json};

/// Length, range and pattern rules of request fields that JSON Schema can state,
/// from the limits the server enforces (`crate::limits`, `crate::ids`). Text
/// lengths are counted by the server after NFC normalisation and trimming, so
/// it never refuses what `maxLength` allows (a decomposed accent is one
/// character to it). Rules the schema cannot state (password strength,
/// invisible characters, blank after trimming) are the server's alone: 422.
pub(super) fn constraints() -> Vec<(&'static str, &'static str, Value)> {
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
            "listChanges",
            "since_rev",
            json!({ "minimum": 0, "maximum": SEQ_MAX }),
        ),
        (
            "listDms",
            "cursor",
            json!({ "pattern": crate::chat::dms::CURSOR_PATTERN }),
        ),
        (
            "searchMessages",
            "q",
            json!({ "minLength": 1, "maxLength": SEARCH_Q_MAX_CHARS }),
        ),
        (
            "searchMessages",
            "cursor",
            json!({ "pattern": crate::chat::search::port::CURSOR_PATTERN }),
        ),
    ]
}

pub(super) fn add_parameter_constraints(spec: &mut Value) {
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

pub(super) fn add_constraints(schemas: &mut Map<String, Value>) {
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
