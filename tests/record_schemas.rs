//! The JSON Schemas of the record forms (`schema/*.schema.json`) hold for
//! every kind of record relayer writes in them, and refuse what the form
//! does not write. `every_record_the_tests_produced_matches_its_schema`
//! checks every record of a whole test run, collected with
//! `RELAYER_TEST_RECORDS` (see `.ci/run`).

use std::path::Path;

use jsonschema::Validator;
use rdkafka::Timestamp as KafkaTimestamp;
use rdkafka::message::OwnedMessage;
use relayer::message::MessageScope;
use relayer::record::{HttpDetails, Outcome, RpcDetails};
use relayer::{Relayer, Scope, WireFormat};
use relayer_test::MockProducer;
use serde_json::{Value, json};

/// The forms that have a JSON Schema.
const FORMS: [WireFormat; 3] = [WireFormat::Standard, WireFormat::Python1, WireFormat::Ecs];

fn validator(format: WireFormat) -> Validator {
    let schema: Value = serde_json::from_str(format.json_schema().unwrap()).unwrap();
    jsonschema::meta::validate(&schema)
        .unwrap_or_else(|error| panic!("{format:?}'s schema is not a JSON Schema: {error}"));
    jsonschema::validator_for(&schema).unwrap()
}

/// Panics with every error when `record` does not match `format`'s schema.
fn check(validator: &Validator, format: WireFormat, record: &Value) {
    let errors: Vec<String> = validator
        .iter_errors(record)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{format:?}: {errors:#?}\n{record}");
}

/// Which form a record is in, by its shape; `None` for what is not a
/// record (events, raw events).
fn form_of(value: &Value) -> Option<WireFormat> {
    if value.get("resourceLogs").is_some() {
        return Some(WireFormat::OtlpJson);
    }
    if value.get("ecs.version").is_some() {
        return Some(WireFormat::Ecs);
    }
    let date = value.get("date")?.as_str()?;
    value.get("lines")?.as_array()?;
    Some(if date.ends_with('Z') {
        WireFormat::Standard
    } else {
        WireFormat::Python1
    })
}

/// Every kind of record, in `format`: an HTTP request, an RPC call that
/// failed, a consumed message, a scope dropped unfinished, lines dropped
/// for size, and a record too large for its own fields.
fn every_kind(format: WireFormat) -> Vec<Value> {
    let mock = MockProducer::new();
    let relayer = |max: usize| {
        Relayer::builder("logging")
            .producer(mock.clone())
            .wire_format(format)
            .max_message_bytes(max)
            .field("region", "eu-1")
            .build()
            .unwrap()
    };
    let big = relayer(1_000_000);

    let scope = Scope::new(&big, Some("http-1".into()));
    scope.relayer().info(&json!({"step": 1})).unwrap();
    scope
        .relayer()
        .emit("orders", "created", &json!({"id": 7}))
        .unwrap();
    scope.finish(
        Outcome::Panicked,
        HttpDetails {
            method: "PURGE",
            path: "/caf%C3%A9",
            query_string: None,
            user_agent: Some("curl/8"),
            remote_addr: Some("203.0.113.9"),
            x_forwarded_for: Some("203.0.113.9"),
            status: 500,
            content_length: 0,
            request_bytes: 12,
            request_time: 3.5,
            headers: [("x-tenant", "acme")].into(),
            route: Some("/{name}"),
            grpc_status: Some(13),
            grpc_message: Some("boom"),
            request_body: Some("{\"a\":1}"),
            response_body: Some("oops"),
            scheme: Some("https"),
            server_address: Some("shop.example"),
            server_port: Some(8443),
            protocol_version: Some("2"),
            error: Some("index out of bounds"),
        },
    );
    let scope = Scope::new(&big, None);
    scope.relayer().warning("card declined").unwrap();
    scope.finish(
        Outcome::Error,
        RpcDetails {
            service: "Greeter::say_hello",
            service_time: 1.25,
            error: Some("no greeting today"),
        },
    );
    let message = OwnedMessage::new(
        Some(b"{}".to_vec()),
        Some(b"order-7".to_vec()),
        "orders".into(),
        KafkaTimestamp::NotAvailable,
        3,
        42,
        None,
    );
    let scope = MessageScope::new(&big, &message);
    scope.finish_result(&Ok::<(), String>(()));
    drop(Scope::new(&big, None));

    let small = relayer(1500);
    let scope = Scope::new(&small, None);
    for n in 0..40 {
        scope.relayer().info(&json!({ "n": n })).unwrap();
    }
    scope.finish(Outcome::Ok, RpcDetails::default());
    let scope = Scope::new(&small, None);
    scope.relayer().field("blob", &"x".repeat(2000)).unwrap();
    scope.finish(
        Outcome::Ok,
        RpcDetails {
            service: &"s".repeat(2000),
            ..RpcDetails::default()
        },
    );

    let records = mock.json("logging");
    assert_eq!(records.len(), 6, "{records:#?}");
    records
}

#[test]
fn every_kind_of_record_matches_its_forms_schema() {
    for format in FORMS {
        let validator = validator(format);
        for record in every_kind(format) {
            assert_eq!(form_of(&record), Some(format), "{record}");
            check(&validator, format, &record);
        }
    }
}

#[test]
fn a_schema_refuses_what_its_form_does_not_write() {
    let standard = validator(WireFormat::Standard);
    let python = validator(WireFormat::Python1);
    let ecs = validator(WireFormat::Ecs);
    let records = every_kind(WireFormat::Standard);
    // The forms' schemas tell them apart.
    assert!(!python.is_valid(&records[0]));
    assert!(!ecs.is_valid(&records[0]));
    assert!(!standard.is_valid(&every_kind(WireFormat::Python1)[0]));

    let mut unknown = records[1].clone();
    unknown["surprise"] = json!(1);
    assert!(
        !standard.is_valid(&unknown),
        "a field the form does not write"
    );
    let mut wrong_type = records[0].clone();
    wrong_type["status"] = json!("500");
    assert!(!standard.is_valid(&wrong_type));
    let mut ecs_record = every_kind(WireFormat::Ecs).remove(0);
    ecs_record["http"]["response"]["status"] = json!(500);
    assert!(!ecs.is_valid(&ecs_record), "not an ECS field");
}

/// `RELAYER_TEST_RECORDS`, after a test run that collected its records:
/// every record of the JSON forms matches its schema, and there are
/// records of every form.
#[test]
#[ignore = "checks the records of a whole test run: .ci/run runs it after `cargo test --workspace`"]
fn every_record_the_tests_produced_matches_its_schema() {
    let Some(dir) = std::env::var_os(relayer_test::RECORDS_ENV) else {
        panic!(
            "{} is not set: no records to check",
            relayer_test::RECORDS_ENV
        );
    };
    let validators: Vec<(WireFormat, Validator)> = FORMS
        .into_iter()
        .map(|format| (format, validator(format)))
        .collect();
    let mut counts = [0; 4];
    for entry in std::fs::read_dir(Path::new(&dir)).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in text.lines() {
            let Ok(value) = serde_json::from_str::<Value>(line) else {
                continue; // not JSON: a raw event
            };
            let Some(format) = form_of(&value) else {
                continue; // an event
            };
            let index = [FORMS.as_slice(), &[WireFormat::OtlpJson]]
                .concat()
                .iter()
                .position(|f| *f == format)
                .unwrap();
            counts[index] += 1;
            if let Some((_, validator)) = validators.iter().find(|(f, _)| *f == format) {
                check(validator, format, &value);
            }
        }
    }
    println!(
        "records checked: standard {}, python1 {}, ecs {} (otlp {}, checked by .ci/otlp_check.py)",
        counts[0], counts[1], counts[2], counts[3]
    );
    assert!(
        counts.iter().all(|count| *count > 0),
        "records of every form: {counts:?}"
    );
}
