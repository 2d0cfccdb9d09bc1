//! The cost of the rule for secret names on the request path: masking a
//! typical query string (five parameters, one secret), against the rule it
//! replaced (a list of exact names compared ignoring case, reimplemented
//! here as the baseline), in the same run.
//!
//! `cargo bench --bench redaction`

use std::borrow::Cow;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use percent_encoding::percent_decode_str;
use relayer::SecretNames;

const QUERY: &str = "page=2&sort=desc&q=red+shoes&access_token=s3cret&lang=en";
const PLAIN_QUERY: &str = "page=2&sort=desc&q=red+shoes&size=42&lang=en";

/// The former rule: exact names, percent-decoded, compared ignoring case.
fn exact_names_query<'q>(names: &[&str], query: &'q str) -> Cow<'q, str> {
    let hides = |name: &str| {
        let spaced: Cow<'_, str> = if name.contains('+') {
            Cow::Owned(name.replace('+', " "))
        } else {
            Cow::Borrowed(name)
        };
        let name = percent_decode_str(&spaced).decode_utf8_lossy();
        names
            .iter()
            .any(|hidden| hidden.eq_ignore_ascii_case(&name))
    };
    let pair_hidden = |pair: &str| pair.split_once('=').is_some_and(|(name, _)| hides(name));
    if !query.split('&').any(pair_hidden) {
        return Cow::Borrowed(query);
    }
    let mut masked = String::with_capacity(query.len());
    for (index, pair) in query.split('&').enumerate() {
        if index > 0 {
            masked.push('&');
        }
        match pair.split_once('=') {
            Some((name, _)) if hides(name) => {
                masked.push_str(name);
                masked.push_str("=[redacted]");
            }
            _ => masked.push_str(pair),
        }
    }
    Cow::Owned(masked)
}

fn query(c: &mut Criterion) {
    let names = SecretNames::default();
    let exact = ["access_token"];
    let mut group = c.benchmark_group("query");
    for (label, query) in [("one secret", QUERY), ("no secret", PLAIN_QUERY)] {
        group.bench_function(format!("exact names, {label}"), |b| {
            b.iter(|| exact_names_query(&exact, black_box(query)).len());
        });
        group.bench_function(format!("secret-name rule, {label}"), |b| {
            b.iter(|| names.query(black_box(query)).len());
        });
    }
    group.finish();
}

fn names(c: &mut Criterion) {
    let names = SecretNames::default();
    let mut group = c.benchmark_group("one name");
    for name in [
        "page",
        "access_token",
        "X-Amz-Security-Token",
        "business_name",
    ] {
        group.bench_function(name, |b| b.iter(|| names.is_secret(black_box(name))));
    }
    group.finish();
}

criterion_group!(benches, query, names);
criterion_main!(benches);
