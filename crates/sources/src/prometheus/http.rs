//! The small HTTP/1.1 client both Prometheus paths use: one hyper connection
//! per request (a scrape or a query is one request, and a fleet audit sends a
//! few dozen), a timeout over connect + request + body, and a cap on the body
//! so a runaway endpoint cannot exhaust memory: each caller states its own
//! ([`super::exposition::MAX_BODY_BYTES`] for a scrape,
//! [`super::api::MAX_BODY_BYTES`] for a query answer). Plain `http://` only: the
//! project carries no TLS stack (put Prometheus behind a local proxy or an
//! SSH tunnel to reach an `https://` one).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{ACCEPT, CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// What came back.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Bytes,
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{url}: not an http:// URL with a host ({reason})")]
    BadUrl { url: String, reason: String },
    #[error("cannot connect to {address}")]
    Connect {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no complete answer from {url} within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    #[error("{url}: the HTTP exchange failed")]
    Exchange {
        url: String,
        #[source]
        source: hyper::Error,
    },
    #[error(
        "{url}: the answer could not be read (over the limit of {max_bytes} bytes, or the connection broke): {reason}"
    )]
    Body { url: String, max_bytes: usize, reason: String },
}

/// A parsed `http://host[:port]/path?query` URL.
#[derive(Debug, Clone)]
pub struct HttpUrl {
    pub url: String,
    pub host: String,
    pub port: u16,
    /// `host[:port]` as written, for the Host header and labels.
    pub authority: String,
    pub path_and_query: String,
}

impl HttpUrl {
    pub fn parse(url: &str) -> Result<HttpUrl, HttpError> {
        let bad = |reason: &str| HttpError::BadUrl { url: url.into(), reason: reason.into() };
        let uri: Uri = url.parse().map_err(|e: hyper::http::uri::InvalidUri| bad(&e.to_string()))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => return Err(bad("https is not supported: no TLS in perfsage; use a local proxy")),
            _ => return Err(bad("only http:// is supported")),
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if authority.host().is_empty() {
            return Err(bad("no host"));
        }
        Ok(HttpUrl {
            url: url.to_string(),
            host: authority.host().trim_start_matches('[').trim_end_matches(']').to_string(),
            port: authority.port_u16().unwrap_or(80),
            authority: authority.as_str().to_string(),
            path_and_query: uri.path_and_query().map_or("/", |p| p.as_str()).to_string(),
        })
    }

    /// The same server with another path and query.
    pub fn with_path(&self, path_and_query: &str) -> HttpUrl {
        let base = self.path_and_query.split('?').next().unwrap_or("").trim_end_matches('/');
        HttpUrl {
            url: format!("http://{}{base}{path_and_query}", self.authority),
            path_and_query: format!("{base}{path_and_query}"),
            ..self.clone()
        }
    }
}

/// GET `url` (`accept` as the Accept header), or POST `form` when given;
/// a body over `max_body` bytes is an error, read no further.
pub async fn request(
    url: &HttpUrl,
    accept: &str,
    form: Option<String>,
    timeout: Duration,
    max_body: usize,
) -> Result<Response, HttpError> {
    match tokio::time::timeout(timeout, exchange(url, accept, form, max_body)).await {
        Ok(result) => result,
        Err(_) => Err(HttpError::Timeout { url: url.url.clone(), timeout }),
    }
}

async fn exchange(url: &HttpUrl, accept: &str, form: Option<String>, max_body: usize) -> Result<Response, HttpError> {
    let address = format!("{}:{}", url.host, url.port);
    let stream = TcpStream::connect((url.host.as_str(), url.port))
        .await
        .map_err(|source| HttpError::Connect { address: address.clone(), source })?;
    let exchange_error = |source| HttpError::Exchange { url: url.url.clone(), source };
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(exchange_error)?;
    let driver = tokio::spawn(connection);
    let builder = Request::builder()
        .uri(url.path_and_query.as_str())
        .header(HOST, url.authority.as_str())
        .header(ACCEPT, accept)
        .header(USER_AGENT, concat!("perfsage/", env!("CARGO_PKG_VERSION")));
    let request = match form {
        Some(form) => builder
            .method(Method::POST)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(form))),
        None => builder.method(Method::GET).body(Full::new(Bytes::new())),
    }
    .map_err(|e| HttpError::BadUrl { url: url.url.clone(), reason: e.to_string() })?;
    let response = sender.send_request(request).await.map_err(exchange_error)?;
    let status = response.status().as_u16();
    let content_type = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = Limited::new(response.into_body(), max_body)
        .collect()
        .await
        .map_err(|e| HttpError::Body { url: url.url.clone(), max_bytes: max_body, reason: e.to_string() })?
        .to_bytes();
    driver.abort();
    Ok(Response { status, content_type, body })
}

/// A current-thread runtime for the blocking callers.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let url = HttpUrl::parse("http://127.0.0.1:9090/prom/").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("127.0.0.1", 9090));
        assert_eq!(url.with_path("/api/v1/query").url, "http://127.0.0.1:9090/prom/api/v1/query");
        assert_eq!(HttpUrl::parse("http://h").unwrap().with_path("/x").path_and_query, "/x");
        assert!(HttpUrl::parse("https://h/").unwrap_err().to_string().contains("no TLS"));
        assert!(HttpUrl::parse("ftp://h/").is_err());
        assert!(HttpUrl::parse("localhost:9090").is_err());
    }

    /// A server that sends its headers and then stalls mid-body: the
    /// deadline covers the body read too, not only connect and headers.
    #[test]
    fn the_deadline_covers_a_body_that_stalls() {
        let runtime = runtime().unwrap();
        let error = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = HttpUrl::parse(&format!("http://{}/metrics", listener.local_addr().unwrap())).unwrap();
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut request = [0u8; 1024];
                let _ = socket.read(&mut request).await;
                let head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\nup 1\n";
                socket.write_all(head.as_bytes()).await.unwrap();
                // The other 995 bytes never come; hold the socket open.
                tokio::time::sleep(Duration::from_secs(60)).await;
            });
            let started = std::time::Instant::now();
            let result = request(&url, "text/plain", None, Duration::from_millis(300), 1 << 20).await;
            (result, started.elapsed())
        });
        let (result, took) = error;
        assert!(matches!(result, Err(HttpError::Timeout { .. })), "{result:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
    }
}
