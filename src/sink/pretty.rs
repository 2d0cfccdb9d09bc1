//! The form for people: one readable block per record (what happened, how
//! long it took, then its lines indented with their levels), one line per
//! event; colors only when asked for (a terminal without `NO_COLOR`).
//!
//! Whatever a message holds, every control character in it is printed
//! escaped (see [`controls::escaped`]), so one record is one block and no
//! byte of a request acts on the terminal; and every field is looked up,
//! never assumed, so a message that only looks like a record prints too.

use std::fmt::Write;

use serde_json::{Map, Value};

use super::controls::escaped;
use crate::producer::Message;

/// ANSI styles; empty strings when colors are off.
#[derive(Clone, Copy)]
struct Style {
    on: bool,
}

impl Style {
    /// `text`, its controls escaped, in the style `code`.
    fn paint(self, code: &str, text: &str) -> String {
        let text = escaped(text);
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.into_owned()
        }
    }
}

const BOLD: &str = "1";
const DIM: &str = "2";
const RED: &str = "31";
const GREEN: &str = "32";
const YELLOW: &str = "33";
const BLUE: &str = "34";
const CYAN: &str = "36";

/// Appends `message` to `out`, readable, newline included: a record as a
/// block, anything else (an event) as one line with its topic and key.
pub(crate) fn render(message: &Message<'_>, colors: bool, out: &mut Vec<u8>) {
    let style = Style { on: colors };
    let mut text = String::new();
    match serde_json::from_slice::<Value>(message.payload) {
        Ok(Value::Object(record)) if is_record(&record) => {
            record_block(&record, style, &mut text);
        }
        Ok(value) => event_line(message, &value, style, &mut text),
        // Not JSON: shown as it is rather than lost.
        Err(_) => event_line(
            message,
            &Value::String(String::from_utf8_lossy(message.payload).into_owned()),
            style,
            &mut text,
        ),
    }
    out.extend_from_slice(text.as_bytes());
}

/// Whether `message` has what every record of relayer has: its `date`
/// and `outcome`, and its `lines`.
fn is_record(message: &Map<String, Value>) -> bool {
    message.get("date").is_some_and(Value::is_string)
        && message.get("outcome").is_some_and(Value::is_string)
        && message.get("lines").is_some_and(Value::is_array)
}

/// `10:00:00.123  POST /things  201 ok  3.2 ms  request-id`, then the lines.
fn record_block(record: &Map<String, Value>, style: Style, text: &mut String) {
    let field = |name: &str| record.get(name).and_then(Value::as_str).unwrap_or_default();
    let _ = write!(text, "{}  ", style.paint(DIM, clock(field("date"))));
    if let Some(service) = record.get("service").and_then(Value::as_str) {
        // An RPC record.
        let _ = write!(text, "{}", style.paint(BOLD, service));
    } else if let Some(topic) = record.get("topic").and_then(Value::as_str) {
        // A message record: the consumed message.
        let number = |name: &str| record.get(name).unwrap_or(&Value::Null).to_string();
        let where_ = format!("{topic}[{}]@{}", number("partition"), number("offset"));
        let _ = write!(text, "{}", style.paint(BOLD, &where_));
    } else {
        let mut target = format!("{} {}", field("method"), field("path"));
        if let Some(query) = record
            .get("query_string")
            .and_then(Value::as_str)
            .filter(|q| !q.is_empty())
        {
            let _ = write!(target, "?{query}");
        }
        let _ = write!(text, "{}", style.paint(BOLD, &target));
    }
    if let Some(status) = record.get("status").and_then(Value::as_u64) {
        let color = match status {
            500.. => RED,
            400..=499 => YELLOW,
            300..=399 => CYAN,
            _ => GREEN,
        };
        let _ = write!(text, "  {}", style.paint(color, &status.to_string()));
    }
    let outcome = field("outcome");
    let color = if outcome == "ok" { GREEN } else { RED };
    let _ = write!(text, " {}", style.paint(color, outcome));
    let time = ["request_time", "service_time", "processing_time"]
        .iter()
        .find_map(|name| record.get(*name).and_then(Value::as_f64));
    if let Some(ms) = time {
        let _ = write!(text, "  {ms:.1} ms");
    }
    let _ = write!(text, "  {}", style.paint(DIM, field("request_id")));
    if let Some(error) = record.get("error").and_then(Value::as_str) {
        let _ = write!(text, "  {}", style.paint(RED, error));
    }
    text.push('\n');
    if let Some(fields) = record
        .get("fields")
        .and_then(Value::as_object)
        .filter(|fields| !fields.is_empty())
    {
        let mut pairs = String::new();
        for (name, value) in fields {
            let separator = if pairs.is_empty() { "" } else { " " };
            let _ = write!(pairs, "{separator}{name}={}", payload(value));
        }
        let _ = writeln!(
            text,
            "    {} {}",
            style.paint(BLUE, "fields  "),
            escaped(&pairs)
        );
    }
    for line in record
        .get("lines")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        text.push_str("    ");
        record_line(line, style, text);
        text.push('\n');
    }
}

/// A log line with its level, an event with its type, anything else (a raw
/// event) as JSON.
fn record_line(line: &Value, style: Style, text: &mut String) {
    if let Some(level) = line.get("log_level").and_then(Value::as_str) {
        let color = match level.to_ascii_lowercase().as_str() {
            "error" | "critical" | "fatal" => RED,
            "warning" | "warn" => YELLOW,
            "info" => GREEN,
            _ => BLUE,
        };
        let padded = format!("{level:<8}");
        let _ = write!(
            text,
            "{} {}",
            style.paint(color, &padded),
            escaped(&payload(field(line, "payload")))
        );
    } else if let Some(event_type) = line.get("event_type").and_then(Value::as_str) {
        let subtype = line
            .get("event_subtype")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let _ = write!(
            text,
            "{} {}",
            style.paint(CYAN, "event   "),
            escaped(&format!(
                "{event_type}/{subtype} {}",
                payload(field(line, "payload"))
            ))
        );
    } else {
        let _ = write!(
            text,
            "{} {}",
            style.paint(CYAN, "raw     "),
            escaped(&line.to_string())
        );
    }
}

/// The field `name` of `value`, `null` when it has none.
fn field<'v>(value: &'v Value, name: &str) -> &'v Value {
    value.get(name).unwrap_or(&Value::Null)
}

/// `event  topic  key=K  type/subtype  payload  request-id`, for a message
/// that is not a record (a raw event: its JSON as it is).
fn event_line(message: &Message<'_>, value: &Value, style: Style, text: &mut String) {
    let clock = value
        .get("timestamp")
        .and_then(Value::as_str)
        .map_or("", clock);
    if !clock.is_empty() {
        let _ = write!(text, "{}  ", style.paint(DIM, clock));
    }
    let _ = write!(
        text,
        "{} {}",
        style.paint(CYAN, "event"),
        style.paint(BOLD, message.topic)
    );
    if let Some(key) = message.key {
        let key = format!("key={}", String::from_utf8_lossy(key));
        let _ = write!(text, " {}", style.paint(DIM, &key));
    }
    match value.get("event_type").and_then(Value::as_str) {
        Some(event_type) => {
            let subtype = value
                .get("event_subtype")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let event = format!(
                "{event_type}/{subtype} {}",
                payload(field(value, "payload"))
            );
            let _ = write!(text, " {}", escaped(&event));
            if let Some(request_id) = value.get("request_id").and_then(Value::as_str) {
                let _ = write!(text, "  {}", style.paint(DIM, request_id));
            }
        }
        None => {
            let _ = write!(text, " {}", escaped(&payload(value)));
        }
    }
    text.push('\n');
}

/// A string payload as its text; an object with a `message` (a `tracing`
/// event) as the message and its fields, `name=value`; any other as
/// compact JSON.
fn payload(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Object(fields) if fields.get("message").is_some_and(Value::is_string) => {
            let message = fields.get("message").and_then(Value::as_str);
            let mut text = message.unwrap_or_default().to_owned();
            for (name, value) in fields.iter().filter(|(name, _)| *name != "message") {
                let _ = write!(text, " {name}={value}");
            }
            text
        }
        other => other.to_string(),
    }
}

/// `10:00:00.123` of `2026-11-23T10:00:00.123456Z`, or the text as it is.
fn clock(date: &str) -> &str {
    date.get(11..date.len().min(23))
        .filter(|_| date.as_bytes().get(10) == Some(&b'T'))
        .unwrap_or(date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rendered(payload: &str, colors: bool) -> String {
        let mut out = Vec::new();
        let message = Message {
            topic: "logging",
            key: None,
            headers: &[],
            payload: payload.as_bytes(),
        };
        render(&message, colors, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_record_is_a_block_with_its_lines_indented() {
        let record = r#"{"date":"2026-11-23T10:00:00.123456Z","method":"POST","path":"/things",
            "query_string":null,"status":201,"outcome":"ok","request_time":3.24,"request_id":"r-1",
            "lines":[{"log_level":"info","payload":"created","timestamp":"x"},
                     {"event_type":"thing_created","event_subtype":"v1","payload":{"id":1}}]}"#;
        assert_eq!(
            rendered(record, false),
            "10:00:00.123  POST /things  201 ok  3.2 ms  r-1\n\
             \x20   info     created\n\
             \x20   event    thing_created/v1 {\"id\":1}\n"
        );
        let colored = rendered(record, true);
        assert!(colored.contains("\x1b[32m201\x1b[0m"), "{colored:?}");
    }

    #[test]
    fn a_record_shows_its_fields_before_its_lines() {
        let record = r#"{"date":"2026-11-23T10:00:00.123456Z","method":"GET","path":"/",
            "query_string":null,"status":200,"outcome":"ok","request_time":0.5,"request_id":"r-1",
            "fields":{"user_id":42,"plan":"pro","flags":{"beta":true}},
            "lines":[{"log_level":"info","payload":"hi","timestamp":"x"}]}"#;
        assert_eq!(
            rendered(record, false),
            "10:00:00.123  GET /  200 ok  0.5 ms  r-1\n\
             \x20   fields   flags={\"beta\":true} plan=pro user_id=42\n\
             \x20   info     hi\n"
        );
        let empty = record.replace(r#""user_id":42,"plan":"pro","flags":{"beta":true}"#, "");
        assert!(!rendered(&empty, false).contains("fields"));
    }

    #[test]
    fn an_rpc_record_shows_its_service_and_error() {
        let record = r#"{"date":"2026-11-23T10:00:00.1Z","service":"Greeter::say_hello","outcome":"error",
            "service_time":1.0,"request_id":"r-2","error":"not found","lines":[]}"#;
        assert_eq!(
            rendered(record, false),
            "10:00:00.1Z  Greeter::say_hello error  1.0 ms  r-2  not found\n"
        );
    }

    #[test]
    fn a_tracing_line_shows_its_message_then_its_fields() {
        let line = json!({"message": "thing stored", "price_cents": 4900, "name": "chair"});
        assert_eq!(
            payload(&line),
            r#"thing stored name="chair" price_cents=4900"#
        );
    }

    #[test]
    fn controls_are_escaped_everywhere() {
        let hostile = "\u{1b}[2J\n10:00:00.000  GET /admin  200 ok\u{85}\u{202e}";
        let record = json!({"date": hostile, "method": hostile, "path": hostile, "query_string": hostile,
            "status": 200, "outcome": hostile, "request_time": 1.0, "request_id": hostile, "error": hostile,
            "lines": [{"log_level": hostile, "payload": {"message": hostile, hostile: hostile}},
                      {"event_type": hostile, "event_subtype": hostile, "payload": hostile}, hostile]});
        for colors in [false, true] {
            let text = rendered(&record.to_string(), colors);
            assert_eq!(text.lines().count(), 4, "{text}");
            let controls: Vec<char> = text
                .chars()
                .filter(|&c| c != '\n' && crate::sink::controls::is_control(c))
                .collect();
            let colored = if colors {
                controls.iter().all(|&c| c == '\u{1b}')
            } else {
                controls.is_empty()
            };
            assert!(colored, "only its own color codes: {text:?}");
            assert!(!text.contains("\u{1b}[2J"), "{text:?}");
        }
    }

    #[test]
    fn a_message_shaped_like_a_record_prints_as_an_event() {
        for raw in [
            r#"{"topic":"x","lines":[]}"#,
            r#"{"date":"d","outcome":"ok","lines":[null,7,{"log_level":1},{"event_type":{}}],"topic":"t"}"#,
            r#"{"lines":{"a":1}}"#,
            "[1,2]",
            "not json",
        ] {
            let text = rendered(raw, false);
            assert_eq!(
                text.matches('\n').count(),
                if raw.contains("\"date\"") { 5 } else { 1 },
                "{raw}: {text}"
            );
        }
    }

    #[test]
    fn an_event_is_one_line() {
        let event = r#"{"event_type":"order","event_subtype":"created","payload":{"id":1},
            "timestamp":"2026-11-23T10:00:00.123456Z","request_id":"r-1"}"#;
        assert_eq!(
            rendered(event, false),
            "10:00:00.123  event logging order/created {\"id\":1}  r-1\n"
        );
        let raw = r#"{"anything":"else"}"#;
        assert_eq!(
            rendered(raw, false),
            "event logging {\"anything\":\"else\"}\n"
        );
    }
}
