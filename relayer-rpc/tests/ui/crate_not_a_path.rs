use relayer::relayed;

#[relayed(crate = "relayer")]
fn say_hello(name: String) -> String {
    name
}

fn main() {}
