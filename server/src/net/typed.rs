//! Typed JSON answers written straight to a socket, and hyper's own empty error answers replaced by typed ones.

#[allow(unused_imports)]
use super::*;

// ---------------------------------------------------------------------------------------
// Typed answers written by hand
// ---------------------------------------------------------------------------------------

/// A complete HTTP/1.1 error response with a typed JSON body; the connection closes after.
pub fn typed_response(code: ErrorCode, message: &str, retry_after: Option<u64>) -> Vec<u8> {
    let status = StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    let body = serde_json::to_vec(&ErrorBody {
        code,
        message: message.to_string(),
    })
    .unwrap_or_default();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error"),
        body.len()
    );
    if let Some(s) = retry_after {
        out.push_str(&format!("retry-after: {s}\r\n"));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(&body);
    out
}

/// If `written` is exactly one of hyper's automatic answers to a request it couldn't parse
/// (a status line, `content-length: 0`, perhaps `date` and `connection`, nothing else),
/// the typed answer to write instead.
pub(super) fn typed_hyper_error(written: &[u8]) -> Option<Vec<u8>> {
    if written.len() > 512 || !written.starts_with(b"HTTP/1.") {
        return None;
    }
    let text = std::str::from_utf8(written).ok()?;
    let head = text.strip_suffix("\r\n\r\n")?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?;
    let (code, message) = match status {
        "400" => (
            ErrorCode::MalformedRequest,
            "the request line or a header is not valid HTTP/1.1",
        ),
        "414" => (
            ErrorCode::UriTooLong,
            "the request line is longer than this relay accepts",
        ),
        "431" => (
            ErrorCode::HeadersTooLarge,
            "the request's headers are larger than this relay accepts",
        ),
        _ => return None,
    };
    let mut saw_length = false;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" if value.trim() == "0" => saw_length = true,
            "date" | "connection" => {}
            _ => return None,
        }
    }
    saw_length.then(|| typed_response(code, message, None))
}
