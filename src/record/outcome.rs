use serde::{Serialize, Serializer};

/// How a request or call ended. It is written in records by its
/// [name](Outcome::as_str).
///
/// ```
/// use relayer::record::Outcome;
///
/// assert_eq!(Outcome::BodyError.as_str(), "body_error");
/// assert_eq!(serde_json::to_string(&Outcome::BodyError).unwrap(), r#""body_error""#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// It ran to the end (whatever the status or result).
    Ok,
    /// An RPC function returned `Err`.
    Error,
    /// The handler panicked.
    Panicked,
    /// The client went away, or the future was dropped, before the end.
    Cancelled,
    /// The response body failed while it was being sent.
    BodyError,
}

impl Outcome {
    /// How a scope dropped before its end ended: `panicked` when a panic
    /// is dropping it, else `cancelled` (its future was dropped).
    pub fn of_unfinished() -> Self {
        if std::thread::panicking() {
            Self::Panicked
        } else {
            Self::Cancelled
        }
    }

    /// The name written in records, e.g. `"body_error"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Panicked => "panicked",
            Self::Cancelled => "cancelled",
            Self::BodyError => "body_error",
        }
    }
}

impl Serialize for Outcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}
