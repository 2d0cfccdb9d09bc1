use relayer::relayed;

#[relayed]
struct Greeter {
    name: String,
}

fn main() {}
