use relayer::relayed;

trait Greeter {
    #[relayed]
    fn say_hello(&self, name: String) -> String;
}

fn main() {}
