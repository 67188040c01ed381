//! The browser client (issue 14): `web/` is bundled by esbuild into `web/dist`, which
//! is embedded in the binary at compile time (rust-embed, also in debug builds).
//!
//! - `GET /` serves `index.html` with `Cache-Control: no-cache` (revalidated by ETag
//!   every time, so a new deploy is picked up at once) and a strict
//!   Content-Security-Policy: scripts, styles and fetches from this origin only, plus
//!   the WebSocket to this host; no inline script or style, no framing.
//! - `GET /assets/<name>-<hash>.<ext>` serves the bundle with a year of immutable
//!   caching: esbuild puts a content hash in every asset name, so a changed file has a
//!   new name. A precompressed `.gz` twin is sent to clients that accept gzip.
//!
//! On a fresh clone where Node never ran, `web/dist` holds only `.gitkeep`: `cargo
//! build` still works and `/` answers 503 with a page saying how to build the client
//! (`scripts/web-build`). `build.rs` makes cargo re-embed whenever `web/dist` changes.

use std::sync::Arc;

use poem::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use poem::{Endpoint, IntoResponse, Request, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "web/dist"]
struct Assets;

const NOT_BUILT: &str = "<!doctype html><meta charset=utf-8><title>confab</title>\
<p>The web client is not built. Run <code>scripts/web-build</code> (needs Node 20+), \
then rebuild the server. The API is at <a href=/docs>/docs</a>.</p>";

/// Answers `GET /` and `GET /assets/*` (HEAD too); everything else goes on to the
/// API. A middleware rather than routes, because the API is nested at `/`.
pub async fn client<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    if req.method() == Method::GET || req.method() == Method::HEAD {
        let path = req.uri().path();
        if path == "/" {
            return Ok(index(&req));
        }
        if let Some(name) = path.strip_prefix("/assets/") {
            let name = name.to_owned();
            return Ok(asset(&req, &name));
        }
    }
    Ok(ep.call(req).await?.into_response())
}

/// The CSP for the page. `connect-src 'self'` covers `ws:`/`wss:` to the same host in
/// CSP 3 browsers; the explicit `ws://host wss://host` sources are for older ones. The
/// host comes from the request, so it is used only when it is a plain `host[:port]`.
fn csp(host: Option<&str>) -> String {
    let ws = host
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .map(|h| format!(" ws://{h} wss://{h}"))
        .unwrap_or_default();
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'{ws}; manifest-src 'self'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    )
}

fn etag_of(file: &rust_embed::EmbeddedFile) -> String {
    format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]))
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")))
}

/// A file from the bundle with its caching headers, or None when absent.
fn serve(req: &Request, name: &str, cache: &'static str) -> Option<Response> {
    let file = Assets::get(name)?;
    let etag = etag_of(&file);
    let mut builder = Response::builder()
        .header(header::CACHE_CONTROL, cache)
        .header(header::ETAG, etag.as_str())
        .header(header::VARY, "Accept-Encoding");
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    if fresh {
        return Some(builder.status(StatusCode::NOT_MODIFIED).finish());
    }
    builder = builder.content_type(file.metadata.mimetype());
    let gz = accepts_gzip(req.headers())
        .then(|| Assets::get(&format!("{name}.gz")))
        .flatten();
    Some(match gz {
        Some(gz) => builder
            .header(header::CONTENT_ENCODING, "gzip")
            .body(gz.data.into_owned()),
        None => builder.body(file.data.into_owned()),
    })
}

fn index(req: &Request) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok());
    let mut resp = serve(req, "index.html", "no-cache").unwrap_or_else(|| {
        Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .header(header::CACHE_CONTROL, "no-store")
            .content_type("text/html; charset=utf-8")
            .body(NOT_BUILT)
    });
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&csp(host)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}

/// Whether `name` carries esbuild's content hash (`app-ABCDEFGH.js`), so its content
/// can never change under that name.
fn is_hashed(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or_default();
    stem.rsplit_once('-')
        .is_some_and(|(_, hash)| hash.len() >= 8 && hash.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn asset(req: &Request, name: &str) -> Response {
    let cache = if is_hashed(name) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    if name.ends_with(".gz") || name.contains('/') {
        return StatusCode::NOT_FOUND.into();
    }
    serve(req, &format!("assets/{name}"), cache).unwrap_or_else(|| StatusCode::NOT_FOUND.into())
}

/// Unit checks of the pure parts; serving is covered by `scripts/web-test`.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names() {
        assert!(is_hashed("app-5RJX2KQD.js"));
        assert!(is_hashed("app-5RJX2KQD.css"));
        assert!(!is_hashed("app.js"));
        assert!(!is_hashed("index.html"));
        assert!(!is_hashed("app-x.js"));
    }

    #[test]
    fn csp_uses_only_plain_hosts() {
        assert!(
            csp(Some("localhost:8000"))
                .contains("connect-src 'self' ws://localhost:8000 wss://localhost:8000;")
        );
        assert!(csp(Some("[::1]:8000")).contains("ws://[::1]:8000"));
        assert!(csp(Some("evil; script-src *")).contains("connect-src 'self';"));
        assert!(csp(None).contains("script-src 'self';"));
        assert!(!csp(Some("x")).contains("unsafe-inline"));
    }
}
