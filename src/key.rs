//! Partition keys: the types a message may be keyed by, and their bytes.

use uuid::Uuid;

/// A value that can key a Kafka message. Messages with the same key go to the
/// same partition, so they keep their order.
///
/// Implemented for strings (their UTF-8 bytes), [`Uuid`] (its 16 raw bytes,
/// as the Python relayer sends them) and byte slices (as given). Any other
/// type is refused at compile time:
///
/// ```compile_fail
/// fn send(relayer: &relayer::Relayer) -> relayer::Result<()> {
///     relayer.emit_with_key("order", "created", &1, 42_u64) // u64 is not a key
/// }
/// ```
///
/// ```
/// use relayer::PartitionKey;
/// let id = uuid::Uuid::from_u128(1);
/// assert_eq!(id.key_bytes().len(), 16);
/// assert_eq!("abc".key_bytes(), b"abc");
/// ```
pub trait PartitionKey {
    /// The bytes of the key as they go over the wire.
    fn key_bytes(&self) -> &[u8];
}

impl PartitionKey for str {
    fn key_bytes(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartitionKey for String {
    fn key_bytes(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartitionKey for Uuid {
    fn key_bytes(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartitionKey for [u8] {
    fn key_bytes(&self) -> &[u8] {
        self
    }
}

impl<const N: usize> PartitionKey for [u8; N] {
    fn key_bytes(&self) -> &[u8] {
        self
    }
}

impl PartitionKey for Vec<u8> {
    fn key_bytes(&self) -> &[u8] {
        self
    }
}

impl<K: PartitionKey + ?Sized> PartitionKey for &K {
    fn key_bytes(&self) -> &[u8] {
        (**self).key_bytes()
    }
}
