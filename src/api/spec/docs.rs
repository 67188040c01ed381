//! The `/docs` page: Swagger UI over the finished document, and the
//! Content-Security-Policy it is served with.

use super::document;

/// Swagger UI over the finished document.
pub fn swagger_html() -> String {
    let service = crate::api::service();
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
