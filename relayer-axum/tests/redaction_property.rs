//! Body redaction as a property, through the layer: random JSON documents
//! with secrets under keys spelled every way (cases, `_`, `-`, `.`,
//! camelCase), nested in objects, arrays and JSON inside strings, sent in
//! random chunks and captured up to random bounds. No secret ever reaches
//! the record; a document without a secret key, when not cut, is captured
//! byte for byte.
//!
//! The cases come from a seeded generator: the same on every run, another
//! set with `RELAYER_PROPERTY_SEED=<number>`; a failure names its seed and
//! case.

use std::convert::Infallible;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::routing::post;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use relayer::Relayer;
use relayer_axum::{CUT, RelayerLayer};
use relayer_test::MockProducer;
use serde_json::{Map, Value};
use tower::ServiceExt;

const CASES: usize = 3_000;

/// Secret values hold this character, and nothing else generated does: no
/// key, no other value.
const SECRET_MARK: char = '¤';

/// Names with a default stem in them, as words to join.
const SECRET_NAMES: &[&[&str]] = &[
    &["password"],
    &["new", "password"],
    &["passwd"],
    &["access", "token"],
    &["refresh", "token"],
    &["id", "token"],
    &["client", "secret"],
    &["api", "key"],
    &["private", "key"],
    &["session", "id"],
    &["x", "auth", "token"],
    &["csrf"],
    &["card", "number"],
    &["cvv"],
    &["iban"],
    &["x", "amz", "signature"],
    &["credentials"],
    &["jwt"],
    &["bearer"],
    &["oauth", "verifier"],
];

/// Names secret as a word only: never joined without a separator.
const SECRET_WORDS: &[&[&str]] = &[
    &["ssn"],
    &["sig"],
    &["pin"],
    &["user", "ssn"],
    &["connect", "sid"],
];

const PLAIN_NAMES: &[&str] = &[
    "user",
    "items",
    "name",
    "count",
    "data",
    "id",
    "note",
    "list",
    "value",
    "page",
    "email",
    "business_name",
    "className",
    "é",
    "",
];

/// What plain strings are made of: JSON's special characters, escapes,
/// controls, multi-byte characters; no `¤`.
const ALPHABET: &[char] = &[
    'a', 'b', 'y', '0', '9', ' ', '"', '\\', '/', '\n', '\t', '\u{1}', '\u{7f}', '\u{85}',
    '\u{2028}', 'é', '€', '😀', '{', '}', '[', ']', ':', ',',
];

struct Generator {
    rng: StdRng,
    secrets: usize,
}

impl Generator {
    /// A document: an object, sometimes an array of them.
    fn document(&mut self, with_secrets: bool) -> Value {
        if self.rng.random_ratio(1, 5) {
            let len = self.rng.random_range(0..4);
            Value::Array((0..len).map(|_| self.object(with_secrets, 0)).collect())
        } else {
            self.object(with_secrets, 0)
        }
    }

    fn object(&mut self, with_secrets: bool, depth: usize) -> Value {
        let mut object = Map::new();
        for _ in 0..self.rng.random_range(0..6) {
            if with_secrets && self.rng.random_ratio(1, 3) {
                let key = self.secret_name();
                let secret = self.secret(depth);
                object.insert(key, secret);
            } else {
                let key = PLAIN_NAMES[self.rng.random_range(0..PLAIN_NAMES.len())].to_owned();
                let value = self.value(with_secrets, depth + 1);
                object.insert(key, value);
            }
        }
        Value::Object(object)
    }

    fn value(&mut self, with_secrets: bool, depth: usize) -> Value {
        let nested = depth < 4;
        match self.rng.random_range(0..9) {
            0 if nested => self.object(with_secrets, depth),
            1 if nested => {
                let len = self.rng.random_range(0..4);
                Value::Array(
                    (0..len)
                        .map(|_| self.value(with_secrets, depth + 1))
                        .collect(),
                )
            }
            // JSON inside a string, as `JSON.stringify` leaves it.
            2 if nested => {
                let inner = self.object(with_secrets, depth + 1);
                Value::String(if self.rng.random() {
                    inner.to_string()
                } else {
                    serde_json::to_string_pretty(&inner).unwrap()
                })
            }
            3 => Value::from(self.rng.random_range(-1000..1000)),
            4 => Value::Bool(self.rng.random()),
            5 => Value::Null,
            _ => Value::String(self.text()),
        }
    }

    fn text(&mut self) -> String {
        let len = self.rng.random_range(0..12);
        (0..len)
            .map(|_| ALPHABET[self.rng.random_range(0..ALPHABET.len())])
            .collect()
    }

    /// A secret value of any kind, every part of it marked.
    fn secret(&mut self, depth: usize) -> Value {
        self.secrets += 1;
        let mark = format!("{SECRET_MARK}{}{SECRET_MARK}", self.secrets);
        match self.rng.random_range(0..5) {
            0 if depth < 3 => {
                let mut object = Map::new();
                object.insert(
                    "nested".into(),
                    Value::String(format!("{mark}{}", self.text())),
                );
                object.insert("list".into(), Value::Array(vec![Value::String(mark)]));
                Value::Object(object)
            }
            1 => Value::Array(vec![Value::String(mark.clone()), Value::String(mark)]),
            _ => Value::String(format!("{}{mark}{}", self.text(), self.text())),
        }
    }

    /// A secret name, spelled one of the ways clients spell names.
    fn secret_name(&mut self) -> String {
        let word_only = self.rng.random_ratio(1, 4);
        let words = if word_only {
            SECRET_WORDS[self.rng.random_range(0..SECRET_WORDS.len())]
        } else {
            SECRET_NAMES[self.rng.random_range(0..SECRET_NAMES.len())]
        };
        let separators: &[&str] = if word_only {
            &["_", "-", ".", "camel"]
        } else {
            &["_", "-", ".", "", "camel"]
        };
        let separator = separators[self.rng.random_range(0..separators.len())];
        let case = self.rng.random_range(0..3);
        let spelled: Vec<String> = words
            .iter()
            .enumerate()
            .map(|(index, word)| match (separator, case) {
                ("camel", _) if index > 0 => capitalized(word),
                ("camel", _) | (_, 0) => (*word).to_owned(),
                (_, 1) => word.to_uppercase(),
                _ => capitalized(word),
            })
            .collect();
        spelled.join(if separator == "camel" { "" } else { separator })
    }

    /// `bytes` in 1 to 8 chunks, cut anywhere (inside a character too).
    fn chunks(&mut self, bytes: &[u8]) -> Vec<Bytes> {
        let mut cuts: Vec<usize> = (0..self.rng.random_range(0..8))
            .map(|_| self.rng.random_range(0..=bytes.len()))
            .collect();
        cuts.push(0);
        cuts.push(bytes.len());
        cuts.sort_unstable();
        cuts.windows(2)
            .map(|pair| Bytes::copy_from_slice(&bytes[pair[0]..pair[1]]))
            .collect()
    }
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// The record's `request_body` for `chunks` sent with `content_type` to
/// a layer capturing `max_bytes`.
async fn captured(content_type: &str, chunks: Vec<Bytes>, max_bytes: usize) -> Option<String> {
    let mock = MockProducer::new();
    let relayer = Relayer::builder("logging")
        .producer(mock.clone())
        .build()
        .unwrap();
    let app = Router::new()
        .route("/", post(|_body: Bytes| async { "ok" }))
        .layer(RelayerLayer::new(relayer).capture_bodies(max_bytes));
    let body = Body::from_stream(futures_util::stream::iter(
        chunks.into_iter().map(Ok::<_, Infallible>),
    ));
    let request = http::Request::post("/")
        .header("content-type", content_type)
        .body(body)
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let record = mock.json("logging").pop().expect("a record");
    record["request_body"].as_str().map(str::to_owned)
}

/// The JSON text of `document`, compact or pretty.
fn json_text(generator: &mut Generator, document: &Value) -> String {
    if generator.rng.random() {
        document.to_string()
    } else {
        serde_json::to_string_pretty(document).unwrap()
    }
}

#[tokio::test]
async fn no_secret_reaches_the_record_and_other_documents_come_out_whole() {
    let seed = std::env::var("RELAYER_PROPERTY_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(0x5eed_2025_u64);
    let mut generator = Generator {
        rng: StdRng::seed_from_u64(seed),
        secrets: 0,
    };
    let (mut cut, mut whole) = (0, 0);
    for case in 0..CASES {
        let with_secrets = generator.rng.random_ratio(2, 3);
        let document = generator.document(with_secrets);
        let text = json_text(&mut generator, &document);
        let content_type = [
            "application/json",
            "text/plain;charset=UTF-8",
            "application/problem+json",
        ][generator.rng.random_range(0..3)];
        // As written in the record, a byte takes at most six.
        let fits = 6 * text.len() + 16;
        let max_bytes = if generator.rng.random_ratio(1, 2) {
            fits
        } else {
            generator.rng.random_range(0..text.len().max(1))
        };
        let chunks = generator.chunks(text.as_bytes());
        let context = format!("seed {seed}, case {case}: {text}");
        let captured = captured(content_type, chunks, max_bytes).await;
        let Some(captured) = captured else {
            assert!(
                text.is_empty() || max_bytes == 0 && text.is_empty(),
                "{context}"
            );
            continue;
        };
        assert!(
            !captured.contains(SECRET_MARK),
            "a secret in {captured:?}\n{context}"
        );
        if captured.ends_with(CUT) {
            cut += 1;
        } else if !with_secrets || !text.contains(SECRET_MARK) {
            whole += 1;
            assert_eq!(captured, text, "{context}");
        } else {
            // Redacted, not cut: still the same JSON but for the secrets.
            let parsed: Value = serde_json::from_str(&captured)
                .unwrap_or_else(|error| panic!("{error}: {captured:?}\n{context}"));
            assert!(parsed.is_object() || parsed.is_array(), "{context}");
        }
    }
    // The generator covers both sides.
    assert!(
        cut > CASES / 5 && whole > CASES / 10,
        "{cut} cut, {whole} whole"
    );
    assert!(
        generator.secrets > CASES / 2,
        "{} secrets",
        generator.secrets
    );
}
