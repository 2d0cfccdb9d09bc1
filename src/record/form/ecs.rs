//! The Elastic Common Schema form: one ECS document per record, as
//! Elastic's ecs-logging libraries write them (elastic/ecs-logging,
//! `spec/spec.json`): `@timestamp`, `log.level`, `message` and
//! `ecs.version` first, the other fields nested objects. What relayer has
//! that ECS has no field for is under `relayer.*`, as ECS asks of custom
//! fields; resource attributes without an ECS field are `labels`.
//!
//! OpenTelemetry names map to ECS ones as elastic/ecs
//! `docs/reference/ecs-otel-alignment-details.md` says:
//! `service.instance.id` is `service.node.name`,
//! `deployment.environment.name` is `service.environment`, the HTTP
//! version is `http.version`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use super::facts::{ErrorType, Level, Summary, error_type};
use super::{Finished, splice_lines};
use crate::record::{Details, HttpDetails, Outcome, Timestamp, fields_as_object};
use crate::resource;
use crate::trace::{SpanId, TraceId};

/// The ECS version the documents follow.
pub(crate) const ECS_VERSION: &str = "9.4.0";

/// Writes `record` as an ECS document.
pub(super) fn write(
    record: &Finished<'_>,
    lines: &[u8],
    json: &mut Vec<u8>,
) -> serde_json::Result<()> {
    let http = match record.details {
        Some(Details::Http(http)) => Some(http),
        _ => None,
    };
    let level = Level::of(record);
    let resource = record.resource;
    let document = Document {
        timestamp: record.start,
        log_level: match level {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        },
        message: Summary(record),
        ecs_version: ECS_VERSION,
        event: Event {
            kind: "event",
            category: http.map(|_| ["web"]),
            r#type: http.map(|_| ["access"]),
            outcome: match (level, record.outcome) {
                (Level::Error, _) => "failure",
                (_, Outcome::Cancelled) => "unknown",
                _ => "success",
            },
            duration: u64::try_from(record.duration.as_nanos()).unwrap_or(u64::MAX),
            dataset: resource.is_named().then(|| resource.service_name()),
        },
        http: http.map(|http| Http {
            request: HttpRequest {
                id: record.request_id,
                method: http.method,
                body: Bytes {
                    bytes: http.request_bytes,
                },
            },
            response: HttpResponse {
                status_code: http.status,
                body: Bytes {
                    bytes: http.content_length,
                },
            },
            version: http.protocol_version,
        }),
        url: http.map(|http| Url {
            scheme: http.scheme.unwrap_or("http"),
            domain: http.server_address,
            port: http.server_port,
            path: http.path,
            query: http.query_string.filter(|query| !query.is_empty()),
        }),
        client: http.and_then(|http| {
            let address = http.remote_addr?;
            Some(Client {
                address,
                ip: address.parse::<IpAddr>().is_ok().then_some(address),
            })
        }),
        user_agent: http
            .and_then(|http| http.user_agent)
            .map(|original| UserAgent { original }),
        service: Service {
            name: resource.service_name(),
            version: resource.get(resource::SERVICE_VERSION),
            environment: resource.get(resource::DEPLOYMENT_ENVIRONMENT),
            node: resource
                .get(resource::SERVICE_INSTANCE_ID)
                .map(|name| Name { name }),
        },
        host: resource.get(resource::HOST_NAME).map(|name| Name { name }),
        labels: Labels(resource),
        trace: Id {
            id: record.trace.trace_id,
        },
        span: Id {
            id: record.trace.span_id,
        },
        error: error_type(record).map(|r#type| Error {
            r#type,
            message: record.details.and_then(Details::error),
        }),
        relayer: Relayer {
            source: record.source,
            logging_topic: record.logging_topic,
            request_id: record.request_id,
            outcome: record.outcome,
            parent_span_id: record.trace.parent_span_id,
            fields: record.fields,
            specific: Specific::of(record),
            calls: record.calls,
            dropped_calls: (record.dropped_calls > 0).then_some(record.dropped_calls),
            lines: [],
        },
    };
    serde_json::to_writer(&mut *json, &document)?;
    splice_lines(json, lines);
    Ok(())
}

#[derive(Serialize)]
struct Document<'a> {
    #[serde(rename = "@timestamp")]
    timestamp: Timestamp,
    #[serde(rename = "log.level")]
    log_level: &'static str,
    message: Summary<'a>,
    #[serde(rename = "ecs.version")]
    ecs_version: &'static str,
    event: Event<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    http: Option<Http<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<Url<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<Client<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_agent: Option<UserAgent<'a>>,
    service: Service<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<Name<'a>>,
    #[serde(skip_serializing_if = "Labels::is_empty")]
    labels: Labels<'a>,
    trace: Id<TraceId>,
    span: Id<SpanId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Error<'a>>,
    /// The last field: its `lines` end the document.
    relayer: Relayer<'a>,
}

#[derive(Serialize)]
struct Event<'a> {
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    category: Option<[&'static str; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    r#type: Option<[&'static str; 1]>,
    outcome: &'static str,
    /// Nanoseconds.
    duration: u64,
    /// `service.name` when it was set, as ecs-logging's spec asks.
    #[serde(skip_serializing_if = "Option::is_none")]
    dataset: Option<&'a str>,
}

#[derive(Serialize)]
struct Http<'a> {
    request: HttpRequest<'a>,
    response: HttpResponse,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'a str>,
}

#[derive(Serialize)]
struct HttpRequest<'a> {
    id: &'a str,
    method: &'a str,
    body: Bytes,
}

#[derive(Serialize)]
struct HttpResponse {
    status_code: u16,
    body: Bytes,
}

#[derive(Serialize)]
struct Bytes {
    bytes: u64,
}

#[derive(Serialize)]
struct Url<'a> {
    scheme: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    query: Option<&'a str>,
}

#[derive(Serialize)]
struct Client<'a> {
    address: &'a str,
    /// Only when the address is an IP address: ECS types it `ip`.
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<&'a str>,
}

#[derive(Serialize)]
struct UserAgent<'a> {
    original: &'a str,
}

#[derive(Serialize)]
struct Service<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    environment: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    node: Option<Name<'a>>,
}

#[derive(Serialize)]
struct Name<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct Id<T> {
    id: T,
}

#[derive(Serialize)]
struct Error<'a> {
    r#type: ErrorType,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
}

/// The resource's attributes that ECS has no field for (e.g.
/// `service.namespace`), their keys with `.`, `*` and `\` made `_` as
/// ecs-logging's spec asks of labels.
struct Labels<'a>(&'a crate::Resource);

/// Attributes with an ECS field of their own.
const MAPPED: [&str; 5] = [
    resource::SERVICE_NAME,
    resource::SERVICE_VERSION,
    resource::SERVICE_INSTANCE_ID,
    resource::DEPLOYMENT_ENVIRONMENT,
    resource::HOST_NAME,
];

impl Labels<'_> {
    fn iter(&self) -> impl Iterator<Item = (LabelKey<'_>, &str)> {
        self.0
            .iter()
            .filter(|(key, _)| !MAPPED.contains(key))
            .map(|(key, value)| (LabelKey(key), value))
    }

    fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

impl Serialize for Labels<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

struct LabelKey<'a>(&'a str);

impl fmt::Display for LabelKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in self.0.split(['.', '*', '\\']).enumerate() {
            if part.0 > 0 {
                f.write_str("_")?;
            }
            f.write_str(part.1)?;
        }
        Ok(())
    }
}

impl Serialize for LabelKey<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// relayer's own fields: everything of the record that ECS has no field
/// for, under their standard-form names.
#[derive(Serialize)]
struct Relayer<'a> {
    source: &'a str,
    logging_topic: &'a str,
    request_id: &'a str,
    outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_span_id: Option<SpanId>,
    #[serde(
        skip_serializing_if = "<[_]>::is_empty",
        serialize_with = "fields_as_object"
    )]
    fields: &'a [(&'a str, &'a RawValue)],
    #[serde(flatten)]
    specific: Specific<'a>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    calls: &'a [&'a RawValue],
    #[serde(skip_serializing_if = "Option::is_none")]
    dropped_calls: Option<usize>,
    /// The last field, where the lines go.
    lines: [(); 0],
}

/// The fields of the kind of scope that ECS has no field for.
#[derive(Serialize)]
#[serde(untagged)]
enum Specific<'a> {
    Http(HttpExtras<'a>),
    Rpc {
        service: &'a str,
    },
    Message {
        topic: &'a str,
        partition: i32,
        offset: i64,
        #[serde(skip_serializing_if = "Option::is_none")]
        key: Option<&'a str>,
    },
    TooLarge {
        record_too_large: usize,
    },
    Unfinished {},
}

impl<'a> Specific<'a> {
    fn of(record: &Finished<'a>) -> Self {
        if let Some(record_too_large) = record.too_large {
            return Self::TooLarge { record_too_large };
        }
        match record.details {
            Some(Details::Http(http)) => Self::Http(HttpExtras::of(http)),
            Some(Details::Rpc(rpc)) => Self::Rpc {
                service: rpc.service,
            },
            Some(Details::Message(message)) => Self::Message {
                topic: message.topic,
                partition: message.partition,
                offset: message.offset,
                key: message.key,
            },
            None => Self::Unfinished {},
        }
    }
}

#[derive(Serialize)]
struct HttpExtras<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    route: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    x_forwarded_for: Option<&'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    headers: &'a BTreeMap<&'a str, &'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    grpc_status: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    grpc_message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_body: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_body: Option<&'a str>,
}

impl<'a> HttpExtras<'a> {
    fn of(http: &'a HttpDetails<'a>) -> Self {
        Self {
            route: http.route,
            x_forwarded_for: http.x_forwarded_for,
            headers: &http.headers,
            grpc_status: http.grpc_status,
            grpc_message: http.grpc_message,
            request_body: http.request_body,
            response_body: http.response_body,
        }
    }
}
