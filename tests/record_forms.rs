//! One request over real TCP (a traceparent, a user agent, a query, a
//! field, a 404) in every record form: its facts land in the fields each
//! form names them by. ECS records are checked leaf by leaf against ECS's
//! own field list (`tests/fixtures/ecs/fields.tsv`, from elastic/ecs);
//! OTLP records are parsed by OpenTelemetry's protobuf definitions in CI
//! (`.ci/otlp_check.py`, over every record the tests produce).

#[path = "support/orders.rs"]
mod orders;

use std::collections::BTreeMap;
use std::net::IpAddr;

use orders::{PARENT_ID, REQUEST_ID, TRACE_ID, USER_AGENT, lookup_missing_order};
use relayer::{Relayer, WireFormat};
use relayer_test::MockProducer;
use serde_json::{Value, json};

const ECS_FIELDS: &str = include_str!("fixtures/ecs/fields.tsv");

async fn record(format: WireFormat) -> (u16, Vec<u8>, Value) {
    let mock = MockProducer::new();
    let relayer = Relayer::builder("logging")
        .producer(mock.clone())
        .wire_format(format)
        .service("checkout")
        .service_version("2.0.1")
        .service_namespace("shop")
        .deployment_environment("test")
        .build()
        .unwrap();
    let (addr, raw) = lookup_missing_order(relayer, &mock).await;
    let json = serde_json::from_slice(&raw).unwrap();
    // Events keep their envelope in every form.
    let event = &mock.json("order_lookups")[0];
    assert_eq!(event["event_type"], "order_lookups", "{format:?}");
    assert_eq!(event["request_id"], REQUEST_ID, "{format:?}");
    (addr.port(), raw, json)
}

#[tokio::test]
async fn the_standard_form_names_its_facts_and_who_wrote_it() {
    let (_, _, record) = record(WireFormat::Standard).await;
    assert_eq!(record["status"], 404);
    assert_eq!(record["route"], "/orders/{id}");
    assert_eq!(record["trace_id"], TRACE_ID);
    assert_eq!(record["parent_span_id"], PARENT_ID);
    assert_eq!(record["user_agent"], USER_AGENT);
    assert_eq!(record["fields"]["customer"]["id"], "c-42");
    // A resource was configured: it is written, host included.
    assert_eq!(record["resource"]["service.name"], "checkout");
    assert_eq!(record["resource"]["service.version"], "2.0.1");
    assert!(record["resource"]["host.name"].is_string(), "{record}");
}

#[tokio::test]
async fn the_python_form_stays_as_python_wrote_it() {
    let (_, _, record) = record(WireFormat::Python1).await;
    assert_eq!(record["status"], 404);
    assert!(!record["date"].as_str().unwrap().ends_with('Z'));
    assert!(record.get("resource").is_none(), "{record}");
}

#[tokio::test]
async fn the_ecs_form_names_its_facts_with_ecs_fields() {
    let (port, raw, record) = record(WireFormat::Ecs).await;
    // ecs-logging's order: @timestamp, log.level, message, ecs.version.
    let text = String::from_utf8(raw).unwrap();
    let at = |key: &str| text.find(&format!("\"{key}\":")).unwrap();
    assert_eq!(at("@timestamp"), 1, "{text}");
    assert!(at("@timestamp") < at("log.level") && at("log.level") < at("message"));
    assert!(at("message") < at("ecs.version") && at("ecs.version") < at("event"));

    assert_eq!(record["log.level"], "warn");
    assert_eq!(record["message"], "GET /orders/{id} 404");
    assert_eq!(record["http"]["response"]["status_code"], 404);
    assert_eq!(record["http"]["response"]["body"]["bytes"], 13);
    assert_eq!(record["http"]["request"]["method"], "GET");
    assert_eq!(record["http"]["request"]["id"], REQUEST_ID);
    assert_eq!(record["http"]["version"], "1.1");
    assert_eq!(record["url"]["path"], "/orders/missing");
    assert_eq!(record["url"]["query"], "page=2&sort=new");
    assert_eq!(record["url"]["scheme"], "http");
    assert_eq!(record["url"]["domain"], "127.0.0.1");
    assert_eq!(record["url"]["port"], port);
    assert_eq!(record["client"]["ip"], "127.0.0.1");
    assert_eq!(record["user_agent"]["original"], USER_AGENT);
    assert_eq!(record["trace"]["id"], TRACE_ID);
    assert_eq!(record["event"]["outcome"], "success");
    assert_eq!(record["event"]["dataset"], "checkout");
    assert!(record["event"]["duration"].as_u64().unwrap() > 0);
    assert_eq!(record["service"]["name"], "checkout");
    assert_eq!(record["service"]["version"], "2.0.1");
    assert_eq!(record["service"]["environment"], "test");
    assert_eq!(record["labels"]["service_namespace"], "shop");
    assert!(record["host"]["name"].is_string());
    assert!(
        record.get("error").is_none(),
        "a 404 is not an error: {record}"
    );
    let relayer = &record["relayer"];
    assert_eq!(relayer["route"], "/orders/{id}");
    assert_eq!(relayer["parent_span_id"], PARENT_ID);
    assert_eq!(relayer["fields"]["customer"]["tier"], 2);
    assert_eq!(relayer["lines"][0]["payload"]["looked_up"], "missing");
    assert_eq!(relayer["lines"][1]["event_type"], "order_lookups");

    let leaves = ecs_leaves(&record);
    assert!(leaves.len() > 20, "{leaves:?}");
}

/// Checks every leaf of `record` against ECS's field list: an ECS field
/// whose type takes the leaf's JSON value, or under `relayer.` or
/// `labels.` (ECS's places for custom fields). Returns the leaves checked.
fn ecs_leaves(record: &Value) -> Vec<String> {
    let fields: BTreeMap<&str, &str> = ECS_FIELDS
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let mut columns = line.split('\t');
            Some((columns.next()?, columns.next()?))
        })
        .collect();
    let mut leaves = Vec::new();
    collect_leaves(record, String::new(), &mut leaves);
    let mut checked = Vec::new();
    for (path, value) in leaves {
        if path.starts_with("relayer.") || path.starts_with("labels.") {
            continue;
        }
        let ecs_type = fields
            .get(path.as_str())
            .unwrap_or_else(|| panic!("{path} is not an ECS field: {record}"));
        assert!(
            compatible(ecs_type, value),
            "{path} is an ECS {ecs_type}, not {value}"
        );
        checked.push(path);
    }
    checked
}

fn collect_leaves<'v>(value: &'v Value, path: String, leaves: &mut Vec<(String, &'v Value)>) {
    match value {
        Value::Object(members) => {
            for (key, member) in members {
                let path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                collect_leaves(member, path, leaves);
            }
        }
        // ECS fields are arrays of their type where a document has several.
        Value::Array(items) => {
            for item in items {
                collect_leaves(item, path.clone(), leaves);
            }
        }
        _ => leaves.push((path, value)),
    }
}

/// Whether a JSON value fits an Elasticsearch field type of ECS.
fn compatible(ecs_type: &str, value: &Value) -> bool {
    match ecs_type {
        "keyword" | "constant_keyword" | "wildcard" | "text" | "match_only_text" | "version" => {
            value.is_string()
        }
        "ip" => value
            .as_str()
            .is_some_and(|ip| ip.parse::<IpAddr>().is_ok()),
        "date" => value
            .as_str()
            .is_some_and(|date| chrono::DateTime::parse_from_rfc3339(date).is_ok()),
        "long" | "integer" | "short" | "byte" | "unsigned_long" => value.is_i64() || value.is_u64(),
        "float" | "double" | "scaled_float" | "half_float" => value.is_number(),
        "boolean" => value.is_boolean(),
        _ => false,
    }
}

#[test]
fn the_ecs_check_refuses_what_ecs_does_not_have() {
    let ok = json!({"http": {"response": {"status_code": 404}}, "relayer": {"anything": [1]}});
    assert_eq!(ecs_leaves(&ok), ["http.response.status_code"]);
    for bad in [
        json!({"http": {"response": {"status": 404}}}),
        json!({"http": {"response": {"status_code": "404"}}}),
        json!({"client": {"ip": "not an ip"}}),
        json!({"@timestamp": "yesterday"}),
    ] {
        let refused = std::panic::catch_unwind(|| ecs_leaves(&bad));
        assert!(refused.is_err(), "{bad} passed");
    }
}

/// The attributes of an OTLP `KeyValue` list, by key.
fn attributes(list: &Value) -> BTreeMap<&str, &Value> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|attribute| (attribute["key"].as_str().unwrap(), &attribute["value"]))
        .collect()
}

#[tokio::test]
async fn the_otlp_form_names_its_facts_with_semantic_conventions() {
    let (port, _, request) = record(WireFormat::OtlpJson).await;
    let resource_logs = request["resourceLogs"].as_array().unwrap();
    assert_eq!(resource_logs.len(), 1);
    let resource = attributes(&resource_logs[0]["resource"]["attributes"]);
    assert_eq!(
        resource["service.name"],
        &json!({"stringValue": "checkout"})
    );
    assert_eq!(
        resource["service.version"],
        &json!({"stringValue": "2.0.1"})
    );
    assert_eq!(
        resource["service.namespace"],
        &json!({"stringValue": "shop"})
    );
    assert_eq!(
        resource["deployment.environment.name"],
        &json!({"stringValue": "test"})
    );
    assert!(resource["host.name"]["stringValue"].is_string());
    let scope_logs = &resource_logs[0]["scopeLogs"][0];
    assert_eq!(scope_logs["scope"]["name"], "relayer");
    assert_eq!(scope_logs["scope"]["version"], env!("CARGO_PKG_VERSION"));
    let log = &scope_logs["logRecords"][0];
    assert_eq!(scope_logs["logRecords"].as_array().unwrap().len(), 1);

    // Hex ids, not base64; 64-bit integers as decimal strings.
    assert_eq!(log["traceId"], TRACE_ID);
    assert_eq!(log["spanId"].as_str().unwrap().len(), 16);
    assert_eq!(log["flags"], 1);
    let nanos = |key: &str| log[key].as_str().unwrap().parse::<u64>().unwrap();
    assert!(nanos("timeUnixNano") < nanos("observedTimeUnixNano"));
    assert_eq!(
        (&log["severityNumber"], &log["severityText"]),
        (&json!(13), &json!("WARN"))
    );
    assert_eq!(log["body"], json!({"stringValue": "GET /orders/{id} 404"}));

    let attributes = attributes(&log["attributes"]);
    let string = |value: &str| json!({ "stringValue": value });
    assert_eq!(attributes["http.request.method"], &string("GET"));
    assert_eq!(attributes["url.path"], &string("/orders/missing"));
    assert_eq!(attributes["url.query"], &string("page=2&sort=new"));
    assert_eq!(attributes["url.scheme"], &string("http"));
    assert_eq!(attributes["http.route"], &string("/orders/{id}"));
    assert_eq!(
        attributes["http.response.status_code"],
        &json!({"intValue": "404"})
    );
    assert_eq!(attributes["client.address"], &string("127.0.0.1"));
    assert_eq!(attributes["user_agent.original"], &string(USER_AGENT));
    assert_eq!(attributes["server.address"], &string("127.0.0.1"));
    assert_eq!(
        attributes["server.port"],
        &json!({ "intValue": port.to_string() })
    );
    assert_eq!(attributes["network.protocol.version"], &string("1.1"));
    assert!(
        !attributes.contains_key("error.type"),
        "a 404 is not an error"
    );
    assert_eq!(attributes["relayer.request_id"], &string(REQUEST_ID));
    assert_eq!(attributes["relayer.parent_span_id"], &string(PARENT_ID));
    assert_eq!(
        attributes["relayer.fields.customer"],
        &json!({"kvlistValue": {"values": [
            {"key": "id", "value": {"stringValue": "c-42"}},
            {"key": "tier", "value": {"intValue": "2"}},
        ]}})
    );
    // Lines are key-value lists, not JSON text.
    let lines = attributes["relayer.lines"]["arrayValue"]["values"]
        .as_array()
        .unwrap();
    assert_eq!(lines.len(), 2);
    let first = self::attributes(&lines[0]["kvlistValue"]["values"]);
    assert_eq!(first["log_level"], &string("info"));
    let payload = self::attributes(&first["payload"]["kvlistValue"]["values"]);
    assert_eq!(payload["attempts"], &json!({"intValue": "3"}));
    assert_eq!(payload["ratio"], &json!({"doubleValue": 0.5}));
    let second = self::attributes(&lines[1]["kvlistValue"]["values"]);
    assert_eq!(second["event_type"], &string("order_lookups"));
}
