//! What the record needs from the request, taken before the request moves
//! into the inner service.

use std::borrow::Cow;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, MatchedPath, OriginalUri};
use http::header::{HOST, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use http::{Method, Request, Uri, Version};

use relayer::Caller;
use relayer::trace::{TRACEPARENT_HEADER, TRACESTATE_HEADER};

use crate::client_addr::RemoteAddr;
use crate::config::{Config, REDACTED, RecordedHeaders};

/// The default request id header, `x-request-id`: read from requests, set
/// on requests that lack it and on responses. Another name can be set with
/// [`RelayerLayer::request_id_header`](crate::RelayerLayer::request_id_header).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tower::ServiceExt;
///
/// # let relayer = relayer::Relayer::builder("logging").producer(relayer_test::MockProducer::new()).build()?;
/// let app = axum::Router::new()
///     .route("/", axum::routing::get(|| async { "hi" }))
///     .layer(relayer_axum::RelayerLayer::new(relayer));
/// let request = http::Request::get("/")
///     .header(relayer_axum::REQUEST_ID_HEADER, "abc")
///     .body(axum::body::Body::empty())?;
/// let response = app.oneshot(request).await?;
/// assert_eq!(response.headers()[relayer_axum::REQUEST_ID_HEADER], "abc");
/// # Ok(()) }
/// ```
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The client address set by a reverse proxy.
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// The chain of client and proxy addresses set by reverse proxies.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

const TRACEPARENT: HeaderName = HeaderName::from_static(TRACEPARENT_HEADER);

const TRACESTATE: HeaderName = HeaderName::from_static(TRACESTATE_HEADER);

/// The request's part of the record. Header values are kept as they came
/// (cheap clones) and turned into text only when the record is written.
#[derive(Debug)]
pub(crate) struct RequestInfo {
    pub(crate) method: Method,
    /// The URI as the client sent it (axum's `OriginalUri` when nested
    /// routers stripped a prefix).
    pub(crate) uri: Uri,
    pub(crate) user_agent: Option<HeaderValue>,
    /// The client's address: the peer's, or what a trusted proxy says.
    remote_addr: Option<RemoteAddr>,
    pub(crate) x_forwarded_for: Option<HeaderValue>,
    /// The configured headers, values redacted where configured.
    pub(crate) headers: Vec<(HeaderName, String)>,
    /// The route template the router matched, e.g. `/things/{id}`.
    pub(crate) route: Option<MatchedPath>,
    pub(crate) version: Version,
    /// The `Host` header, for a URI without an authority (HTTP/1).
    host: Option<HeaderValue>,
}

impl RequestInfo {
    /// `python`: the address by the Python relayer's rule.
    pub(crate) fn new<B>(request: &Request<B>, config: &Config, python: bool) -> Self {
        let headers = request.headers();
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| peer.ip());
        let real_ip = headers.get(X_REAL_IP);
        let proxies = &config.trusted_proxies;
        let remote_addr = if python {
            proxies.python_client(peer, real_ip)
        } else {
            let forwarded_for = headers.get_all(X_FORWARDED_FOR).iter();
            proxies
                .client(peer, forwarded_for, real_ip)
                .map(RemoteAddr::Ip)
        };
        Self {
            method: request.method().clone(),
            uri: original_uri(request).clone(),
            user_agent: headers.get(USER_AGENT).cloned(),
            remote_addr,
            x_forwarded_for: headers.get(X_FORWARDED_FOR).cloned(),
            headers: recorded_headers(headers, config),
            route: request.extensions().get::<MatchedPath>().cloned(),
            version: request.version(),
            host: headers.get(HOST).cloned(),
        }
    }

    /// The host and port the client asked for: the URI's authority
    /// (HTTP/2's `:authority`), else the `Host` header; the port when it
    /// names one.
    pub(crate) fn server(&self) -> Option<(&str, Option<u16>)> {
        let authority = match self.uri.authority() {
            Some(authority) => authority.as_str(),
            None => self.host.as_ref()?.to_str().ok()?,
        };
        // No user information: `Host` has none, and an authority's is
        // not the server's name.
        let authority = authority.rsplit('@').next().unwrap_or(authority);
        let (host, port) = match authority.rsplit_once(':') {
            // `[::1]:8080`, `example.com:8080`; not the colons of `[::1]`.
            Some((host, port)) if !port.contains(']') => (host, port.parse().ok()),
            _ => (authority, None),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        (!host.is_empty()).then_some((host, port))
    }

    /// The HTTP version as OpenTelemetry's `network.protocol.version`
    /// and ECS's `http.version` write it.
    pub(crate) fn protocol_version(&self) -> Option<&'static str> {
        match self.version {
            Version::HTTP_09 => Some("0.9"),
            Version::HTTP_10 => Some("1.0"),
            Version::HTTP_11 => Some("1.1"),
            Version::HTTP_2 => Some("2"),
            Version::HTTP_3 => Some("3"),
            _ => None,
        }
    }

    /// The client's address: the peer's IP address when the server
    /// provides it (axum's `ConnectInfo<SocketAddr>`), or, when the peer
    /// is a trusted proxy, the address its headers give.
    pub(crate) fn remote_addr(&self) -> Option<Cow<'_, str>> {
        self.remote_addr.as_ref().map(RemoteAddr::text)
    }
}

/// The path the client asked for: axum's `OriginalUri` when present (a
/// nested router strips its prefix from the request's URI), else the URI.
pub(crate) fn original_uri<B>(request: &Request<B>) -> &Uri {
    request
        .extensions()
        .get::<OriginalUri>()
        .map_or(request.uri(), |OriginalUri(uri)| uri)
}

/// What the client sent to continue: its request id (in the configured
/// header, within the configured bound), its `traceparent` (invalid or
/// repeated means none: a new trace) and its `tracestate` lines.
pub(crate) fn caller<B>(request: &Request<B>, config: &Config) -> Caller {
    let headers = request.headers();
    let mut traceparents = headers.get_all(TRACEPARENT).iter();
    let traceparent = match (traceparents.next(), traceparents.next()) {
        (Some(one), None) => one.to_str().ok(),
        _ => None,
    };
    let id_header = &config.request_id_header;
    let mut caller = Caller::from_headers(
        headers.get(&id_header.name).and_then(|id| id.to_str().ok()),
        traceparent,
        tracestate(headers).as_deref(),
        config.bounds.request_id_bytes,
    );
    caller.request_id_header = Some(id_header.text.clone());
    caller.secret_params = Some(config.redaction.query_params.clone());
    caller
}

/// The `tracestate` header lines joined with `,`, as HTTP combines a
/// repeated list header; a line that is not text makes it invalid.
fn tracestate(headers: &HeaderMap) -> Option<Cow<'_, str>> {
    let mut lines = headers.get_all(TRACESTATE).iter();
    let first = lines.next()?.to_str().ok()?;
    match lines.next() {
        None => Some(Cow::Borrowed(first)),
        Some(second) => {
            let mut joined = format!("{first},{}", second.to_str().ok()?);
            for line in lines {
                joined.push(',');
                joined.push_str(line.to_str().ok()?);
            }
            Some(Cow::Owned(joined))
        }
    }
}

/// A header value as text; bytes that are not UTF-8 become U+FFFD.
pub(crate) fn text(value: &HeaderValue) -> Cow<'_, str> {
    String::from_utf8_lossy(value.as_bytes())
}

fn recorded_headers(headers: &HeaderMap, config: &Config) -> Vec<(HeaderName, String)> {
    let record = |name: &HeaderName| {
        let mut values = headers.get_all(name).iter().peekable();
        values.peek()?;
        let sensitive = headers.get_all(name).iter().any(HeaderValue::is_sensitive);
        let value = if sensitive || config.redaction.hides_header(name) {
            REDACTED.to_owned()
        } else {
            let joined = values.map(text).collect::<Vec<_>>().join(", ");
            config.bounds.cut(joined.into()).into_owned()
        };
        Some((name.clone(), value))
    };
    match &config.recorded_headers {
        RecordedHeaders::None => Vec::new(),
        RecordedHeaders::Some(names) => names.iter().filter_map(record).collect(),
        RecordedHeaders::All => headers.keys().filter_map(record).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> Request<()> {
        let mut builder = Request::get("/things?a=1");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn headers_decide_the_address_from_trusted_proxies_only() {
        let address = |peer: [u8; 4], headers: &[(&str, &str)], python: bool| {
            let mut request = request(headers);
            request
                .extensions_mut()
                .insert(ConnectInfo(SocketAddr::from((peer, 4242))));
            let info = RequestInfo::new(&request, &Config::default(), python);
            info.remote_addr().map(Cow::into_owned)
        };
        let real_ip = [("x-real-ip", "203.0.113.9")];
        for python in [false, true] {
            assert_eq!(
                address([10, 0, 0, 7], &[], python).as_deref(),
                Some("10.0.0.7")
            );
            assert_eq!(
                address([10, 0, 0, 7], &real_ip, python).as_deref(),
                Some("203.0.113.9")
            );
            assert_eq!(
                address([8, 8, 4, 4], &real_ip, python).as_deref(),
                Some("8.8.4.4")
            );
        }
        let forwarded = [
            ("x-forwarded-for", "1.2.3.4, 203.0.113.8"),
            ("x-forwarded-for", "10.0.0.1"),
        ];
        assert_eq!(
            address([10, 0, 0, 7], &forwarded, false).as_deref(),
            Some("203.0.113.8")
        );
        assert_eq!(
            address([10, 0, 0, 7], &forwarded, true).as_deref(),
            Some("10.0.0.7")
        );
        assert_eq!(
            RequestInfo::new(&request(&real_ip), &Config::default(), false).remote_addr(),
            None,
            "an unknown peer is not trusted"
        );
    }

    #[test]
    fn the_server_is_the_authority_else_the_host_header() {
        let config = Config::default();
        let server = |uri: &str, host: Option<&str>| {
            let mut request = Request::get(uri);
            if let Some(host) = host {
                request = request.header(HOST, host);
            }
            let info = RequestInfo::new(&request.body(()).unwrap(), &config, false);
            info.server().map(|(host, port)| (host.to_owned(), port))
        };
        let named = |host: &str, port| Some((host.to_owned(), port));
        assert_eq!(
            server("/x", Some("shop.example:8443")),
            named("shop.example", Some(8443))
        );
        assert_eq!(
            server("/x", Some("shop.example")),
            named("shop.example", None)
        );
        assert_eq!(server("/x", Some("[::1]:8080")), named("::1", Some(8080)));
        assert_eq!(server("/x", Some("[::1]")), named("::1", None));
        assert_eq!(
            server("https://api.example:9000/x", Some("other")),
            named("api.example", Some(9000))
        );
        assert_eq!(server("/x", None), None);
        assert_eq!(server("/x", Some("")), None);
    }

    #[test]
    fn request_id_must_be_short_visible_text() {
        let config = Config::default();
        let id = |headers: &[(&str, &str)]| caller(&request(headers), &config).request_id;
        assert_eq!(id(&[("x-request-id", " abc ")]).as_deref(), Some("abc"));
        assert_eq!(id(&[("x-request-id", "  ")]), None);
        assert_eq!(id(&[("x-request-id", &"a".repeat(129))]), None);
        assert_eq!(id(&[]), None);
    }

    #[test]
    fn recorded_headers_join_values_and_hide_secrets() {
        let mut config = Config::default();
        config.record_all_headers();
        config.redaction.headers = config.redaction.headers.redact("x-tenant-plan");
        let request = request(&[
            ("x-tenant", "acme"),
            ("x-tenant-plan", "gold"),
            ("x-auth-token", "s3cret"),
            ("accept", "text/html"),
            ("accept", "application/json"),
            ("authorization", "Bearer s3cret"),
            ("cookie", "session=s3cret"),
            ("x-api-key", "s3cret"),
        ]);
        let mut request = request;
        let mut marked = HeaderValue::from_static("s3cret");
        marked.set_sensitive(true);
        request.headers_mut().insert("x-marked", marked);
        let recorded = RequestInfo::new(&request, &config, false).headers;
        let mut headers: Vec<(&str, &str)> = recorded
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        headers.sort_unstable();
        assert_eq!(
            headers,
            [
                ("accept", "text/html, application/json"),
                ("authorization", REDACTED),
                ("cookie", REDACTED),
                ("x-api-key", REDACTED),
                ("x-auth-token", REDACTED),
                ("x-marked", REDACTED),
                ("x-tenant", "acme"),
                ("x-tenant-plan", REDACTED),
            ]
        );
    }
}
