use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rdkafka::error::KafkaResult;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

use crate::Consumer;

/// All brokers of the cluster, in librdkafka's mock API.
const ALL_BROKERS: i32 = -1;

/// A Kafka broker inside the test process: librdkafka's mock cluster, a
/// real Kafka-protocol listener on 127.0.0.1. The real rdkafka producer and
/// consumer talk to it as to any broker, so tests and demos need no Kafka
/// installed. It stops when dropped.
///
/// ```
/// use std::time::Duration;
/// use relayer_test::EmbeddedBroker;
///
/// let broker = EmbeddedBroker::start()?;
/// broker.create_topic("order", 1)?;
/// let relayer = relayer::Relayer::builder("logging").brokers(broker.bootstrap_servers()).build()?;
/// relayer.emit("order", "created", &serde_json::json!({"id": 1}))?;
/// relayer.flush(Duration::from_secs(10))?;
///
/// let received = broker.consumer()?.read("order", 1, Duration::from_secs(10))?;
/// assert_eq!(received[0].json()["payload"]["id"], 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct EmbeddedBroker {
    cluster: MockCluster<'static, DefaultProducerContext>,
}

/// Taken while an embedded broker of this process goes down or up, and
/// while a process is started through [`without_broker_restarts`].
static RESTARTS: Mutex<()> = Mutex::new(());

/// Runs `start`, which starts a process (`Command::spawn`; or `status` and
/// `output`, which also wait for it), while no [`EmbeddedBroker`] of this
/// process goes [down](EmbeddedBroker::down) or up; a test that starts
/// processes beside an embedded broker it takes down starts them through
/// this.
///
/// A process being started holds a copy of every socket of its parent
/// until it runs its program (`fork`, then `exec`). A broker taken down
/// closes its listener and binds its port again at once, to keep it; while
/// such a copy keeps the old listener listening, that bind fails, and
/// librdkafka aborts the whole test process ("Failed to create mock broker
/// listener").
///
/// ```
/// use std::process::Command;
///
/// let status = relayer_test::without_broker_restarts(|| Command::new("true").status())?;
/// assert!(status.success());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn without_broker_restarts<T>(start: impl FnOnce() -> T) -> T {
    let _restarts = RESTARTS.lock().unwrap_or_else(PoisonError::into_inner);
    start()
}

impl EmbeddedBroker {
    /// Starts a one-broker cluster. Topics are created on first use, with
    /// the mock's default partition count, unless created beforehand.
    pub fn start() -> KafkaResult<Self> {
        Self::with_brokers(1)
    }

    /// Starts a cluster of `count` brokers (ids 1 to `count`).
    pub fn with_brokers(count: i32) -> KafkaResult<Self> {
        Ok(Self {
            cluster: MockCluster::new(count)?,
        })
    }

    /// The bootstrap address, e.g. `127.0.0.1:41231`.
    pub fn bootstrap_servers(&self) -> String {
        self.cluster.bootstrap_servers()
    }

    /// Creates a topic with `partitions` partitions.
    pub fn create_topic(&self, topic: &str, partitions: i32) -> KafkaResult<()> {
        self.cluster.create_topic(topic, partitions, 1)
    }

    /// Takes every broker down: connections are refused until [`up`](Self::up).
    ///
    /// A broker that is down keeps its port (bound, not listening), and
    /// `up` listens on it again. Processes started meanwhile must go
    /// through [`without_broker_restarts`].
    pub fn down(&self) -> KafkaResult<()> {
        without_broker_restarts(|| self.cluster.broker_down(ALL_BROKERS))
    }

    /// Brings every broker back up.
    pub fn up(&self) -> KafkaResult<()> {
        without_broker_restarts(|| self.cluster.broker_up(ALL_BROKERS))
    }

    /// Adds `latency` to every broker's round trip.
    pub fn set_latency(&self, latency: Duration) -> KafkaResult<()> {
        self.cluster.broker_round_trip_time(ALL_BROKERS, latency)
    }

    /// Makes the next produce requests fail with `errors`, one each, in
    /// order: a way to exercise the producer's retries.
    pub fn fail_produce_requests(&self, errors: &[RDKafkaRespErr]) {
        self.cluster.request_errors(RDKafkaApiKey::Produce, errors);
    }

    /// A consumer of this broker's topics.
    pub fn consumer(&self) -> KafkaResult<Consumer> {
        Consumer::new(&self.bootstrap_servers())
    }

    /// The mock cluster itself, for faults this wrapper does not name.
    pub fn cluster(&self) -> &MockCluster<'static, DefaultProducerContext> {
        &self.cluster
    }
}

impl fmt::Debug for EmbeddedBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedBroker")
            .field("bootstrap_servers", &self.bootstrap_servers())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::net::{SocketAddr, TcpStream};

    use super::*;

    /// Without the lock, a broker going down while processes start aborts
    /// the test process within a cycle or two.
    #[test]
    fn a_broker_goes_down_and_up_while_processes_start() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::time::Instant;

        let stop = AtomicBool::new(false);
        let broker = EmbeddedBroker::start().unwrap();
        std::thread::scope(|threads| {
            let starting = threads.spawn(|| {
                let mut started = 0;
                while !stop.load(Ordering::Acquire) {
                    let mut child =
                        without_broker_restarts(|| std::process::Command::new("true").spawn())
                            .unwrap();
                    child.wait().unwrap();
                    started += 1;
                    std::thread::sleep(Duration::from_millis(1));
                }
                started
            });
            // librdkafka's mock thread sometimes takes a second to come to
            // an operation while children exit: a few cycles, in time.
            let began = Instant::now();
            let mut cycles = 0;
            while cycles < 20 && began.elapsed() < Duration::from_secs(3) {
                broker.down().unwrap();
                broker.up().unwrap();
                cycles += 1;
            }
            stop.store(true, Ordering::Release);
            let started = starting.join().unwrap();
            assert!(
                started > 0 && cycles > 0,
                "{started} started, {cycles} cycles"
            );
        });
    }

    #[test]
    fn a_broker_down_refuses_connections_and_gets_its_port_back() {
        let broker = EmbeddedBroker::start().unwrap();
        let addr: SocketAddr = broker.bootstrap_servers().parse().unwrap();
        assert!(TcpStream::connect(addr).is_ok());
        broker.down().unwrap();
        assert!(TcpStream::connect(addr).is_err(), "refused while down");
        broker.up().unwrap();
        assert!(TcpStream::connect(addr).is_ok(), "the same port again");
    }
}
