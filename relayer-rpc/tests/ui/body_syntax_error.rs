use relayer::{Relayer, relayed};

#[relayed]
fn say_hello(name: String, relayer: Relayer) -> String {
    let greeting = ;
    format!("{name} {relayer:?}")
}

fn main() {
    // Callers see the signature without the injected parameter: no second
    // error here.
    let _ = say_hello("Ada".into());
}
