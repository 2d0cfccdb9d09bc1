//! What the ECS and OTLP forms derive alike from a finished scope: its
//! level, a one-line summary, and the class of its error.

use std::fmt;

use super::Finished;
use crate::record::{Details, HttpDetails, Outcome};

/// How bad it went: the level of the record as a log entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Level {
    Info,
    Warn,
    Error,
}

/// gRPC codes that are the server's fault (OpenTelemetry semantic
/// conventions, `rpc/grpc.md`, "gRPC Status": UNKNOWN, DEADLINE_EXCEEDED,
/// UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS).
const GRPC_SERVER_ERRORS: [i32; 6] = [2, 4, 12, 13, 14, 15];

impl Level {
    /// Errors, panics, failed bodies and 5xx (and gRPC server errors):
    /// `Error`; 4xx (and other gRPC errors) and cancelled requests:
    /// `Warn`; the rest `Info`.
    pub(super) fn of(record: &Finished<'_>) -> Self {
        match record.outcome {
            Outcome::Ok => {}
            Outcome::Cancelled => return Self::Warn,
            Outcome::Error | Outcome::Panicked | Outcome::BodyError => return Self::Error,
        }
        let Some(Details::Http(http)) = record.details else {
            return Self::Info;
        };
        match (http.status, http.grpc_status.unwrap_or(0)) {
            (500.., _) => Self::Error,
            (_, code) if GRPC_SERVER_ERRORS.contains(&code) => Self::Error,
            (400.., _) => Self::Warn,
            (_, 0) => Self::Info,
            _ => Self::Warn,
        }
    }
}

/// The class of the error a record ended with, when it ended with one
/// (OpenTelemetry's `error.type`: a low-cardinality name): the outcome
/// (`error`, `panicked`, `body_error`), else a 5xx status as its number.
pub(super) fn error_type(record: &Finished<'_>) -> Option<ErrorType> {
    match record.outcome {
        Outcome::Error | Outcome::Panicked | Outcome::BodyError => {
            Some(ErrorType::Outcome(record.outcome))
        }
        Outcome::Ok | Outcome::Cancelled => match record.details {
            Some(Details::Http(HttpDetails { status, .. })) if *status >= 500 => {
                Some(ErrorType::Status(*status))
            }
            _ => None,
        },
    }
}

/// See [`error_type`].
#[derive(Debug, Clone, Copy)]
pub(super) enum ErrorType {
    Outcome(Outcome),
    Status(u16),
}

impl fmt::Display for ErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Outcome(outcome) => f.write_str(outcome.as_str()),
            Self::Status(status) => write!(f, "{status}"),
        }
    }
}

impl serde::Serialize for ErrorType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// One line that says what happened: `GET /orders/{id} 404`,
/// `Greeter::say_hello ok`, `orders[0]@42 error`.
pub(super) struct Summary<'a>(pub(super) &'a Finished<'a>);

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let record = self.0;
        let outcome = record.outcome.as_str();
        if let Some(size) = record.too_large {
            return write!(f, "record too large ({size} bytes), {outcome}");
        }
        match record.details {
            Some(Details::Http(http)) => {
                let target = http.route.unwrap_or(http.path);
                write!(f, "{} {target} {}", http.method, http.status)?;
                if record.outcome != Outcome::Ok {
                    write!(f, " {outcome}")?;
                }
                Ok(())
            }
            Some(Details::Rpc(rpc)) => write!(f, "{} {outcome}", rpc.service),
            Some(Details::Message(message)) => write!(
                f,
                "{}[{}]@{} {outcome}",
                message.topic, message.partition, message.offset
            ),
            None => f.write_str(outcome),
        }
    }
}

impl serde::Serialize for Summary<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}
