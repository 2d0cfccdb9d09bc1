//! `#[relayed]` with no relayer at all: nothing installed, no enclosing
//! request. The calls still run, unchanged; no record is written. A test
//! binary of its own, so that no other test installs a relayer.

use relayer::{Relayer, relayed};
use relayer_test::{MockProducer, patch};

#[relayed]
fn double(n: u32) -> u32 {
    assert!(Relayer::current().is_none(), "no relayer, no current one");
    n * 2
}

#[relayed]
async fn injected(relayer: Relayer) -> Option<String> {
    relayer.emit("greeting", "sent", "nowhere").unwrap();
    relayer.info("nowhere").unwrap();
    relayer.request_id()
}

#[relayed]
fn fails() -> Result<(), String> {
    Err("still an error".into())
}

#[relayed]
fn panics() {
    panic!("still a panic");
}

#[tokio::test]
async fn calls_run_unchanged_and_record_nothing() {
    // relayers built on this thread would use the mock: the detached
    // relayer of an unrecorded call does not
    let mock = MockProducer::new();
    let _patched = patch(&mock);

    assert_eq!(double(2), 4);
    assert_eq!(
        injected().await,
        None,
        "the injected relayer belongs to no request"
    );
    assert_eq!(fails(), Err("still an error".into()));
    let panic = std::panic::catch_unwind(panics).expect_err("the panic goes on");
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"still a panic"));

    assert!(mock.topics().is_empty(), "{:?}", mock.topics());
    assert!(relayer::installed().is_none());
}
