//! The guide: relayer topic by topic, from a first service to running it
//! in production.
//!
//! Each page is a Markdown file of the repository's `docs/` folder, which
//! reads the same on GitHub; here its examples are compiled, and run
//! where they need no broker, as the crate's doc tests.
//!
//! Writing a service:
//! - [Events, log lines and the request's relayer](events_and_lines)
//! - [HTTP services: the layer and the record](http_record)
//! - [RPC handlers: `#[relayed]`](rpc)
//! - [`tracing` integration](tracing)
//! - [Wide events: fields and tail sampling](wide_events)
//! - [One request across services: trace context](trace_context)
//! - [Secrets and client input](secrets)
//! - [Testing your service: `relayer-test`](testing)
//!
//! Running it:
//! - [Configuration](configuration)
//! - [Sinks: Kafka, standard output, files, several at once](sinks)
//! - [Wire formats and migration from the Python relayer](wire_formats)
//! - [Operations: delivery, faults, accounting, shutdown](operations)
//! - [Performance](performance)

/// One documentation-only module per page of `docs/`.
///
/// A page links to another with a reference link (`[text][operations]`)
/// defined at its foot by the Markdown file's name (`[operations]:
/// operations.md`), which GitHub and a clone follow. Here every page is
/// preceded by a definition of each label as an intra-doc link
/// (`[operations]: crate::guide::operations`); the first definition of a
/// label wins (CommonMark), so rustdoc links the modules and `cargo doc`
/// checks the links.
macro_rules! pages {
    ($($page:ident = $file:literal,)*) => {
        pages!(@each [$($page = $file),*] $($page = $file),*);
    };
    (@each $all:tt $($page:ident = $file:literal),*) => {
        $(
            #[doc = pages!(@links $all)]
            #[doc = include_str!(concat!("../docs/", $file, ".md"))]
            pub mod $page {}
        )*
    };
    (@links [$($page:ident = $file:literal),*]) => {
        concat!($("[", $file, "]: crate::guide::", stringify!($page), "\n"),*)
    };
}

pages! {
    events_and_lines = "events-and-lines",
    http_record = "http-record",
    rpc = "rpc",
    tracing = "tracing",
    wide_events = "wide-events",
    trace_context = "trace-context",
    secrets = "secrets",
    testing = "testing",
    configuration = "configuration",
    sinks = "sinks",
    wire_formats = "wire-formats",
    operations = "operations",
    performance = "performance",
}
