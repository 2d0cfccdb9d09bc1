//! The OpenTelemetry SDK's environment variables for the resource:
//! `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`, read as the
//! specification says (opentelemetry-specification,
//! `specification/resource/sdk.md`, "Specifying resource information via
//! an environment variable", and `configuration/sdk-environment-variables.md`).

use std::env;

/// The environment variable of `service.name`; it wins over a
/// `service.name` in [`RESOURCE_ATTRIBUTES_ENV`].
pub const SERVICE_NAME_ENV: &str = "OTEL_SERVICE_NAME";

/// The environment variable of resource attributes:
/// `key1=value1,key2=value2`, with `,` and `=` (and any other character)
/// in keys and values percent-encoded.
pub const RESOURCE_ATTRIBUTES_ENV: &str = "OTEL_RESOURCE_ATTRIBUTES";

/// The attributes the environment sets, in order (a later one of the same
/// key wins): those of `OTEL_RESOURCE_ATTRIBUTES`, then `service.name`
/// from `OTEL_SERVICE_NAME`. A variable that cannot be read is left out
/// whole and reported, as the specification asks.
pub(crate) fn attributes() -> Vec<(String, String)> {
    let read = |name: &str| match env::var(name) {
        Ok(value) => Some(value),
        Err(env::VarError::NotPresent) => None,
        Err(env::VarError::NotUnicode(_)) => {
            tracing::warn!(target: "relayer", variable = name, "not UTF-8, ignored");
            None
        }
    };
    from_variables(
        read(RESOURCE_ATTRIBUTES_ENV).as_deref(),
        read(SERVICE_NAME_ENV).as_deref(),
    )
}

/// [`attributes`] from the variables' values.
pub(crate) fn from_variables(
    resource_attributes: Option<&str>,
    service_name: Option<&str>,
) -> Vec<(String, String)> {
    let mut attributes = match resource_attributes.map(parse) {
        Some(Ok(attributes)) => attributes,
        Some(Err(error)) => {
            tracing::warn!(target: "relayer", variable = RESOURCE_ATTRIBUTES_ENV, %error, "ignored");
            Vec::new()
        }
        None => Vec::new(),
    };
    // Set but empty counts as unset, as in the OpenTelemetry SDKs.
    if let Some(name) = service_name.map(str::trim).filter(|name| !name.is_empty()) {
        attributes.push((super::SERVICE_NAME.to_owned(), name.to_owned()));
    }
    attributes
}

/// Parses `key1=value1,key2=value2`: keys and values trimmed of spaces
/// and percent-decoded; empty entries skipped. Any error discards it all.
pub(crate) fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut attributes = Vec::new();
    for entry in text.split(',').filter(|entry| !entry.trim().is_empty()) {
        let (key, value) = entry
            .split_once('=')
            .ok_or_else(|| format!("{entry:?} is not key=value"))?;
        let key = decode(key.trim())?;
        if key.is_empty() {
            return Err(format!("{entry:?} has no key"));
        }
        attributes.push((key, decode(value.trim())?));
    }
    Ok(attributes)
}

/// Percent-decodes `text` strictly: a `%` not followed by two hex digits,
/// or bytes that are not UTF-8 once decoded, are errors (a lenient decoder
/// would keep them as they are).
fn decode(text: &str) -> Result<String, String> {
    let escapes_whole = text.match_indices('%').all(|(at, _)| {
        let digits = text.as_bytes().get(at + 1..at + 3);
        digits.is_some_and(|digits| digits.iter().all(u8::is_ascii_hexdigit))
    });
    if !escapes_whole {
        return Err(format!("{text:?}: `%` is not followed by two hex digits"));
    }
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map(String::from)
        .map_err(|_| format!("{text:?} is not UTF-8 once decoded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(attributes: &[(String, String)]) -> Vec<(&str, &str)> {
        attributes
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
            .collect()
    }

    #[test]
    fn pairs_are_trimmed_and_percent_decoded() {
        let parsed = parse(
            " service.name = checkout ,team=a%2Cb%3Dc, note=caf%C3%A9+1%25,,deployment.environment.name=prod,",
        )
        .unwrap();
        assert_eq!(
            pairs(&parsed),
            [
                ("service.name", "checkout"),
                ("team", "a,b=c"),
                // `+` is not a space: percent-encoding, not form-encoding.
                ("note", "café+1%"),
                ("deployment.environment.name", "prod"),
            ]
        );
        assert_eq!(pairs(&parse("key%3Dx=1").unwrap()), [("key=x", "1")]);
        assert_eq!(pairs(&parse("empty=").unwrap()), [("empty", "")]);
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn one_bad_pair_discards_the_whole_variable() {
        for bad in ["a=1,b", "a=1,=2", "a=%zz", "a=50%", "a=%4", "a=%ff%fe"] {
            assert!(parse(bad).is_err(), "{bad:?} is not valid");
            assert!(
                from_variables(Some(bad), None).is_empty(),
                "{bad:?} is discarded whole"
            );
        }
    }

    #[test]
    fn the_service_name_variable_comes_last_so_it_wins() {
        let attributes = from_variables(
            Some("service.name=from-attributes,service.version=1.2"),
            Some(" from-name "),
        );
        assert_eq!(
            pairs(&attributes),
            [
                ("service.name", "from-attributes"),
                ("service.version", "1.2"),
                ("service.name", "from-name"),
            ]
        );
        // Set but empty is unset.
        assert_eq!(
            pairs(&from_variables(None, Some(""))),
            Vec::<(&str, &str)>::new()
        );
    }
}
