//! One spooled message on disk: `[body length u32][crc32 of body u32][body]`,
//! little-endian, body = `[topic length u16][topic][key length u32 or
//! u32::MAX for none][key][payload]`. The checksum tells a record cut by a
//! crash or damaged on disk from a good one.

use std::io::{self, Read};

use crate::producer::Message;

/// The bytes before the body.
const HEADER: usize = 8;
/// The key length that means "no key".
const NO_KEY: u32 = u32::MAX;
/// Larger bodies cannot have been written by this code: a damaged length.
const MAX_BODY: u32 = 256 * 1024 * 1024;

/// A message read back from the spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) topic: String,
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) payload: Vec<u8>,
}

impl Record {
    pub(crate) fn message(&self) -> Message<'_> {
        Message {
            topic: &self.topic,
            key: self.key.as_deref(),
            payload: &self.payload,
        }
    }
}

/// Appends the encoded `message` to `out`; returns its length on disk.
pub(crate) fn encode(message: &Message<'_>, out: &mut Vec<u8>) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER]);
    let topic = message.topic.as_bytes();
    // Kafka topic names are at most 249 bytes.
    out.extend_from_slice(&(topic.len() as u16).to_le_bytes());
    out.extend_from_slice(topic);
    match message.key {
        Some(key) => {
            out.extend_from_slice(&(key.len() as u32).to_le_bytes());
            out.extend_from_slice(key);
        }
        None => out.extend_from_slice(&NO_KEY.to_le_bytes()),
    }
    out.extend_from_slice(message.payload);
    let body = &out[start + HEADER..];
    let (len, crc) = (body.len() as u32, crc32fast::hash(body));
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + HEADER].copy_from_slice(&crc.to_le_bytes());
    out.len() - start
}

/// What reading the next record gave.
#[derive(Debug)]
pub(crate) enum Next {
    /// A good record and its length on disk.
    Record(Record, u64),
    /// Nothing more: the end of the segment.
    End,
    /// A cut or damaged record: nothing after it can be trusted.
    Corrupt,
}

/// Reads the next record from `input`, which holds `left` more bytes of
/// the segment's written part.
pub(crate) fn read(input: &mut impl Read, left: u64, body: &mut Vec<u8>) -> io::Result<Next> {
    if left == 0 {
        return Ok(Next::End);
    }
    if left < HEADER as u64 {
        return Ok(Next::Corrupt);
    }
    let mut header = [0; HEADER];
    input.read_exact(&mut header)?;
    let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes"));
    let crc = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
    if len > MAX_BODY || u64::from(len) > left - HEADER as u64 {
        return Ok(Next::Corrupt);
    }
    body.resize(len as usize, 0);
    input.read_exact(body)?;
    if crc32fast::hash(body) != crc {
        return Ok(Next::Corrupt);
    }
    match decode(body) {
        Some(record) => Ok(Next::Record(record, HEADER as u64 + u64::from(len))),
        None => Ok(Next::Corrupt),
    }
}

fn decode(body: &[u8]) -> Option<Record> {
    let (topic_len, rest) = body.split_first_chunk::<2>()?;
    let (topic, rest) = rest.split_at_checked(u16::from_le_bytes(*topic_len) as usize)?;
    let (key_len, rest) = rest.split_first_chunk::<4>()?;
    let (key, payload) = match u32::from_le_bytes(*key_len) {
        NO_KEY => (None, rest),
        len => {
            let (key, payload) = rest.split_at_checked(len as usize)?;
            (Some(key.to_vec()), payload)
        }
    };
    Some(Record {
        topic: String::from_utf8(topic.to_vec()).ok()?,
        key,
        payload: payload.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(key: Option<&[u8]>) {
        let message = Message {
            topic: "orders",
            key,
            payload: br#"{"n":1}"#,
        };
        let mut bytes = Vec::new();
        let len = encode(&message, &mut bytes);
        assert_eq!(len, bytes.len());
        let mut body = Vec::new();
        match read(&mut &bytes[..], len as u64, &mut body).unwrap() {
            Next::Record(record, read_len) => {
                assert_eq!(record.message().topic, "orders");
                assert_eq!(record.key.as_deref(), key);
                assert_eq!(record.payload, message.payload);
                assert_eq!(read_len, len as u64);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_record_reads_back_as_written() {
        roundtrip(Some(b"key-1"));
        roundtrip(Some(b""));
        roundtrip(None);
    }

    #[test]
    fn a_flipped_bit_or_a_cut_is_corrupt() {
        let message = Message {
            topic: "orders",
            key: None,
            payload: b"{}",
        };
        let mut bytes = Vec::new();
        let len = encode(&message, &mut bytes) as u64;
        let mut body = Vec::new();
        let mut damaged = bytes.clone();
        *damaged.last_mut().unwrap() ^= 1;
        assert!(matches!(
            read(&mut &damaged[..], len, &mut body).unwrap(),
            Next::Corrupt
        ));
        assert!(matches!(
            read(&mut &bytes[..], len - 1, &mut body).unwrap(),
            Next::Corrupt
        ));
        assert!(matches!(
            read(&mut &bytes[..], 0, &mut body).unwrap(),
            Next::End
        ));
    }
}
