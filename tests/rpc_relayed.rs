//! `#[relayed]` on every supported function shape, its outcomes, nesting and
//! isolation, on the MockProducer with `#[relayed(with = ...)]`. The
//! installed-relayer path has its own test binaries (`rpc_global.rs`,
//! `rpc_no_relayer.rs`): the installed relayer is process-wide.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use relayer::{Relayer, Scope, relayed};
use relayer_test::MockProducer;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

fn relayer_with(mock: &MockProducer) -> Relayer {
    Relayer::builder("logging")
        .producer(mock.clone())
        .build()
        .expect("a producer is enough configuration")
}

fn setup() -> (MockProducer, Relayer) {
    let mock = MockProducer::new();
    let relayer = relayer_with(&mock);
    (mock, relayer)
}

/// The one record on the logging topic.
fn only_record(mock: &MockProducer) -> Value {
    let records = mock.json("logging");
    assert_eq!(records.len(), 1, "exactly one record: {records:#?}");
    records.into_iter().next().unwrap()
}

fn payloads(record: &Value) -> Vec<Value> {
    record["lines"]
        .as_array()
        .expect("lines is an array")
        .iter()
        .map(|line| line["payload"].clone())
        .collect()
}

/// Code deep in the call stack that knows nothing of the call: it reaches
/// the relayer through `Relayer::current()` (Python's `decorator.instance`).
fn third_party_code() {
    if let Some(relayer) = Relayer::current() {
        relayer.info("from third-party code").unwrap();
    }
}

// ---------------------------------------------------------------------------
// Parity with the Python `@rpc_relayer` tests

#[relayed(with = base)]
fn echo(base: &Relayer, input: Value, relayer: Relayer) -> Value {
    relayer.emit("echoed", "v1", &input).unwrap();
    input
}

#[test]
fn input_and_output_are_unchanged() {
    let (_mock, relayer) = setup();
    let input = json!({"name": "ada", "tags": [1, 2, 3]});
    assert_eq!(echo(&relayer, input.clone()), input);
}

#[test]
fn the_emitted_event_goes_out_and_into_the_record() {
    let (mock, relayer) = setup();
    echo(&relayer, json!({"id": 7}));

    let events = mock.json("echoed");
    assert_eq!(events.len(), 1);
    let record = only_record(&mock);
    assert_eq!(events[0]["payload"], json!({"id": 7}));
    assert_eq!(events[0]["request_id"], record["request_id"]);
    assert_eq!(
        record["lines"][0], events[0],
        "the record keeps the envelope"
    );
}

#[test]
fn the_record_has_the_rpc_fields() {
    let (mock, relayer) = setup();
    echo(&relayer, json!(1));

    let record = only_record(&mock);
    let mut fields: Vec<&str> = record
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "date",
            "error",
            "lines",
            "logging_topic",
            "outcome",
            "request_id",
            "service",
            "service_time",
            "source",
            "span_id",
            "trace_id"
        ]
    );
    assert_eq!(record["source"], "logging");
    assert_eq!(record["logging_topic"], "logging");
    assert_eq!(record["service"], "echo");
    assert_eq!(record["outcome"], "ok");
    assert_eq!(record["error"], Value::Null);
    assert!(record["service_time"].as_f64().unwrap() >= 0.0);
    let date = record["date"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(date).is_ok() && date.ends_with('Z'));
    uuid::Uuid::parse_str(record["request_id"].as_str().unwrap()).expect("a UUID");
}

#[relayed(with = relayer)]
fn calls_third_party_code(relayer: &Relayer) {
    third_party_code();
}

#[test]
fn third_party_code_logs_one_line_into_the_call() {
    let (mock, relayer) = setup();
    calls_third_party_code(&relayer);
    assert_eq!(
        payloads(&only_record(&mock)),
        [json!("from third-party code")]
    );
}

#[test]
fn third_party_code_logs_nothing_outside_a_call() {
    let (mock, _relayer) = setup();
    third_party_code();
    assert!(mock.topics().is_empty(), "{:?}", mock.topics());
}

// ---------------------------------------------------------------------------
// Shapes

#[relayed(with = relayer)]
async fn free_async(relayer: &Relayer, n: u32) -> u32 {
    tokio::task::yield_now().await;
    third_party_code();
    n + 1
}

#[tokio::test]
async fn free_async_fn() {
    let (mock, relayer) = setup();
    assert_eq!(free_async(&relayer, 1).await, 2);
    let record = only_record(&mock);
    assert_eq!(record["service"], "free_async");
    assert_eq!(payloads(&record), [json!("from third-party code")]);
}

struct Counter {
    relayer: Relayer,
    count: u32,
}

impl Counter {
    #[relayed(with = self.relayer)]
    fn get(&self) -> u32 {
        third_party_code();
        self.count
    }

    #[relayed(with = self.relayer)]
    fn bump(&mut self, by: u32) -> &mut u32 {
        self.count += by;
        &mut self.count
    }

    // An owned relayer expression, on purpose.
    #[allow(clippy::redundant_clone)]
    #[relayed(with = self.relayer.clone())]
    fn into_count(self) -> u32 {
        self.count
    }

    #[relayed(with = &self.relayer)]
    async fn get_async(&self, relayer: Relayer) -> u32 {
        relayer.info("async &self").unwrap();
        self.count
    }

    #[relayed(with = self.relayer)]
    async fn bump_async(&mut self) -> u32 {
        tokio::task::yield_now().await;
        self.count += 1;
        self.count
    }

    #[relayed(with = self.relayer.clone())]
    async fn into_count_async(self) -> u32 {
        tokio::task::yield_now().await;
        self.count
    }

    /// An associated function whose signature names `Self`.
    #[relayed(with = relayer)]
    fn new(relayer: &Relayer) -> Self {
        Self {
            relayer: relayer.clone(),
            count: 0,
        }
    }
}

#[tokio::test]
async fn methods_with_every_receiver() {
    let (mock, relayer) = setup();
    let mut counter = Counter::new(&relayer);
    assert_eq!(counter.get(), 0);
    *counter.bump(2) += 1;
    assert_eq!(counter.get_async().await, 3);
    assert_eq!(counter.bump_async().await, 4);
    let counter2 = Counter::new(&relayer);
    assert_eq!(counter2.into_count_async().await, 0);
    assert_eq!(counter.into_count(), 4);

    let services: Vec<Value> = mock
        .json("logging")
        .iter()
        .map(|r| r["service"].clone())
        .collect();
    assert_eq!(
        services,
        [
            "Counter::new",
            "Counter::get",
            "Counter::bump",
            "Counter::get_async",
            "Counter::bump_async",
            "Counter::new",
            "Counter::into_count_async",
            "Counter::into_count",
        ]
    );
    let records = mock.json("logging");
    assert_eq!(payloads(&records[1]), [json!("from third-party code")]);
    assert_eq!(payloads(&records[3]), [json!("async &self")]);
}

#[relayed(with = base)]
fn generic<T: serde::Serialize + Clone, const N: usize>(
    base: &Relayer,
    items: [T; N],
    relayer: Relayer,
) -> Vec<T> {
    relayer.info(&items[..]).unwrap();
    items.to_vec()
}

#[relayed(with = base)]
async fn impl_trait_args(
    base: &Relayer,
    label: impl fmt::Display + Send,
    numbers: impl IntoIterator<Item = u32>,
    relayer: Relayer,
) -> String {
    tokio::task::yield_now().await;
    let sum: u32 = numbers.into_iter().sum();
    relayer.info(&format!("{label}: {sum}")).unwrap();
    format!("{label}={sum}")
}

#[relayed(with = relayer)]
fn returns_impl_trait(relayer: &Relayer, n: u32) -> impl Iterator<Item = u32> {
    if n == 0 {
        return Vec::new().into_iter();
    }
    (0..n).collect::<Vec<_>>().into_iter()
}

#[tokio::test]
async fn generic_fns_and_impl_trait() {
    let (mock, relayer) = setup();
    assert_eq!(generic(&relayer, ["a", "b"]), ["a", "b"]);
    assert_eq!(impl_trait_args(&relayer, "sum", [1, 2, 3]).await, "sum=6");
    assert_eq!(returns_impl_trait(&relayer, 3).sum::<u32>(), 3);
    assert_eq!(returns_impl_trait(&relayer, 0).count(), 0);

    let records = mock.json("logging");
    assert_eq!(records.len(), 4);
    assert_eq!(records[0]["service"], "generic");
    assert_eq!(payloads(&records[0]), [json!(["a", "b"])]);
    assert_eq!(records[1]["service"], "impl_trait_args");
    assert_eq!(payloads(&records[1]), [json!("sum: 6")]);
    assert_eq!(records[2]["service"], "returns_impl_trait");
}

struct Wrapper<T>(T, Relayer);

impl<T: fmt::Debug> Wrapper<T> {
    #[relayed(with = self.1)]
    fn show(&self) -> String {
        format!("{:?}", self.0)
    }
}

#[test]
fn methods_of_generic_types_are_named_without_generics() {
    let (mock, relayer) = setup();
    assert_eq!(Wrapper(vec![1], relayer).show(), "[1]");
    assert_eq!(only_record(&mock)["service"], "Wrapper::show");
}

// tonic's style: the service trait is an `#[async_trait]` trait.
#[async_trait::async_trait]
trait Greeter: Send + Sync + 'static {
    async fn say_hello(&self, name: String) -> Result<String, GreetError>;
    async fn say_goodbye(&self, name: String) -> String;
}

#[derive(Debug)]
struct GreetError(&'static str);

impl fmt::Display for GreetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot greet: {}", self.0)
    }
}

struct MyGreeter {
    relayer: Relayer,
}

#[async_trait::async_trait]
impl Greeter for MyGreeter {
    #[relayed(with = self.relayer)]
    async fn say_hello(&self, name: String, relayer: Relayer) -> Result<String, GreetError> {
        if name.is_empty() {
            return Err(GreetError("no name"));
        }
        tokio::task::yield_now().await;
        relayer.emit("greeting", "sent", &name).unwrap();
        third_party_code();
        Ok(format!("Hello, {name}!"))
    }

    #[relayed(with = self.relayer, name = "Greeter.SayGoodbye")]
    async fn say_goodbye(&self, name: String) -> String {
        format!("Goodbye, {name}!")
    }
}

#[tokio::test]
async fn async_trait_methods() {
    let (mock, relayer) = setup();
    let greeter: Arc<dyn Greeter> = Arc::new(MyGreeter { relayer });
    assert_eq!(
        greeter.say_hello("Ada".into()).await.unwrap(),
        "Hello, Ada!"
    );
    assert_eq!(greeter.say_goodbye("Ada".into()).await, "Goodbye, Ada!");
    assert!(greeter.say_hello(String::new()).await.is_err());

    let records = mock.json("logging");
    assert_eq!(records.len(), 3);
    assert_eq!(records[0]["service"], "MyGreeter::say_hello");
    assert_eq!(records[0]["outcome"], "ok");
    assert_eq!(
        payloads(&records[0]),
        [json!("Ada"), json!("from third-party code")]
    );
    assert_eq!(
        mock.json("greeting")[0]["request_id"],
        records[0]["request_id"]
    );
    assert_eq!(records[1]["service"], "Greeter.SayGoodbye");
    assert_eq!(records[2]["outcome"], "error");
    assert_eq!(records[2]["error"], "cannot greet: no name");
}

/// The same with `#[relayed]` on the outside of another attribute macro:
/// `#[tracing::instrument]` in both orders.
struct Instrumented {
    relayer: Relayer,
}

#[async_trait::async_trait]
impl Greeter for Instrumented {
    #[relayed(with = self.relayer)]
    #[tracing::instrument(skip(self))]
    async fn say_hello(&self, name: String) -> Result<String, GreetError> {
        third_party_code();
        Ok(name)
    }

    #[tracing::instrument(skip(self, relayer))]
    #[relayed(with = self.relayer)]
    async fn say_goodbye(&self, name: String, relayer: Relayer) -> String {
        relayer.info("bye").unwrap();
        name
    }
}

#[tokio::test]
async fn together_with_tracing_instrument_in_either_order() {
    let (mock, relayer) = setup();
    let greeter = Instrumented { relayer };
    assert_eq!(greeter.say_hello("a".into()).await.unwrap(), "a");
    assert_eq!(greeter.say_goodbye("b".into()).await, "b");
    let records = mock.json("logging");
    assert_eq!(records.len(), 2);
    assert_eq!(payloads(&records[0]), [json!("from third-party code")]);
    assert_eq!(payloads(&records[1]), [json!("bye")]);
}

/// `#[relayed]` on the whole impl block, before or after `#[async_trait]`:
/// every method is relayed; a method's own `#[relayed]` wins.
struct ImplFirst {
    relayer: Relayer,
}

#[relayed(with = self.relayer)]
#[async_trait::async_trait]
impl Greeter for ImplFirst {
    async fn say_hello(&self, name: String, relayer: Relayer) -> Result<String, GreetError> {
        relayer.info("impl first").unwrap();
        Ok(name)
    }

    #[relayed(with = self.relayer, name = "ImplFirst.Bye")]
    async fn say_goodbye(&self, name: String) -> String {
        third_party_code();
        name
    }
}

struct AsyncTraitFirst {
    relayer: Relayer,
}

#[async_trait::async_trait]
#[relayed(with = self.relayer)]
impl Greeter for AsyncTraitFirst {
    async fn say_hello(&self, _name: String, relayer: Relayer) -> Result<String, GreetError> {
        relayer.info("async_trait first").unwrap();
        Err(GreetError("refused"))
    }

    async fn say_goodbye(&self, name: String) -> String {
        third_party_code();
        name
    }
}

#[tokio::test]
async fn relayed_impl_blocks_in_either_order_with_async_trait() {
    let (mock, relayer) = setup();
    let first = ImplFirst {
        relayer: relayer.clone(),
    };
    assert_eq!(first.say_hello("a".into()).await.unwrap(), "a");
    assert_eq!(first.say_goodbye("b".into()).await, "b");
    let second = AsyncTraitFirst { relayer };
    assert!(second.say_hello("c".into()).await.is_err());
    assert_eq!(second.say_goodbye("d".into()).await, "d");

    let records = mock.json("logging");
    let summary: Vec<(Value, Value, Vec<Value>)> = records
        .iter()
        .map(|r| (r["service"].clone(), r["outcome"].clone(), payloads(r)))
        .collect();
    let third_party = || vec![json!("from third-party code")];
    assert_eq!(
        summary,
        [
            (
                json!("ImplFirst::say_hello"),
                json!("ok"),
                vec![json!("impl first")]
            ),
            (json!("ImplFirst.Bye"), json!("ok"), third_party()),
            (
                json!("AsyncTraitFirst::say_hello"),
                json!("error"),
                vec![json!("async_trait first")]
            ),
            (
                json!("AsyncTraitFirst::say_goodbye"),
                json!("ok"),
                third_party()
            ),
        ]
    );
}

/// A default method of a trait: `Self` is the implementing type.
trait Described {
    fn relayer(&self) -> &Relayer;

    #[relayed(with = self.relayer())]
    fn describe(&self) -> String {
        third_party_code();
        "described".to_owned()
    }
}

impl Described for MyGreeter {
    fn relayer(&self) -> &Relayer {
        &self.relayer
    }
}

#[test]
fn default_methods_of_traits() {
    let (mock, relayer) = setup();
    assert_eq!(MyGreeter { relayer }.describe(), "described");
    let record = only_record(&mock);
    assert_eq!(record["service"], "MyGreeter::describe");
    assert_eq!(payloads(&record), [json!("from third-party code")]);
}

// Native `async fn` in traits.
trait Store {
    async fn put(&mut self, key: &str, value: u32) -> Result<(), String>;
    fn get(&self, key: &str) -> Option<u32>;
}

struct MemoryStore {
    relayer: Relayer,
    entries: Vec<(String, u32)>,
}

impl Store for MemoryStore {
    #[relayed(with = self.relayer.clone())]
    async fn put(&mut self, key: &str, value: u32, relayer: Relayer) -> Result<(), String> {
        tokio::task::yield_now().await;
        if key.is_empty() {
            Err("empty key".to_owned())?;
        }
        relayer.info(&json!({ "put": key })).unwrap();
        self.entries.push((key.to_owned(), value));
        Ok(())
    }

    #[relayed(with = self.relayer)]
    fn get(&self, key: &str) -> Option<u32> {
        let found = self.entries.iter().find(|(k, _)| k == key)?;
        Some(found.1)
    }
}

#[tokio::test]
async fn native_async_fn_in_trait_impls() {
    let (mock, relayer) = setup();
    let mut store = MemoryStore {
        relayer,
        entries: Vec::new(),
    };
    store.put("a", 1).await.unwrap();
    assert_eq!(store.put("", 2).await, Err("empty key".to_owned()));
    assert_eq!(store.get("a"), Some(1));
    assert_eq!(store.get("b"), None);

    let records = mock.json("logging");
    let summary: Vec<(Value, Value, Value)> = records
        .iter()
        .map(|r| {
            (
                r["service"].clone(),
                r["outcome"].clone(),
                r["error"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (json!("MemoryStore::put"), json!("ok"), Value::Null),
            (
                json!("MemoryStore::put"),
                json!("error"),
                json!("empty key")
            ),
            (json!("MemoryStore::get"), json!("ok"), Value::Null),
            (json!("MemoryStore::get"), json!("ok"), Value::Null),
        ]
    );
    assert_eq!(payloads(&records[0]), [json!({"put": "a"})]);
}

// A plain `fn` returning a future, written by hand like `#[async_trait]`
// writes it: the future runs inside the call.
#[relayed(with = relayer)]
fn boxed_future(relayer: &Relayer, n: u32) -> Pin<Box<dyn Future<Output = u32> + Send + 'static>> {
    Box::pin(async move {
        tokio::task::yield_now().await;
        third_party_code();
        n * 2
    })
}

#[relayed(with = relayer)]
fn async_block(relayer: &Relayer, n: u32) -> impl Future<Output = u32> + 'static {
    async move {
        third_party_code();
        n * 3
    }
}

#[tokio::test]
async fn plain_fns_returning_futures_record_the_future() {
    let (mock, relayer) = setup();
    let future = boxed_future(&relayer, 2);
    let other = async_block(&relayer, 2);
    assert!(mock.topics().is_empty(), "nothing before the futures run");
    assert_eq!(future.await, 4);
    assert_eq!(other.await, 6);
    let records = mock.json("logging");
    assert_eq!(records.len(), 2);
    for record in &records {
        assert_eq!(record["outcome"], "ok");
        assert_eq!(payloads(record), [json!("from third-party code")]);
    }
}

// Injection: any pattern, the type written three ways.
#[relayed(with = outer)]
fn inject_mut(outer: &Relayer, mut relayer: Relayer) -> Option<String> {
    relayer = relayer.clone();
    relayer.request_id()
}

#[relayed(with = outer)]
fn inject_path(outer: &Relayer, handle: relayer::Relayer) -> Option<String> {
    handle.request_id()
}

#[relayed(with = outer)]
fn inject_absolute_path(outer: &Relayer, _: ::relayer::Relayer) -> bool {
    Relayer::current().and_then(|r| r.request_id()).is_some()
}

#[test]
fn the_injected_relayer_is_bound_to_the_call() {
    let (mock, relayer) = setup();
    let first = inject_mut(&relayer).expect("bound to the call");
    let second = inject_path(&relayer).expect("bound to the call");
    assert!(inject_absolute_path(&relayer));
    let records = mock.json("logging");
    assert_eq!(records[0]["request_id"], first.as_str());
    assert_eq!(records[1]["request_id"], second.as_str());
    assert_ne!(first, second, "every call is its own request");
}

// ---------------------------------------------------------------------------
// Outcomes

#[relayed(with = base)]
fn fails(base: &Relayer, relayer: Relayer) -> Result<u32, std::io::Error> {
    relayer.info("before the error").unwrap();
    let n: u32 = "x".parse().map_err(std::io::Error::other)?;
    Ok(n)
}

#[derive(Debug)]
struct OnlyDebug;

#[relayed(with = relayer)]
fn fails_with_debug_only(relayer: &Relayer) -> Result<(), OnlyDebug> {
    Err(OnlyDebug)
}

#[test]
fn err_gives_outcome_error_and_the_error_text() {
    let (mock, relayer) = setup();
    assert!(fails(&relayer).is_err());
    assert!(fails_with_debug_only(&relayer).is_err());
    let records = mock.json("logging");
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["outcome"], "error");
    assert_eq!(records[0]["error"], "invalid digit found in string");
    assert_eq!(payloads(&records[0]), [json!("before the error")]);
    assert_eq!(records[1]["outcome"], "error");
    assert_eq!(records[1]["error"], "OnlyDebug");
}

#[relayed(with = base)]
fn panics(base: &Relayer, relayer: Relayer) -> u32 {
    relayer.info("before the panic").unwrap();
    panic!("handler bug");
}

#[relayed(with = base)]
async fn panics_async(base: &Relayer, relayer: Relayer) -> u32 {
    tokio::task::yield_now().await;
    relayer.info("before the panic").unwrap();
    panic!("handler bug");
}

#[test]
fn a_panic_writes_the_record_then_goes_on() {
    let (mock, relayer) = setup();
    let panic = std::panic::catch_unwind(AssertUnwindSafe(|| panics(&relayer)))
        .expect_err("the panic goes on");
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"handler bug"));
    let record = only_record(&mock);
    assert_eq!(record["outcome"], "panicked");
    assert_eq!(record["error"], Value::Null);
    assert_eq!(payloads(&record), [json!("before the panic")]);
}

#[tokio::test]
async fn a_panic_in_an_async_fn_writes_the_record_then_goes_on() {
    let (mock, relayer) = setup();
    let task = tokio::spawn(async move { panics_async(&relayer).await });
    assert!(task.await.expect_err("the panic goes on").is_panic());
    let record = only_record(&mock);
    assert_eq!(record["outcome"], "panicked");
    assert_eq!(payloads(&record), [json!("before the panic")]);
}

#[relayed(with = base)]
async fn slow(base: &Relayer, relayer: Relayer) -> u32 {
    relayer.info("started").unwrap();
    tokio::time::sleep(Duration::from_secs(3600)).await;
    relayer.info("never").unwrap();
    1
}

#[tokio::test]
async fn a_dropped_future_gives_cancelled() {
    let (mock, relayer) = setup();
    let timed_out = tokio::time::timeout(Duration::from_millis(20), slow(&relayer)).await;
    assert!(timed_out.is_err());
    let record = only_record(&mock);
    assert_eq!(record["outcome"], "cancelled");
    assert_eq!(record["service"], "slow");
    assert_eq!(payloads(&record), [json!("started")]);

    // an async_trait future dropped before its first poll
    mock.clear();
    let greeter = MyGreeter { relayer };
    drop(greeter.say_hello("Ada".into()));
    assert_eq!(only_record(&mock)["outcome"], "cancelled");
}

// ---------------------------------------------------------------------------
// Nesting and isolation

/// No `with`: the relayer of the enclosing request or call.
#[relayed]
async fn inner_call(n: u32) -> u32 {
    third_party_code();
    n + 1
}

#[relayed]
fn inner_sync_call() {
    third_party_code();
}

#[relayed(with = base)]
async fn outer_call(base: &Relayer, relayer: Relayer) -> u32 {
    relayer.info("outer before").unwrap();
    let n = inner_call(1).await;
    inner_sync_call();
    relayer.info("outer after").unwrap();
    n
}

#[tokio::test]
async fn a_call_inside_a_call_writes_its_own_record_with_the_outer_request_id() {
    let (mock, relayer) = setup();
    assert_eq!(outer_call(&relayer).await, 2);
    let records = mock.json("logging");
    assert_eq!(records.len(), 3, "{records:#?}");
    let (inner, inner_sync, outer) = (&records[0], &records[1], &records[2]);
    assert_eq!(inner["service"], "inner_call");
    assert_eq!(inner_sync["service"], "inner_sync_call");
    assert_eq!(outer["service"], "outer_call");
    assert_eq!(inner["request_id"], outer["request_id"]);
    assert_eq!(inner_sync["request_id"], outer["request_id"]);
    assert_eq!(payloads(inner), [json!("from third-party code")]);
    assert_eq!(payloads(inner_sync), [json!("from third-party code")]);
    assert_eq!(
        payloads(outer),
        [json!("outer before"), json!("outer after")]
    );
}

#[tokio::test]
async fn a_call_inside_a_scope_keeps_the_request_id() {
    let (mock, relayer) = setup();
    let scope = Scope::new(&relayer, Some("req-42".into()));
    let n = scope.relayer().bind(inner_call(1)).await;
    assert_eq!(n, 2);
    scope.relayer().in_scope(inner_sync_call);
    scope.finish(
        relayer::record::Outcome::Ok,
        relayer::record::RpcDetails {
            service: "outer",
            ..Default::default()
        },
    );
    let records = mock.json("logging");
    assert_eq!(records.len(), 3);
    for record in &records {
        assert_eq!(record["request_id"], "req-42");
    }
    assert_eq!(payloads(&records[0]), [json!("from third-party code")]);
    assert!(
        payloads(&records[2]).is_empty(),
        "the outer scope has no lines of the calls"
    );
}

#[tokio::test]
async fn with_a_bound_relayer_the_call_joins_its_request() {
    let (mock, relayer) = setup();
    let scope = Scope::new(&relayer, Some("req-7".into()));
    // not current: only the bound relayer says which request this is
    free_async(scope.relayer(), 1).await;
    drop(scope);
    assert_eq!(mock.json("logging")[0]["request_id"], "req-7");
}

#[relayed(with = outer)]
async fn spawns(outer: &Relayer, relayer: Relayer) {
    let handle = relayer.clone();
    tokio::spawn(handle.bind(async {
        tokio::task::yield_now().await;
        third_party_code();
    }))
    .await
    .unwrap();
}

#[tokio::test]
async fn a_spawned_task_logs_into_its_call() {
    let (mock, relayer) = setup();
    spawns(&relayer).await;
    assert_eq!(
        payloads(&only_record(&mock)),
        [json!("from third-party code")]
    );
}

#[relayed(with = base)]
async fn tagged(base: &Relayer, tag: usize, relayer: Relayer) -> usize {
    relayer.info(&json!({ "tag": tag })).unwrap();
    tokio::task::yield_now().await;
    third_party_code();
    tokio::time::sleep(Duration::from_millis((tag % 7) as u64)).await;
    relayer.info(&json!({ "tag": tag })).unwrap();
    tag
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_calls_never_mix_lines() {
    let (mock, relayer) = setup();
    let mut tasks = tokio::task::JoinSet::new();
    for tag in 0..1000 {
        let relayer = relayer.clone();
        tasks.spawn(async move { tagged(&relayer, tag).await });
    }
    let mut done: Vec<usize> = tasks.join_all().await;
    done.sort_unstable();
    assert_eq!(done, (0..1000).collect::<Vec<_>>());

    let records = mock.wait_for("logging", 1000, WAIT).await;
    assert_eq!(records.len(), 1000);
    let mut tags = Vec::new();
    let mut request_ids = std::collections::HashSet::new();
    for record in records.iter().map(|m| m.json()) {
        let lines = payloads(&record);
        let tag = lines[0]["tag"].clone();
        assert_eq!(
            lines,
            [
                json!({"tag": tag}),
                json!("from third-party code"),
                json!({"tag": tag})
            ],
            "no foreign line"
        );
        tags.push(tag.as_u64().unwrap());
        assert!(request_ids.insert(record["request_id"].as_str().unwrap().to_owned()));
    }
    tags.sort_unstable();
    assert_eq!(tags, (0..1000).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------
// `crate = ...`: relayer under another name

mod reexport {
    pub(crate) use ::relayer as my_relayer;
}
use reexport::my_relayer;

#[relayed(crate = my_relayer, with = base)]
fn through_a_renamed_crate(
    base: &my_relayer::Relayer,
    n: u32,
    relayer: my_relayer::Relayer,
) -> u32 {
    relayer
        .info("injected under the crate's other name")
        .unwrap();
    n + 1
}

#[test]
fn crate_names_relayer_for_a_renamed_dependency() {
    let (mock, relayer) = setup();
    assert_eq!(through_a_renamed_crate(&relayer, 41), 42);
    let record = only_record(&mock);
    assert_eq!(record["service"], "through_a_renamed_crate");
    assert_eq!(record["outcome"], "ok");
    assert_eq!(
        payloads(&record),
        [json!("injected under the crate's other name")]
    );
}

// ---------------------------------------------------------------------------
// The app-wide relayer inside a call

/// A service that logs through the relayer it was built with, as Python
/// code calls the object it built at startup, and through one built apart.
struct AppWide {
    relayer: Relayer,
    other: Relayer,
}

impl AppWide {
    #[relayed(with = self.relayer)]
    async fn handle(&self, n: u32) -> u32 {
        self.relayer.info(&json!({ "n": n })).unwrap();
        tokio::task::yield_now().await;
        self.relayer.emit("handled", "v1", &n).unwrap();
        self.other.info("not for this call").unwrap();
        self.other.emit("audit", "seen", &n).unwrap();
        n
    }
}

#[tokio::test]
async fn the_app_wide_relayer_writes_into_the_current_call() {
    let (mock, relayer) = setup();
    let other_mock = MockProducer::new();
    let other = Relayer::builder("other_logging")
        .producer(other_mock.clone())
        .build()
        .unwrap();
    let service = Arc::new(AppWide { relayer, other });

    let calls = (0..20).map(|n| {
        let service = service.clone();
        tokio::spawn(async move { service.handle(n).await })
    });
    for call in calls {
        call.await.unwrap();
    }

    let records = mock.json("logging");
    assert_eq!(records.len(), 20);
    for record in &records {
        let payloads = payloads(record);
        assert_eq!(payloads.len(), 2, "its own line and event only: {record:#}");
        assert_eq!(payloads[0]["n"], payloads[1]);
        assert_eq!(record["lines"][1]["request_id"], record["request_id"]);
    }
    assert!(other_mock.json("other_logging").is_empty());
    assert!(
        other_mock
            .json("audit")
            .iter()
            .all(|event| event.get("request_id").is_none()),
        "a foreign relayer's events carry no request id of this call"
    );
}

#[relayed(with = relayer)]
fn checkout(relayer: &Relayer, cart_value: u32) -> u32 {
    Relayer::current()
        .unwrap()
        .field("cart_value", &cart_value)
        .unwrap();
    cart_value
}

#[test]
fn fields_set_in_a_relayed_function_land_on_its_record() {
    let (mock, relayer) = setup();
    checkout(&relayer, 120);
    assert_eq!(only_record(&mock)["fields"], json!({"cart_value": 120}));
}
