//! `POST /v1/traces`: an OTLP/HTTP trace receiver, so an existing OpenTelemetry exporter can
//! point at the server (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://127.0.0.1:8765/v1/traces`).
//!
//! Bodies are `application/x-protobuf` or `application/json`, optionally gzip-compressed;
//! they go to the dataset named by the `X-Apex-Dataset` header or the `dataset` query
//! parameter, else [`DEFAULT_OTLP_DATASET`], appended in one transaction by one library call
//! (`apex_agents::ingest::receive_otlp`). The route sits behind the same bearer token and
//! in-flight limit as `/mcp` (the layers of `http::router`) and checks Host and Origin
//! against the same lists, as rmcp does for `/mcp`. A body that does not parse gets 400 with
//! the reason, as a `google.rpc.Status` in the request's encoding; nothing is stored.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::state::AppState;
pub use apex_agents::ingest::DEFAULT_OTLP_DATASET;
use apex_agents::ingest::{
    self, OtlpEncoding, OtlpRequest, ReceiveError, error_status, export_response,
};
use apex_core::pricing::PriceCatalog;

/// The largest request body accepted on the wire, in bytes.
pub const MAX_OTLP_BODY_BYTES: usize = 16 * 1024 * 1024;
/// The most a (gzip) body may decompress to, in bytes.
pub const MAX_OTLP_DECODED_BYTES: usize = 64 * 1024 * 1024;
/// The header naming the dataset spans go to.
pub const DATASET_HEADER: &str = "x-apex-dataset";

struct Receiver {
    state: Arc<AppState>,
    hosts: Vec<String>,
    origins: Vec<String>,
}

/// The `/v1/traces` route, checking Host and Origin against `hosts` and `origins` (the
/// lists `/mcp` uses).
pub fn routes(state: Arc<AppState>, hosts: Vec<String>, origins: Vec<String>) -> axum::Router {
    let receiver = Arc::new(Receiver {
        state,
        hosts,
        origins,
    });
    axum::Router::new()
        .route("/v1/traces", axum::routing::post(receive))
        .with_state(receiver)
}

fn plain(status: StatusCode, message: impl Into<String>) -> Response {
    (status, message.into()).into_response()
}

fn encoded(status: StatusCode, encoding: OtlpEncoding, body: Vec<u8>) -> Response {
    let ct = match encoding {
        OtlpEncoding::Protobuf => "application/x-protobuf",
        OtlpEncoding::Json => "application/json",
    };
    (status, [(header::CONTENT_TYPE, ct)], Body::from(body)).into_response()
}

fn header_text(headers: &HeaderMap, name: impl axum::http::header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn receive(State(r): State<Arc<Receiver>>, req: Request) -> Response {
    if let Err(refused) = check_host_and_origin(&r, req.headers(), req.uri()) {
        return refused;
    }
    let headers = req.headers().clone();
    let Some(ct) = header_text(&headers, header::CONTENT_TYPE) else {
        return plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type is missing; send application/x-protobuf or application/json (OTLP/HTTP)",
        );
    };
    let encoding = match OtlpEncoding::from_content_type(ct) {
        Ok(e) => e,
        Err(e) => return plain(StatusCode::UNSUPPORTED_MEDIA_TYPE, e),
    };
    let dataset = header_text(&headers, DATASET_HEADER)
        .map(str::to_string)
        .or_else(|| query_param(req.uri().query(), "dataset"));
    let body = match axum::body::to_bytes(req.into_body(), MAX_OTLP_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return encoded(
                StatusCode::PAYLOAD_TOO_LARGE,
                encoding,
                error_status(
                    encoding,
                    8,
                    &format!(
                        "the body is larger than {MAX_OTLP_BODY_BYTES} bytes (or was cut off); send smaller batches"
                    ),
                ),
            );
        }
    };
    let encoding_header = header_text(&headers, header::CONTENT_ENCODING).map(str::to_string);
    let store = r.state.store.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        ingest::receive_otlp(
            &store,
            PriceCatalog::builtin(),
            &OtlpRequest {
                body: &body,
                encoding,
                content_encoding: encoding_header.as_deref(),
                dataset: dataset.as_deref(),
                max_decoded: MAX_OTLP_DECODED_BYTES,
            },
        )
    })
    .await;
    match outcome {
        Ok(Ok(received)) => {
            let p = &received.parsed;
            let message = p
                .rejections
                .iter()
                .take(5)
                .map(|x| format!("span {}: {}", x.span.unwrap_or(0), x.reason))
                .collect::<Vec<_>>()
                .join("; ");
            tracing::info!(dataset = %received.dataset, accepted = p.accepted, rejected = p.rejected,
                           "otlp: spans received");
            encoded(
                StatusCode::OK,
                encoding,
                export_response(encoding, p.rejected, &message),
            )
        }
        Ok(Err(e)) => {
            let (status, code) = match &e {
                ReceiveError::BadRequest(_) => (StatusCode::BAD_REQUEST, 3),
                ReceiveError::Unsupported(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, 3),
                ReceiveError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, 8),
                // Retryable for the exporter: nothing of this request was stored.
                ReceiveError::Store(_) | ReceiveError::Write(_) => {
                    (StatusCode::SERVICE_UNAVAILABLE, 14)
                }
            };
            encoded(
                status,
                encoding,
                error_status(encoding, code, &e.to_string()),
            )
        }
        Err(join) => encoded(
            StatusCode::INTERNAL_SERVER_ERROR,
            encoding,
            error_status(encoding, 13, &format!("the receiver failed: {join}")),
        ),
    }
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

// ------------------------------------------------ Host and Origin, as rmcp checks them

fn authority(text: &str) -> Option<(String, Option<u16>)> {
    let a = axum::http::uri::Authority::try_from(text.trim()).ok()?;
    let host = a.host().trim_matches(['[', ']']).to_ascii_lowercase();
    Some((host, a.port_u16()))
}

fn host_allowed(host: &(String, Option<u16>), allowed: &[String]) -> bool {
    allowed.iter().any(|a| {
        let (h, port) = authority(a).unwrap_or_else(|| (a.trim().to_ascii_lowercase(), None));
        h == host.0 && port.is_none_or(|p| host.1 == Some(p))
    })
}

fn origin_allowed(origin: &str, allowed: &[String]) -> bool {
    let parse = |o: &str| -> Option<(String, String, Option<u16>)> {
        let uri = axum::http::Uri::try_from(o.trim()).ok()?;
        let (host, port) = authority(uri.authority()?.as_str())?;
        Some((uri.scheme_str()?.to_ascii_lowercase(), host, port))
    };
    let Some((scheme, host, port)) = parse(origin) else {
        return false;
    };
    let default = match scheme.as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    };
    allowed.iter().any(|a| {
        let (base, any_port) = match a.strip_suffix(":*") {
            Some(b) => (b, true),
            None => (a.as_str(), false),
        };
        parse(base).is_some_and(|(s, h, p)| {
            s == scheme && h == host && (any_port || p.is_none() || p == port.or(default))
        })
    })
}

#[allow(clippy::result_large_err)]
fn check_host_and_origin(
    r: &Receiver,
    headers: &HeaderMap,
    uri: &axum::http::Uri,
) -> Result<(), Response> {
    let host = header_text(headers, header::HOST)
        .map(str::to_string)
        .or_else(|| uri.authority().map(|a| a.to_string()));
    let host = host.as_deref().and_then(authority).ok_or_else(|| {
        plain(
            StatusCode::BAD_REQUEST,
            "Bad Request: missing or invalid Host header",
        )
    })?;
    if !host_allowed(&host, &r.hosts) {
        return Err(plain(
            StatusCode::FORBIDDEN,
            "Forbidden: Host header is not allowed (serve --allow-host adds one)",
        ));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let ok = origin
            .to_str()
            .ok()
            .is_some_and(|o| origin_allowed(o, &r.origins));
        if !ok {
            return Err(plain(
                StatusCode::FORBIDDEN,
                "Forbidden: Origin header is not allowed (serve --allow-origin adds one)",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_origin_rules_match_the_mcp_endpoint() {
        let hosts = vec![
            "localhost".to_string(),
            "127.0.0.1".into(),
            "::1".into(),
            "lan.example:9000".into(),
        ];
        let h = |s: &str| authority(s).unwrap();
        assert!(host_allowed(&h("localhost:8765"), &hosts));
        assert!(host_allowed(&h("[::1]:8765"), &hosts));
        assert!(host_allowed(&h("lan.example:9000"), &hosts));
        assert!(!host_allowed(&h("lan.example:9001"), &hosts));
        assert!(!host_allowed(&h("evil.example"), &hosts));
        let origins = vec![
            "http://localhost:*".to_string(),
            "https://ide.example.com".into(),
        ];
        assert!(origin_allowed("http://localhost:3000", &origins));
        assert!(origin_allowed("https://ide.example.com", &origins));
        assert!(!origin_allowed("https://evil.example", &origins));
        assert!(!origin_allowed("http://ide.example.com", &origins));
        assert!(!origin_allowed("garbage", &origins));
        assert_eq!(
            query_param(Some("a=1&dataset=prod"), "dataset").as_deref(),
            Some("prod")
        );
    }
}
