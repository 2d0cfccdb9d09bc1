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

    /// `{prefix}{name}{suffix}`, checked against Kafka's rules.
    pub(crate) fn full(&self, name: &str) -> Result<String, Error> {
        let mut topic = String::with_capacity(self.prefix.len() + name.len() + self.suffix.len());
        topic.push_str(&self.prefix);
        topic.push_str(name);
        topic.push_str(&self.suffix);
        validate(&topic)?;
        Ok(topic)
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
        assert_eq!(names.full("orders").unwrap(), "prod_orders_v2");
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
