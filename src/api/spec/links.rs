//! OpenAPI links: which response field feeds which operation's id.

use serde_json::{Map, Value, json};

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
pub(super) const LINKS: &[Link] = &[
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

pub(super) fn add_links(spec: &mut Value) {
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
