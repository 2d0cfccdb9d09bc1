use relayer::relayed;

#[relayed(name = Greeter::say_hello)]
fn say_hello(name: String) -> String {
    name
}

fn main() {}
