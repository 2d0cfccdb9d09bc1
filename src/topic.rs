//! Topic names: prefix and suffix, and Kafka's rules for a legal name.

use crate::error::Error;

/// Kafka's limit on the length of a topic name.
const MAX_TOPIC_LEN: usize = 249;

/// Builds full topic names from a name, the configured prefix and suffix.
#[derive(Debug, Clone, Default)]
pub(crate) struct TopicNames {
    prefix: String,
    suffix: String,
}

impl TopicNames {
    pub(crate) fn new(prefix: String, suffix: String) -> Self {
        Self { prefix, suffix }
    }

    /// `{prefix}{name}{suffix}`, checked against Kafka's rules. Built on
    /// the stack: a legal name is short, and an event costs no allocation
    /// for it.
    pub(crate) fn full(&self, name: &str) -> Result<FullTopic, Error> {
        let parts = [self.prefix.as_str(), name, self.suffix.as_str()];
        let len: usize = parts.iter().map(|part| part.len()).sum();
        if len > MAX_TOPIC_LEN {
            validate(&parts.concat())?;
        }
        let mut topic = FullTopic {
            len: 0,
            bytes: [0; MAX_TOPIC_LEN],
        };
        for part in parts {
            topic.bytes[topic.len..topic.len + part.len()].copy_from_slice(part.as_bytes());
            topic.len += part.len();
        }
        validate(topic.as_str())?;
        Ok(topic)
    }
}

/// A full topic name, at most [`MAX_TOPIC_LEN`] bytes, held inline.
pub(crate) struct FullTopic {
    len: usize,
    bytes: [u8; MAX_TOPIC_LEN],
}

impl FullTopic {
    pub(crate) fn as_str(&self) -> &str {
        // The parts are `str`s, copied whole: the bytes are UTF-8.
        std::str::from_utf8(&self.bytes[..self.len]).expect("whole strings, copied")
    }

    pub(crate) fn into_string(self) -> String {
        self.as_str().to_owned()
    }
}

/// Checks a full topic name the way the broker would, so a bad name is an
/// error at the call instead of a failed delivery minutes later.
pub(crate) fn validate(topic: &str) -> Result<(), Error> {
    let reason = if topic.is_empty() {
        Some("it is empty")
    } else if topic == "." || topic == ".." {
        Some("'.' and '..' are reserved")
    } else if topic.len() > MAX_TOPIC_LEN {
        Some("it is longer than 249 characters")
    } else if !topic
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        Some("only ASCII letters, digits, '.', '_' and '-' are allowed")
    } else {
        None
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(Error::InvalidTopic {
            topic: topic.to_owned(),
            reason,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_and_suffix_wrap_the_name() {
        let names = TopicNames::new("prod_".into(), "_v2".into());
        assert_eq!(names.full("orders").unwrap().as_str(), "prod_orders_v2");
        let long = "a".repeat(242);
        assert!(
            names.full(&long).is_err(),
            "over 249 bytes with prefix and suffix"
        );
        assert!(names.full("bad name").is_err());
    }

    #[test]
    fn illegal_names_are_refused_with_a_reason() {
        for bad in ["", ".", "..", "has space", "slash/no", "ünicode"] {
            let err = validate(bad).unwrap_err();
            assert!(matches!(err, Error::InvalidTopic { .. }), "{bad:?}");
        }
        assert!(validate(&"a".repeat(250)).is_err());
        assert!(validate(&"a".repeat(249)).is_ok());
        assert!(validate("Orders.v1_x-y").is_ok());
    }
}
