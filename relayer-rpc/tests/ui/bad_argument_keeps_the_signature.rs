use relayer::{Relayer, relayed};

#[relayed(name = "Greeter.SayHello" with = relayer)]
fn say_hello(name: String, relayer: Relayer) -> String {
    format!("{name} {relayer:?}")
}

fn main() {
    // The injected parameter is gone from the signature even though the
    // arguments are wrong: the only error is theirs.
    let _ = say_hello("Ada".into());
}
