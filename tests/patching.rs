//! `relayer_test::patch`: the application's own relayer sends to a mock,
//! and parallel tests never see each other's messages.

use relayer::Relayer;
use relayer_test::{MockProducer, patch};

/// Stands for the application's startup code, which tests do not change.
fn application_relayer() -> relayer::Result<Relayer> {
    Relayer::builder("logging")
        .brokers("127.0.0.1:1") // nothing listens here: only the patch can deliver
        .build()
}

fn emit_from_the_application(marker: usize) {
    application_relayer()
        .unwrap()
        .emit("patched", "s", &marker)
        .unwrap();
}

#[test]
fn a_patched_application_sends_to_the_mock() {
    let mock = MockProducer::new();
    let _patched = patch(&mock);
    emit_from_the_application(1);
    assert_eq!(mock.json("patched").len(), 1);
    assert_eq!(mock.json("patched")[0]["payload"], 1);
}

#[test]
fn a_patched_builder_needs_no_brokers() {
    let mock = MockProducer::new();
    let _patched = patch(&mock);
    let relayer = Relayer::builder("logging").build().unwrap();
    relayer.emit("patched", "s", &"ok").unwrap();
    assert_eq!(mock.messages("patched").len(), 1);
}

#[test]
fn the_patch_ends_with_its_guard_and_restores_an_outer_one() {
    let outer = MockProducer::new();
    let inner = MockProducer::new();
    let _outer = patch(&outer);
    {
        let _inner = patch(&inner);
        emit_from_the_application(2);
    }
    emit_from_the_application(3);
    assert_eq!(inner.json("patched")[0]["payload"], 2);
    assert_eq!(outer.json("patched").len(), 1);
    assert_eq!(outer.json("patched")[0]["payload"], 3);
}

#[test]
fn many_parallel_patched_tests_see_only_their_own_messages() {
    let threads: Vec<_> = (0..32)
        .map(|i| {
            std::thread::spawn(move || {
                let mock = MockProducer::new();
                let _patched = patch(&mock);
                for _ in 0..50 {
                    emit_from_the_application(i);
                }
                mock.json("patched")
            })
        })
        .collect();
    for (i, thread) in threads.into_iter().enumerate() {
        let sent = thread.join().unwrap();
        assert_eq!(sent.len(), 50);
        assert!(
            sent.iter().all(|m| m["payload"] == i),
            "thread {i} saw another's messages"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_patch_covers_a_multi_thread_test_body() {
    let mock = MockProducer::new();
    let _patched = patch(&mock);
    let relayer = application_relayer().unwrap();
    tokio::spawn(async move { relayer.emit("patched", "s", &"from a worker").unwrap() })
        .await
        .unwrap();
    assert_eq!(mock.json("patched")[0]["payload"], "from a worker");
}
