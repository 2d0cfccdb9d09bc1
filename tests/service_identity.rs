//! Who wrote a record: the service identity from the OpenTelemetry SDK's
//! environment variables (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
//! percent-decoded, `OTEL_SERVICE_NAME` winning), the builder winning over
//! both, and the host's name; in each record form. The variables are set
//! on a child process (this test binary again), as a deployment sets them.

use std::collections::BTreeMap;
use std::process::Command;

use relayer::record::{Outcome, RpcDetails};
use relayer::{Relayer, Scope, WireFormat};
use relayer_test::MockProducer;
use serde_json::Value;

const FORMS: [(&str, WireFormat); 4] = [
    ("standard", WireFormat::Standard),
    ("python1", WireFormat::Python1),
    ("ecs", WireFormat::Ecs),
    ("otlp", WireFormat::OtlpJson),
];

/// The child: writes one record per form with a relayer that sets no
/// identity (`env`) and one whose builder does (`builder`), and prints
/// them as `CHILD <relayer> <form> <record>`.
#[test]
fn identity_child() {
    if std::env::var_os("RELAYER_IDENTITY_CHILD").is_none() {
        return;
    }
    for (name, format) in FORMS {
        for label in ["env", "builder"] {
            let mock = MockProducer::new();
            let mut builder = Relayer::builder("logging")
                .producer(mock.clone())
                .wire_format(format);
            if label == "builder" {
                builder = builder
                    .service("from-builder")
                    .service_version("2.0")
                    .resource_attribute("host.name", "builder-host");
            }
            let relayer = builder.build().unwrap();
            Scope::new(&relayer, None).finish(Outcome::Ok, RpcDetails::default());
            let record = String::from_utf8(mock.messages("logging")[0].value.clone()).unwrap();
            eprintln!("CHILD {label} {name} {record}");
        }
    }
}

/// Runs the child with `env` set (and the variables not in it unset), and
/// returns its records by relayer and form.
fn records(env: &[(&str, &str)]) -> BTreeMap<(String, String), Value> {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "identity_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("RELAYER_IDENTITY_CHILD", "1")
        .env_remove("OTEL_SERVICE_NAME")
        .env_remove("OTEL_RESOURCE_ATTRIBUTES");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stderr}");
    let records: BTreeMap<_, _> = stderr
        .lines()
        .filter_map(|line| {
            let mut parts = line.strip_prefix("CHILD ")?.splitn(3, ' ');
            let key = (parts.next()?.to_owned(), parts.next()?.to_owned());
            Some((key, serde_json::from_str(parts.next()?).unwrap()))
        })
        .collect();
    assert_eq!(records.len(), 8, "{stderr}");
    records
}

fn record<'r>(
    records: &'r BTreeMap<(String, String), Value>,
    label: &str,
    form: &str,
) -> &'r Value {
    &records[&(label.to_owned(), form.to_owned())]
}

/// The OTLP record's resource attributes, as strings.
fn otlp_resource(record: &Value) -> BTreeMap<String, String> {
    record["resourceLogs"][0]["resource"]["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|attribute| {
            let value = attribute["value"]["stringValue"].as_str().unwrap();
            (
                attribute["key"].as_str().unwrap().to_owned(),
                value.to_owned(),
            )
        })
        .collect()
}

#[test]
fn the_identity_comes_from_the_environment_and_the_builder_wins() {
    let records = records(&[
        ("OTEL_SERVICE_NAME", "checkout"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.name=ignored, service.version=1.4%2Cbeta ,deployment.environment.name=staging,\
             service.instance.id=pod-7,team=pay%3Dments%20%C3%A9",
        ),
    ]);

    // The environment: OTEL_SERVICE_NAME wins over the attributes'
    // service.name; values are percent-decoded.
    let standard = &record(&records, "env", "standard")["resource"];
    assert_eq!(standard["service.name"], "checkout");
    assert_eq!(standard["service.version"], "1.4,beta");
    assert_eq!(standard["deployment.environment.name"], "staging");
    assert_eq!(standard["team"], "pay=ments é");
    let host = standard["host.name"].as_str().unwrap();
    assert!(!host.is_empty());

    let ecs = record(&records, "env", "ecs");
    assert_eq!(ecs["service"]["name"], "checkout");
    assert_eq!(ecs["service"]["version"], "1.4,beta");
    assert_eq!(ecs["service"]["environment"], "staging");
    assert_eq!(ecs["service"]["node"]["name"], "pod-7");
    assert_eq!(ecs["host"]["name"], host);
    assert_eq!(ecs["labels"]["team"], "pay=ments é");
    assert_eq!(ecs["event"]["dataset"], "checkout");

    let otlp = otlp_resource(record(&records, "env", "otlp"));
    assert_eq!(otlp["service.name"], "checkout");
    assert_eq!(otlp["service.version"], "1.4,beta");
    assert_eq!(otlp["service.instance.id"], "pod-7");
    assert_eq!(otlp["host.name"], host);

    // The builder wins where it sets something; the environment fills the
    // rest.
    let standard = &record(&records, "builder", "standard")["resource"];
    assert_eq!(standard["service.name"], "from-builder");
    assert_eq!(standard["service.version"], "2.0");
    assert_eq!(standard["host.name"], "builder-host");
    assert_eq!(standard["deployment.environment.name"], "staging");
    let otlp = otlp_resource(record(&records, "builder", "otlp"));
    assert_eq!(otlp["service.name"], "from-builder");
    assert_eq!(otlp["deployment.environment.name"], "staging");
    assert_eq!(
        record(&records, "builder", "ecs")["service"]["name"],
        "from-builder"
    );

    // The Python 1.0 form never says.
    for label in ["env", "builder"] {
        assert!(record(&records, label, "python1").get("resource").is_none());
    }
}

#[test]
fn nothing_set_means_no_resource_in_the_standard_form() {
    // A malformed OTEL_RESOURCE_ATTRIBUTES is discarded whole, as the
    // specification asks: nothing is set.
    for env in [
        &[][..],
        &[("OTEL_RESOURCE_ATTRIBUTES", "service.name=x,no-equals")],
    ] {
        let records = records(env);
        let standard = record(&records, "env", "standard");
        assert!(standard.get("resource").is_none(), "{env:?}: {standard}");
        // The others still say who wrote it: the OpenTelemetry SDKs'
        // default name, and the host.
        let otlp = otlp_resource(record(&records, "env", "otlp"));
        assert!(
            otlp["service.name"].starts_with("unknown_service:service_identity"),
            "{otlp:?}"
        );
        assert!(otlp.contains_key("host.name"));
        let ecs = record(&records, "env", "ecs");
        assert!(
            ecs["service"]["name"]
                .as_str()
                .unwrap()
                .starts_with("unknown_service:")
        );
        assert!(
            ecs["event"].get("dataset").is_none(),
            "no name was set: {ecs}"
        );
        // Only what the builder sets.
        let builder = &record(&records, "builder", "standard")["resource"];
        assert_eq!(builder["service.name"], "from-builder");
        assert!(builder.get("deployment.environment.name").is_none());
    }
}
