use relayer::relayed;

#[relayed]
const fn answer() -> u32 {
    42
}

fn main() {}
