use relayer::{Relayer, relayed};

#[relayed(with = relayer)]
fn say_hello(name: String, relayer: Relayer) -> String {
    format!("{name} {relayer:?}")
}

fn main() {}
