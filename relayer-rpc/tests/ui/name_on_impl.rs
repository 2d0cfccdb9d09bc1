use relayer::relayed;

struct Greeter;

#[relayed(name = "Greeter")]
impl Greeter {
    fn say_hello(&self, name: String) -> String {
        name
    }
}

fn main() {}
