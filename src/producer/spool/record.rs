//! One spooled message on disk: `[body length u32][crc32 of body u32][body]`,
//! little-endian, body = `[topic length u16][topic][key length u32 or
//! u32::MAX for none][key][header count u16]([name length u16][name][value
//! length u32][value])*[payload]`. The checksum tells a record cut by a
//! crash or damaged on disk from a good one.

use std::io::{self, Read};

use crate::producer::Message;
use crate::producer::owned::OwnedMessage;

/// The bytes before the body.
const HEADER: usize = 8;
/// The key length that means "no key".
const NO_KEY: u32 = u32::MAX;
/// Larger bodies cannot have been written by this code: a damaged length.
const MAX_BODY: u32 = 256 * 1024 * 1024;

/// A message read back from the spool.
pub(crate) type Record = OwnedMessage;

/// The length of the encoded `message` on disk.
pub(crate) fn encoded_len(message: &Message<'_>) -> usize {
    encoded_size(
        message.topic.len(),
        message.key.map_or(0, <[u8]>::len),
        message
            .headers
            .iter()
            .map(|(name, value)| (name.len(), value.len())),
        message.payload.len(),
    )
}

/// The length on disk of a message of these parts' lengths: its topic, its
/// key, its headers' names and values, its payload.
pub(crate) fn encoded_size(
    topic: usize,
    key: usize,
    headers: impl Iterator<Item = (usize, usize)>,
    payload: usize,
) -> usize {
    let headers: usize = headers.map(|(name, value)| 2 + name + 4 + value).sum();
    HEADER + 2 + topic + 4 + key + 2 + headers + payload
}

/// The topic of an encoded record.
pub(crate) fn topic(encoded: &[u8]) -> &str {
    let len = encoded
        .get(HEADER..HEADER + 2)
        .map_or(0, |len| u16::from_le_bytes([len[0], len[1]]) as usize);
    encoded
        .get(HEADER + 2..HEADER + 2 + len)
        .and_then(|topic| std::str::from_utf8(topic).ok())
        .unwrap_or("spool")
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
    // A message has a few headers, of short names and values.
    out.extend_from_slice(&(message.headers.len() as u16).to_le_bytes());
    for (name, value) in message.headers {
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        out.extend_from_slice(value);
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
    let (key, rest) = match u32::from_le_bytes(*key_len) {
        NO_KEY => (None, rest),
        len => {
            let (key, rest) = rest.split_at_checked(len as usize)?;
            (Some(key.to_vec()), rest)
        }
    };
    let (count, mut rest) = rest.split_first_chunk::<2>()?;
    let mut headers = Vec::with_capacity(usize::from(u16::from_le_bytes(*count)));
    for _ in 0..u16::from_le_bytes(*count) {
        let (name_len, after) = rest.split_first_chunk::<2>()?;
        let (name, after) = after.split_at_checked(u16::from_le_bytes(*name_len) as usize)?;
        let (value_len, after) = after.split_first_chunk::<4>()?;
        let (value, after) = after.split_at_checked(u32::from_le_bytes(*value_len) as usize)?;
        headers.push((String::from_utf8(name.to_vec()).ok()?, value.to_vec()));
        rest = after;
    }
    Some(Record {
        topic: String::from_utf8(topic.to_vec()).ok()?,
        key,
        headers,
        payload: rest.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(key: Option<&[u8]>, headers: &[(&str, &[u8])]) {
        let message = Message {
            topic: "orders",
            key,
            headers,
            payload: br#"{"n":1}"#,
        };
        let mut bytes = Vec::new();
        let len = encode(&message, &mut bytes);
        assert_eq!(len, bytes.len());
        assert_eq!(len, encoded_len(&message));
        assert_eq!(topic(&bytes), "orders");
        let mut body = Vec::new();
        match read(&mut &bytes[..], len as u64, &mut body).unwrap() {
            Next::Record(record, read_len) => {
                assert_eq!(record.topic, "orders");
                assert_eq!(record.key.as_deref(), key);
                record.with_message(|read| assert_eq!(read.headers, headers));
                assert_eq!(record.payload, message.payload);
                assert_eq!(read_len, len as u64);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_record_reads_back_as_written() {
        let headers: &[(&str, &[u8])] = &[("x-request-id", b"req-1"), ("traceparent", b"00-ab")];
        roundtrip(Some(b"key-1"), headers);
        roundtrip(Some(b""), &[]);
        roundtrip(None, headers);
    }

    #[test]
    fn a_flipped_bit_or_a_cut_is_corrupt() {
        let message = Message {
            topic: "orders",
            key: None,
            headers: &[],
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
