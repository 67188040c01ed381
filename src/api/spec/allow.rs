//! The methods each path supports, for the `Allow` header of a 405.

use std::sync::OnceLock;

use serde_json::Value;

use super::document;

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
