//! The tower layer and its configuration methods.

use std::fmt;
use std::sync::Arc;

use http::HeaderName;
use relayer::Relayer;
use tower_layer::Layer;

use crate::client_addr::TrustedProxies;
use crate::config::{Config, RequestIdHeader};
use crate::service::RelayerService;

/// A tower [`Layer`] that gives each HTTP request a [`relayer::Scope`] and
/// writes one record per request to the logging topic: for axum
/// (`Router::layer`, `Router::route_layer`, `MethodRouter::layer`), tonic
/// (`Server::builder().layer(..)`), hyper and any `tower::Service` of
/// `http::Request`s (`ServiceBuilder::layer`).
///
/// ```
/// use axum::{Router, routing::get};
/// use relayer::Relayer;
/// use relayer_axum::RelayerLayer;
///
/// async fn hello(relayer: Relayer) -> &'static str {
///     let _ = relayer.info("saying hello");
///     "hello"
/// }
///
/// let relayer = Relayer::builder("logging").brokers("localhost:9092").build()?;
/// let app: Router = Router::new()
///     .route("/hello", get(hello))
///     .route("/health", get(|| async { "ok" }))
///     .layer(
///         RelayerLayer::new(relayer)
///             .record_header("x-tenant")
///             .redact_query_param("token")
///             .skip_path("/health"),
///     );
/// # Ok::<(), relayer::Error>(())
/// ```
///
/// Cloning is cheap: a [`Relayer`] handle and an `Arc` of the configuration.
#[derive(Clone, Debug)]
pub struct RelayerLayer {
    relayer: Relayer,
    config: Arc<Config>,
}

impl RelayerLayer {
    /// A layer whose records go through `relayer` (built at startup, not
    /// bound to a request).
    ///
    /// ```
    /// use tower::ServiceBuilder;
    ///
    /// # let relayer = relayer::Relayer::builder("logging").brokers("localhost:9092").build()?;
    /// let service = ServiceBuilder::new()
    ///     .layer(relayer_axum::RelayerLayer::new(relayer))
    ///     .service_fn(|_request: http::Request<relayer_axum::RequestBody<String>>| async {
    ///         Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hi")))
    ///     });
    /// # Ok::<(), relayer::Error>(())
    /// ```
    pub fn new(relayer: Relayer) -> Self {
        Self {
            config: Arc::new(Config::for_relayer(&relayer)),
            relayer,
        }
    }

    /// Records the request header `name` under `headers` in the record
    /// (lowercase name; several values joined with `", "`).
    ///
    /// `Authorization`, `Proxy-Authorization`, `Cookie` and `Set-Cookie`
    /// are recorded as [`REDACTED`](crate::REDACTED), whatever the
    /// configuration.
    ///
    /// # Panics
    ///
    /// When `name` is not a valid header name; this is configuration, done
    /// once at startup.
    ///
    /// ```
    /// # let relayer = relayer::Relayer::builder("logging").brokers("localhost:9092").build()?;
    /// let layer = relayer_axum::RelayerLayer::new(relayer)
    ///     .record_header("x-tenant")
    ///     .record_header(http::header::ACCEPT_LANGUAGE);
    /// # Ok::<(), relayer::Error>(())
    /// ```
    #[track_caller]
    #[must_use]
    pub fn record_header<K>(mut self, name: K) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: fmt::Debug,
    {
        let name = header_name(name);
        Arc::make_mut(&mut self.config).record_header(name);
        self
    }

    /// Records every request header under `headers` in the record, values
    /// of secret and [redacted](Self::redact_header) headers replaced with
    /// [`REDACTED`](crate::REDACTED).
    ///
    /// ```
    /// # let relayer = relayer::Relayer::builder("logging").brokers("localhost:9092").build()?;
    /// let layer = relayer_axum::RelayerLayer::new(relayer)
    ///     .record_all_headers()
    ///     .redact_header("x-api-key");
    /// # Ok::<(), relayer::Error>(())
    /// ```
    #[must_use]
    pub fn record_all_headers(mut self) -> Self {
        Arc::make_mut(&mut self.config).record_all_headers();
        self
    }

    /// Replaces the value of the request header `name` with
    /// [`REDACTED`](crate::REDACTED) when it is recorded, besides the
    /// headers whose names the [rule for secret names](relayer::SecretNames)
    /// finds secret (`X-Api-Key`, `X-Auth-Token`, `X-CSRF-Token`, ...).
    /// `Authorization`, `Proxy-Authorization`, `Cookie` and `Set-Cookie`
    /// always are.
    ///
    /// # Panics
    ///
    /// When `name` is not a valid header name.
    ///
    /// ```
    /// # let relayer = relayer::Relayer::builder("logging").brokers("localhost:9092").build()?;
    /// let layer = relayer_axum::RelayerLayer::new(relayer)
    ///     .record_all_headers()
    ///     .redact_header("x-tenant");
    /// # Ok::<(), relayer::Error>(())
    /// ```
    #[track_caller]
    #[must_use]
    pub fn redact_header<K>(mut self, name: K) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: fmt::Debug,
    {
        let name = header_name(name);
        let redaction = &mut Arc::make_mut(&mut self.config).redaction;
        redaction.headers = redaction.headers.redact(name.as_str());
        self
    }

    /// Records the value of the request header `name` though the rule for
    /// secret names finds it secret (`X-Session-Region` has `session`), so
    /// it can be logged; not `Authorization`, `Proxy-Authorization`,
    /// `Cookie` and `Set-Cookie`, nor a header also given to
    /// [`redact_header`](Self::redact_header).
    ///
    /// # Panics
    ///
    /// When `name` is not a valid header name.
    ///
    /// ```
    /// # let relayer = relayer::Relayer::builder("logging").brokers("localhost:9092").build()?;
    /// let layer = relayer_axum::RelayerLayer::new(relayer)
    ///     .record_header("x-session-region")
    ///     .keep_header("x-session-region");
    /// # Ok::<(), relayer::Error>(())
    /// ```
    #[track_caller]
    #[must_use]
    pub fn keep_header<K>(mut self, name: K) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: fmt::Debug,
    {
        let name = header_name(name);
        let redaction = &mut Arc::make_mut(&mut self.config).redaction;
        redaction.headers = redaction.headers.keep(name.as_str());
        self
    }

    /// Replaces the value of the query parameter `name` with
    /// [`REDACTED`](crate::REDACTED) (`code=[redacted]`) in the record's
    /// `query_string`, in the URLs of the request's `calls` and in the
    /// URLs their errors quote, besides the parameters the [rule for secret
    /// names](relayer::SecretNames) finds secret (`access_token`,
    /// `api_key`, `X-Amz-Signature`, ...). Names are compared
    /// percent-decoded and normalized: `Code`, `c%6Fde` and `CODE` are
    /// `code`.
    ///
    /// ```
    /// # let relayer = relayer::Relayer::builder("logging").brokers("localhost:9092").build()?;
    /// let layer = relayer_axum::RelayerLayer::new(relayer)
    ///     .redact_query_param("code") // an OAuth authorization code
    ///     .redact_query_param("state");
    /// # Ok::<(), relayer::Error>(())
    /// ```
    #[must_use]
    pub fn redact_query_param(mut self, name: impl AsRef<str>) -> Self {
        let redaction = &mut Arc::make_mut(&mut self.config).redaction;
        redaction.query_params = redaction.query_params.redact(name.as_ref());
        self
    }

    /// Records the value of the query parameter `name` though the rule for
    /// secret names finds it secret (`token_count` has `token`), in the
    /// query string and the URLs of calls; not a parameter also given to
    /// [`redact_query_param`](Self::redact_query_param). Compared
    /// normalized: keeping `token_count` keeps `tokenCount`.
    ///
    /// ```
    /// # let relayer = relayer::Relayer::builder("logging").brokers("localhost:9092").build()?;
    /// let layer = relayer_axum::RelayerLayer::new(relayer).keep_query_param("token_count");
    /// # Ok::<(), relayer::Error>(())
    /// ```
    #[must_use]
    pub fn keep_query_param(mut self, name: impl AsRef<str>) -> Self {
        let redaction = &mut Arc::make_mut(&mut self.config).redaction;
        redaction.query_params = redaction.query_params.keep(name.as_ref());
        self
    }

    /// The reverse proxies whose `X-Forwarded-For` and `X-Real-IP` decide
    /// the record's `remote_addr`, in place of the default: loopback and
    /// private ranges (`127.0.0.0/8`, `::1`, `10.0.0.0/8`, `172.16.0.0/12`,
    /// `192.168.0.0/16`, `fc00::/7`), as Rails trusts. Each is a range in
    /// CIDR notation (`203.0.113.0/24`, `2001:db8::/48`) or one address.
    ///
    /// A request from any other peer is recorded with the peer's address,
    /// whatever its headers say: a client on the internet cannot choose
    /// the address written in the record. From a trusted proxy, the
    /// address is the right-most one of `X-Forwarded-For` that is not a
    /// trusted proxy (each proxy appends the address it was called from;
    /// what comes before is the client's to write), else `X-Real-IP`,
    /// else the peer's. `x_forwarded_for` is recorded as sent, either way.
    /// In [`WireFormat::Python1`](relayer::WireFormat::Python1), a trusted
    /// proxy's `X-Real-IP` is taken as sent, as the Python relayer did.
    ///
    /// The peer's address is axum's `ConnectInfo<SocketAddr>`; without it,
    /// no header is believed and `remote_addr` is `null`.
    ///
    /// # Panics
    ///
    /// When a range is neither a CIDR range nor an address; this is
    /// configuration, done once at startup.
    ///
    /// ```
    /// # let relayer = relayer::Relayer::builder("logging").brokers("localhost:9092").build()?;
    /// // Behind a load balancer in 10.20.0.0/16 and a CDN's edge.
    /// let layer = relayer_axum::RelayerLayer::new(relayer)
    ///     .trusted_proxies(["10.20.0.0/16", "2001:db8:cafe::/48", "203.0.113.7"]);
    /// # Ok::<(), relayer::Error>(())
    /// ```
    #[track_caller]
    #[must_use]
    pub fn trusted_proxies<I>(mut self, ranges: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        match TrustedProxies::parse(ranges) {
            Ok(proxies) => Arc::make_mut(&mut self.config).trusted_proxies = proxies,
            Err(range) => {
                panic!("relayer_axum::RelayerLayer: not a CIDR range nor an IP address: {range:?}")
            }
        }
        self
    }

    /// Trusts no proxy: `remote_addr` is always the peer's address, and
    /// `X-Forwarded-For` and `X-Real-IP` are only recorded as sent (for a
    /// service reached directly, with no proxy in front).
    ///
    /// ```
    /// # let relayer = relayer::Relayer::builder("logging").brokers("localhost:9092").build()?;
    /// let layer = relayer_axum::RelayerLayer::new(relayer).no_trusted_proxies();
    /// # Ok::<(), relayer::Error>(())
    /// ```
    #[must_use]
    pub fn no_trusted_proxies(mut self) -> Self {
        Arc::make_mut(&mut self.config).trusted_proxies = TrustedProxies::none();
        self
    }

    /// The longest `X-Request-ID` taken from a client, in bytes (default
    /// [`DEFAULT_MAX_REQUEST_ID_BYTES`](crate::DEFAULT_MAX_REQUEST_ID_BYTES),
    /// 128). A longer id, or one with other bytes than visible ASCII, is
    /// replaced with a new one: a client cannot make the response, every
    /// event and the record carry a huge or unprintable id.
    ///
    /// ```
    /// # let relayer = relayer::Relayer::builder("logging").brokers("localhost:9092").build()?;
    /// let layer = relayer_axum::RelayerLayer::new(relayer).max_request_id_bytes(64);
    /// # Ok::<(), relayer::Error>(())
    /// ```
    #[must_use]
    pub fn max_request_id_bytes(mut self, bytes: usize) -> Self {
        Arc::make_mut(&mut self.config).bounds.request_id_bytes = bytes;
        self
    }

    /// The longest header value, path or query string copied into a
    /// record, in bytes (default
    /// [`DEFAULT_MAX_VALUE_BYTES`](crate::DEFAULT_MAX_VALUE_BYTES), 8 KiB).
    /// A longer one is cut and ends with [`CUT`](crate::CUT).
    ///
    /// ```
    /// # let relayer = relayer::Relayer::builder("logging").brokers("localhost:9092").build()?;
    /// let layer = relayer_axum::RelayerLayer::new(relayer).max_value_bytes(1024);
    /// # Ok::<(), relayer::Error>(())
    /// ```
    #[must_use]
    pub fn max_value_bytes(mut self, bytes: usize) -> Self {
        Arc::make_mut(&mut self.config).bounds.value_bytes = bytes;
        self
    }

    /// Copies the first bytes of the request and response bodies into the
    /// record's `request_body` and `response_body` (off by default), as
    /// text: at most `max_bytes` as written in the record (JSON escapes
    /// included, after redaction), ending with [`CUT`](crate::CUT) when
    /// the body was longer.
    ///
    /// Only JSON (`application/json`, `application/*+json`), form
    /// (`application/x-www-form-urlencoded`) and text (`text/*`) bodies are
    /// captured, and not when a `Content-Encoding` makes them compressed;
    /// other bodies are recorded by their size only (`request_bytes`,
    /// `content_length`). Secrets are [`REDACTED`](crate::REDACTED) by the
    /// [rule for secret names](relayer::SecretNames), with the keys added
    /// by [`redact_body_key`](Self::redact_body_key) and kept by
    /// [`keep_body_key`](Self::keep_body_key):
    ///
    /// - in JSON, the values of secret keys at any depth, also in a cut
    ///   document, and inside string values that hold JSON themselves;
    /// - in text that starts with `{` or `[` (JSON sent as `text/plain`),
    ///   the same;
    /// - in a form, the values of secret fields, as in a query string.
    ///
    /// Other text is kept as it is.
    ///
    /// Bytes are copied as the frames pass, so bodies are neither buffered
    /// nor delayed; a request body is captured as far as the service read
    /// it, and a body of which no byte passed has no field.
    ///
    /// ```
    /// use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mock = relayer_test::MockProducer::new();
    /// let relayer = relayer::Relayer::builder("logging").producer(mock.clone()).build()?;
    /// let app = axum::Router::new()
    ///     .route("/login", axum::routing::post(|body: String| async move { body.len().to_string() }))
    ///     .layer(relayer_axum::RelayerLayer::new(relayer).capture_bodies(4 * 1024));
    ///
    /// let request = http::Request::post("/login")
    ///     .header("content-type", "application/json")
    ///     .body(axum::body::Body::from(r#"{"user":"ann","password":"hunter2"}"#))?;
    /// let response = app.oneshot(request).await?;
    /// axum::body::to_bytes(response.into_body(), usize::MAX).await?;
    ///
    /// let record = &mock.json("logging")[0];
    /// assert_eq!(record["request_body"], r#"{"user":"ann","password":"[redacted]"}"#);
    /// assert_eq!(record["response_body"], "35");
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn capture_bodies(mut self, max_bytes: usize) -> Self {
        Arc::make_mut(&mut self.config).body_capture.max_bytes = Some(max_bytes);
        self
    }

    /// Redacts the value of the key (or form field) `name` in captured
    /// bodies, besides the keys the [rule for secret
    /// names](relayer::SecretNames) finds secret; see
    /// [`capture_bodies`](Self::capture_bodies). Compared normalized:
    /// `date_of_birth` is also `dateOfBirth` and `Date-Of-Birth`.
    ///
    /// ```
    /// # let relayer = relayer::Relayer::builder("logging").brokers("localhost:9092").build()?;
    /// let layer = relayer_axum::RelayerLayer::new(relayer)
    ///     .capture_bodies(4 * 1024)
    ///     .redact_body_key("date_of_birth")
    ///     .redact_body_key("phone");
    /// # Ok::<(), relayer::Error>(())
    /// ```
    #[must_use]
    pub fn redact_body_key(mut self, name: impl AsRef<str>) -> Self {
        let redaction = &mut Arc::make_mut(&mut self.config).redaction;
        redaction.body_keys = redaction.body_keys.redact(name.as_ref());
        self
    }

    /// Captures the value of the key (or form field) `name` though the
    /// rule for secret names finds it secret (`max_tokens` has `token`,
    /// `author` has `auth`); not a key also given to
    /// [`redact_body_key`](Self::redact_body_key). Compared normalized.
    ///
    /// ```
    /// use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mock = relayer_test::MockProducer::new();
    /// let relayer = relayer::Relayer::builder("logging").producer(mock.clone()).build()?;
    /// let app = axum::Router::new()
    ///     .route("/complete", axum::routing::post(|body: String| async move { body }))
    ///     .layer(
    ///         relayer_axum::RelayerLayer::new(relayer)
    ///             .capture_bodies(4 * 1024)
    ///             .keep_body_key("max_tokens"),
    ///     );
    ///
    /// let request = http::Request::post("/complete")
    ///     .header("content-type", "application/json")
    ///     .body(axum::body::Body::from(r#"{"maxTokens":256,"token":"s3cret"}"#))?;
    /// let response = app.oneshot(request).await?;
    /// axum::body::to_bytes(response.into_body(), usize::MAX).await?;
    ///
    /// let record = &mock.json("logging")[0];
    /// assert_eq!(record["request_body"], r#"{"maxTokens":256,"token":"[redacted]"}"#);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn keep_body_key(mut self, name: impl AsRef<str>) -> Self {
        let redaction = &mut Arc::make_mut(&mut self.config).redaction;
        redaction.body_keys = redaction.body_keys.keep(name.as_ref());
        self
    }

    /// Reads and writes the request id in the header `name` instead of the
    /// relayer's ([`Builder::request_id_header`](relayer::Builder::request_id_header),
    /// `x-request-id` by default), e.g. `x-correlation-id`; its requests
    /// send it on under that name too, on outgoing calls and events.
    ///
    /// # Panics
    ///
    /// When `name` is not a valid header name.
    ///
    /// ```
    /// # let relayer = relayer::Relayer::builder("logging").brokers("localhost:9092").build()?;
    /// let layer = relayer_axum::RelayerLayer::new(relayer).request_id_header("x-correlation-id");
    /// # Ok::<(), relayer::Error>(())
    /// ```
    #[track_caller]
    #[must_use]
    pub fn request_id_header<K>(mut self, name: K) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: fmt::Debug,
    {
        Arc::make_mut(&mut self.config).request_id_header = RequestIdHeader::new(header_name(name));
        self
    }

    /// Serves requests to exactly `path` (health checks, metrics) without
    /// scope, record or request id: the layer is transparent for them.
    ///
    /// ```
    /// # let relayer = relayer::Relayer::builder("logging").brokers("localhost:9092").build()?;
    /// let layer = relayer_axum::RelayerLayer::new(relayer)
    ///     .skip_path("/health")
    ///     .skip_path("/metrics");
    /// # Ok::<(), relayer::Error>(())
    /// ```
    #[must_use]
    pub fn skip_path(mut self, path: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.config).skip_path(path.into());
        self
    }

    /// Like [`skip_path`](Self::skip_path), for every path that starts with
    /// `prefix`, e.g. `"/static/"`.
    ///
    /// ```
    /// # let relayer = relayer::Relayer::builder("logging").brokers("localhost:9092").build()?;
    /// let layer = relayer_axum::RelayerLayer::new(relayer).skip_path_prefix("/static/");
    /// # Ok::<(), relayer::Error>(())
    /// ```
    #[must_use]
    pub fn skip_path_prefix(mut self, prefix: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.config).skip_prefix(prefix.into());
        self
    }
}

impl<S> Layer<S> for RelayerLayer {
    type Service = RelayerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RelayerService::with_config(inner, self.relayer.clone(), self.config.clone())
    }
}

#[track_caller]
fn header_name<K>(name: K) -> HeaderName
where
    HeaderName: TryFrom<K>,
    <HeaderName as TryFrom<K>>::Error: fmt::Debug,
{
    match HeaderName::try_from(name) {
        Ok(name) => name,
        Err(error) => panic!("relayer_axum::RelayerLayer: invalid header name: {error:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_lowercased() {
        assert_eq!(header_name("X-Tenant").as_str(), "x-tenant");
    }

    #[test]
    #[should_panic(expected = "not a CIDR range nor an IP address: \"10.0.0.0/40\"")]
    fn invalid_proxy_ranges_panic_at_configuration() {
        let relayer = relayer::Relayer::builder("logging")
            .brokers("localhost:9092")
            .build()
            .unwrap();
        let _ = RelayerLayer::new(relayer).trusted_proxies(["10.0.0.0/8", "10.0.0.0/40"]);
    }

    #[test]
    #[should_panic(expected = "invalid header name")]
    fn invalid_header_names_panic_at_configuration() {
        header_name("not a header");
    }
}
