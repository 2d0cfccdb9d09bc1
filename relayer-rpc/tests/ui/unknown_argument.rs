use relayer::relayed;

#[relayed(level = "info")]
fn say_hello(name: String) -> String {
    name
}

fn main() {}
