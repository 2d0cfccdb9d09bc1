use relayer::relayed;

struct Greeter {
    relayer: String,
}

impl Greeter {
    #[relayed(with = self.relayer)]
    fn say_hello(&self, name: String) -> String {
        name
    }
}

fn main() {}
