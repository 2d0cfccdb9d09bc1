//! `RELAYER_SINK`: the sinks chosen by configuration, when the code chose
//! none.

use super::{Format, Sink};
use crate::{Error, Result};

/// The environment variable read for the sinks when the code gives none:
/// `kafka`, `stdout`, `stderr` or `file:PATH`, comma-separated for several
/// (e.g. `kafka,stdout`). `stdout` and `stderr` take `:json` or `:pretty`
/// to choose the [`Format`] (by default, pretty on a terminal).
pub const SINK_ENV: &str = "RELAYER_SINK";

const EXPECTED: &str =
    "expected kafka, stdout, stderr (each optionally :json or :pretty) or file:PATH";

/// Reads a comma-separated list of sinks; `origin` names where it came
/// from in the errors.
pub(crate) fn parse(list: &str, origin: &str) -> Result<Vec<Sink>> {
    let parts: Vec<&str> = list.split(',').collect();
    let mut sinks: Vec<Sink> = Vec::with_capacity(parts.len());
    for (index, part) in parts.iter().enumerate() {
        let error = |why: &str| {
            Error::Config(format!(
                "{origin}: cannot read {part:?} (part {} of {list:?}): {why}",
                index + 1
            ))
        };
        let sink = one(part.trim()).map_err(error)?;
        if sinks.iter().any(|known| known.name() == sink.name()) {
            return Err(error("given twice"));
        }
        sinks.push(sink);
    }
    Ok(sinks)
}

/// One sink of the list, or why not.
fn one(part: &str) -> Result<Sink, &'static str> {
    let (kind, argument) = match part.split_once(':') {
        Some((kind, argument)) => (kind, Some(argument)),
        None => (part, None),
    };
    let format = |argument: Option<&str>| match argument {
        None => Ok(Format::Auto),
        Some("json") => Ok(Format::Json),
        Some("pretty") => Ok(Format::Pretty),
        Some(_) => Err("the format is json or pretty"),
    };
    match kind {
        "kafka" if argument.is_none() => Ok(Sink::kafka()),
        "kafka" => Err("kafka takes no argument (brokers come from KAFKA_BROKERS)"),
        "stdout" => Ok(Sink::stdout().format(format(argument)?)),
        "stderr" => Ok(Sink::stderr().format(format(argument)?)),
        "file" => match argument {
            Some(path) if !path.trim().is_empty() => Ok(Sink::file(path)),
            _ => Err("file needs a path: file:PATH"),
        },
        _ => Err(EXPECTED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &str) -> Vec<String> {
        parse(list, SINK_ENV)
            .unwrap()
            .iter()
            .map(|sink| sink.name().into_owned())
            .collect()
    }

    fn error(list: &str) -> String {
        match parse(list, SINK_ENV) {
            Err(Error::Config(message)) => message,
            other => panic!("{list:?}: {:?}", other.map(|sinks| sinks.len())),
        }
    }

    #[test]
    fn one_or_several_sinks() {
        assert_eq!(names("kafka"), ["kafka"]);
        assert_eq!(names("kafka, stdout"), ["kafka", "stdout"]);
        assert_eq!(
            names("stderr:json,file:/var/log/a:b.jsonl"),
            ["stderr", "file:/var/log/a:b.jsonl"]
        );
        assert_eq!(names("stdout:pretty"), ["stdout"]);
    }

    #[test]
    fn each_malformed_part_is_named() {
        for (list, part, why) in [
            ("kafak", "\"kafka\"", ""),
            ("", "\"\"", "expected kafka"),
            ("kafka,", "\"\" (part 2 of \"kafka,\")", "expected kafka"),
            ("kafka,,stdout", "\"\" (part 2", "expected"),
            ("stdout,stdout", "\"stdout\" (part 2", "given twice"),
            ("file:", "\"file:\"", "needs a path"),
            ("file", "\"file\"", "needs a path"),
            ("stdout:yaml", "\"stdout:yaml\"", "json or pretty"),
            (
                "kafka:localhost:9092",
                "\"kafka:localhost:9092\"",
                "no argument",
            ),
            ("Stdout", "\"Stdout\"", "expected"),
        ] {
            let message = error(list);
            let part = if part == "\"kafka\"" {
                "\"kafak\""
            } else {
                part
            };
            assert!(
                message.starts_with("RELAYER_SINK: cannot read "),
                "{list:?}: {message}"
            );
            assert!(message.contains(part), "{list:?}: {message}");
            assert!(message.contains(why), "{list:?}: {message}");
        }
    }
}
