//! What the Python relayer 1.0 wrote (`fixtures/python-relayer-1.0.jsonl`
//! is the reference): the standard fields, with the differences listed on
//! [`WireFormat::Python1`](crate::WireFormat::Python1).

use percent_encoding::percent_decode_str;

use super::{Finished, standard};
use crate::WireFormat::Python1;
use crate::record::{Details, HttpDetails, RpcDetails};

/// Writes `record` in the Python 1.0 form.
pub(super) fn write(
    record: &Finished<'_>,
    lines: &[u8],
    json: &mut Vec<u8>,
) -> serde_json::Result<()> {
    let path;
    let service;
    let details = match record.details {
        Some(Details::Http(http)) => {
            // WSGI's `PATH_INFO`: percent-decoded, bytes read as UTF-8.
            path = percent_decode_str(http.path).decode_utf8_lossy();
            Some(Details::Http(HttpDetails {
                path: &path,
                query_string: Some(http.query_string.unwrap_or_default()),
                headers: http.headers.clone(),
                ..*http
            }))
        }
        Some(Details::Rpc(rpc)) => {
            service = Python1.service(rpc.service);
            Some(Details::Rpc(RpcDetails {
                service: &service,
                ..*rpc
            }))
        }
        // A message record's fields are the same in both forms.
        Some(Details::Message(_)) | None => None,
    };
    let python = Finished {
        details: details.as_ref().or(record.details),
        ..*record
    };
    let mut fields = standard::fields(&python);
    fields.logging_topic = record.logging_topic_name;
    fields.date = Python1.date(record.start);
    fields.request_id = (!record.generated_id).then_some(record.request_id);
    fields.resource = None;
    standard::serialize(&fields, lines, json)
}
