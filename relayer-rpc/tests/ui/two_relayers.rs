use relayer::{Relayer, relayed};

#[relayed]
fn say_hello(name: String, relayer: Relayer, other: relayer::Relayer) -> String {
    format!("{name} {relayer:?} {other:?}")
}

fn main() {}
