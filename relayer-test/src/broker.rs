use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rdkafka::error::KafkaResult;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use socket2::{Domain, Socket, Type};

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
    /// While the brokers are down, their ports, held by sockets that are
    /// bound but do not listen: see [`down`](Self::down).
    held_ports: Mutex<Vec<Socket>>,
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
            held_ports: Mutex::default(),
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
    /// A broker that is down closes its listener, and `up` binds the same
    /// port again (librdkafka aborts the process if it cannot). Meanwhile
    /// any `connect` on the machine could get that port as its local port,
    /// so the ports are held by sockets that are bound but do not listen:
    /// connections are still refused, and `connect` never picks a bound
    /// port.
    pub fn down(&self) -> KafkaResult<()> {
        self.cluster.broker_down(ALL_BROKERS)?;
        let held = self
            .bootstrap_servers()
            .split(',')
            .filter_map(|addr| addr.parse().ok())
            .filter_map(|addr| hold(addr).ok())
            .collect();
        *self
            .held_ports
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = held;
        Ok(())
    }

    /// Brings every broker back up.
    pub fn up(&self) -> KafkaResult<()> {
        // Released right before the brokers bind their ports again.
        self.held_ports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.cluster.broker_up(ALL_BROKERS)
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

/// A TCP socket bound to `addr` that does not listen.
fn hold(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

#[cfg(test)]
mod tests {
    use std::net::TcpStream;

    use super::*;

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
