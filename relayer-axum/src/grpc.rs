//! The gRPC status of a response: in the trailers, or in the headers of a
//! trailers-only response (an error before any message).

use http::HeaderMap;
use http::header::HeaderName;
use percent_encoding::percent_decode;

const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");

/// A response's `grpc-status` and `grpc-message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GrpcStatus {
    pub(crate) code: i32,
    /// Percent-decoded, as the gRPC spec encodes it.
    pub(crate) message: Option<String>,
}

impl GrpcStatus {
    /// The status in `headers` (response headers or trailers), if any.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let code = headers
            .get(GRPC_STATUS)?
            .to_str()
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let message = headers
            .get(GRPC_MESSAGE)
            .map(|message| {
                percent_decode(message.as_bytes())
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .filter(|message| !message.is_empty());
        Some(Self { code, message })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_code_and_the_decoded_message() {
        let mut headers = HeaderMap::new();
        assert_eq!(GrpcStatus::from_headers(&headers), None);
        headers.insert(GRPC_STATUS, "3".parse().unwrap());
        headers.insert(GRPC_MESSAGE, "name%20is%20empty".parse().unwrap());
        assert_eq!(
            GrpcStatus::from_headers(&headers),
            Some(GrpcStatus {
                code: 3,
                message: Some("name is empty".into())
            })
        );
        headers.insert(GRPC_STATUS, "not a number".parse().unwrap());
        assert_eq!(GrpcStatus::from_headers(&headers), None);
    }
}
