//! The layer's types are `Send + Sync` whenever what they wrap is, so a
//! service behind `RelayerLayer` runs on a multi-threaded runtime and its
//! futures and bodies can be spawned and shared. Checked at compile time:
//! this file compiles or the test target fails to build.

use http_body::Body;
use relayer_axum::{RelayerLayer, RelayerService, ResponseBody, ResponseFuture};

fn send_sync<T: Send + Sync>() {}

#[allow(dead_code)]
fn wrapping_send_sync_types_keeps_them_send_sync<S, F, B>()
where
    S: Send + Sync,
    F: Send + Sync,
    B: Body + Send + Sync,
{
    send_sync::<RelayerService<S>>();
    send_sync::<ResponseFuture<F>>();
    send_sync::<ResponseBody<B>>();
}

#[test]
fn the_layer_and_the_relayer_are_send_and_sync() {
    send_sync::<RelayerLayer>();
    send_sync::<relayer::Relayer>();
    send_sync::<RelayerService<axum::Router>>();
}
