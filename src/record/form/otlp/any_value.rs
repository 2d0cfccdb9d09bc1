//! JSON to an OTLP `AnyValue`, as OTLP/JSON writes it
//! (opentelemetry-proto, `common/v1/common.proto` and
//! `docs/specification.md`, "JSON Protobuf Encoding"): a string is a
//! `stringValue`, a boolean a `boolValue`, an integer an `intValue` written
//! as a decimal string (int64 is a string in protobuf's JSON), a fraction a
//! `doubleValue`, an array an `arrayValue`, an object a `kvlistValue`, and
//! `null` an empty `AnyValue`.
//!
//! It reads the JSON once and writes as it reads, with no tree in between.

use std::fmt;
use std::io::Write;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Appends `json` as an `AnyValue` to `out`. JSON nested deeper than the
/// parser goes (128 levels) becomes a `stringValue` of its text.
pub(crate) fn any_value(json: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    let mut parser = serde_json::Deserializer::from_slice(json);
    let converted = AnyValue(out)
        .deserialize(&mut parser)
        .and_then(|()| parser.end());
    if converted.is_err() {
        out.truncate(start);
        string_value(&String::from_utf8_lossy(json), out);
    }
}

/// Appends `{"stringValue":"..."}`.
pub(crate) fn string_value(text: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"stringValue\":");
    string(text, out);
    out.push(b'}');
}

/// Appends `text` as a JSON string.
pub(crate) fn string(text: &str, out: &mut Vec<u8>) {
    serde_json::to_writer(&mut *out, text).expect("a string is JSON");
}

/// Writes the value it is handed as an `AnyValue`.
struct AnyValue<'o>(&'o mut Vec<u8>);

impl<'de> DeserializeSeed<'de> for AnyValue<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AnyValue<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.0.extend_from_slice(b"{}");
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<(), E> {
        let _ = write!(self.0, "{{\"boolValue\":{value}}}");
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<(), E> {
        let _ = write!(self.0, "{{\"intValue\":\"{value}\"}}");
        Ok(())
    }

    /// Past int64, a `stringValue` of its digits, as
    /// tracing-opentelemetry records a `u64` that is not an `i64`.
    fn visit_u64<E: de::Error>(self, value: u64) -> Result<(), E> {
        match i64::try_from(value) {
            Ok(value) => self.visit_i64(value),
            Err(_) => {
                let _ = write!(self.0, "{{\"stringValue\":\"{value}\"}}");
                Ok(())
            }
        }
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<(), E> {
        self.0.extend_from_slice(b"{\"doubleValue\":");
        serde_json::to_writer(&mut *self.0, &value).expect("a number is JSON");
        self.0.push(b'}');
        Ok(())
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<(), E> {
        string_value(value, self.0);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.0.extend_from_slice(b"{\"arrayValue\":{\"values\":[");
        let mut first = true;
        loop {
            let mark = self.0.len();
            if !first {
                self.0.push(b',');
            }
            if seq.next_element_seed(AnyValue(self.0))?.is_none() {
                self.0.truncate(mark);
                break;
            }
            first = false;
        }
        self.0.extend_from_slice(b"]}}");
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.0.extend_from_slice(b"{\"kvlistValue\":{\"values\":[");
        let mut first = true;
        loop {
            let mark = self.0.len();
            if !first {
                self.0.push(b',');
            }
            if map.next_key_seed(Key(self.0))?.is_none() {
                self.0.truncate(mark);
                break;
            }
            map.next_value_seed(AnyValue(self.0))?;
            self.0.push(b'}');
            first = false;
        }
        self.0.extend_from_slice(b"]}}");
        Ok(())
    }
}

/// Writes the key of an object's member: `{"key":"...","value":`.
struct Key<'o>(&'o mut Vec<u8>);

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for Key<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<(), E> {
        self.0.extend_from_slice(b"{\"key\":");
        string(key, self.0);
        self.0.extend_from_slice(b",\"value\":");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::any_value;

    fn converted(json: &str) -> Value {
        let mut out = Vec::new();
        any_value(json.as_bytes(), &mut out);
        serde_json::from_slice(&out).expect("AnyValue JSON")
    }

    #[test]
    fn every_json_type_becomes_its_any_value() {
        assert_eq!(converted("\"a\\\"b\""), json!({"stringValue": "a\"b"}));
        assert_eq!(converted("true"), json!({"boolValue": true}));
        assert_eq!(converted("-42"), json!({"intValue": "-42"}));
        assert_eq!(
            converted("9223372036854775807"),
            json!({"intValue": "9223372036854775807"})
        );
        assert_eq!(
            converted("18446744073709551615"),
            json!({"stringValue": "18446744073709551615"})
        );
        assert_eq!(converted("1.5"), json!({"doubleValue": 1.5}));
        assert_eq!(converted("1e300"), json!({"doubleValue": 1e300}));
        assert_eq!(converted("null"), json!({}));
        assert_eq!(converted("[]"), json!({"arrayValue": {"values": []}}));
        assert_eq!(converted("{}"), json!({"kvlistValue": {"values": []}}));
        assert_eq!(
            converted(r#"{"log_level":"info","payload":{"n":[1,2.5,null],"k\u00e9":false}}"#),
            json!({"kvlistValue": {"values": [
                {"key": "log_level", "value": {"stringValue": "info"}},
                {"key": "payload", "value": {"kvlistValue": {"values": [
                    {"key": "n", "value": {"arrayValue": {"values": [
                        {"intValue": "1"}, {"doubleValue": 2.5}, {}
                    ]}}},
                    {"key": "ké", "value": {"boolValue": false}},
                ]}}},
            ]}})
        );
    }

    #[test]
    fn json_too_deep_for_the_parser_is_kept_as_text() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert_eq!(converted(&deep), json!({ "stringValue": deep }));
    }
}
