//! Plain HTTP/1.1 to the services on loopback (admin endpoints, pages),
//! and the links emails carry.

use std::time::Duration;

/// GET `path` on 127.0.0.1:`port`; the whole response ("" when nothing answers).
pub async fn http_get(port: u16, path: &str) -> String {
    http(
        port,
        &format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"),
    )
    .await
}

/// GET `path` with extra request headers (`name: value` lines, each ending
/// in CRLF, e.g. `accept-language: de\r\n`); the whole response.
pub async fn http_get_with(port: u16, path: &str, headers: &str) -> String {
    http(
        port,
        &format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n{headers}\r\n"),
    )
    .await
}

/// POST a form (`application/x-www-form-urlencoded`) to `path` on
/// 127.0.0.1:`port`; the whole response ("" when nothing answers).
pub async fn http_post(port: u16, path: &str, form: &str) -> String {
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\r\n{form}",
        form.len()
    );
    http(port, &request).await
}

/// POST a JSON body to `path` on 127.0.0.1:`port` with extra request
/// headers (`name: value` lines, each ending in CRLF); the whole response.
pub async fn http_post_json(port: u16, path: &str, headers: &str, body: &[u8]) -> String {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{headers}\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    http_bytes(port, &request).await
}

/// Sends one raw HTTP/1.1 request and reads the whole response (3 s at most).
async fn http(port: u16, request: &str) -> String {
    http_bytes(port, request.as_bytes()).await
}

async fn http_bytes(port: u16, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let attempt = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        s.write_all(request).await.ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.ok()?;
        Some(String::from_utf8_lossy(&buf).into_owned())
    };
    tokio::time::timeout(Duration::from_secs(3), attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// The token of the first link in `text` that starts with `prefix`: the
/// hex digits after it (a pair's page link, `<prefix><token>/pairs/<id>`,
/// gives its coordinator's token).
pub fn link_in(text: &str, prefix: &str) -> Option<String> {
    text.split_whitespace()
        .find_map(|w| w.strip_prefix(prefix))
        .map(|t| t.chars().take_while(char::is_ascii_hexdigit).collect())
}

/// GET `path` on 127.0.0.1:`port`; returns the status code (0 when nothing answers).
pub async fn http_status(port: u16, path: &str) -> u16 {
    http_get(port, path)
        .await
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}
