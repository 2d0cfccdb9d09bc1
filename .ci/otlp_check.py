"""Parses every OTLP/JSON record a test run collected (RELAYER_TEST_RECORDS)
with OpenTelemetry's own protobuf definitions (the opentelemetry-proto
package): each must be an ExportLogsServiceRequest, unknown fields refused.

OTLP/JSON writes trace and span ids as hex where protobuf's JSON mapping
has base64 (opentelemetry-proto, docs/specification.md, "JSON Protobuf
Encoding"): they are turned into base64 first, as an OTLP receiver does.

Usage: python otlp_check.py DIR
"""

import base64
import json
import pathlib
import sys

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
)


def hex_ids_to_base64(request):
    for resource_logs in request.get("resourceLogs", []):
        for scope_logs in resource_logs.get("scopeLogs", []):
            for record in scope_logs.get("logRecords", []):
                for key, size in (("traceId", 16), ("spanId", 8)):
                    if key in record:
                        raw = bytes.fromhex(record[key])
                        assert len(raw) == size, (key, record[key])
                        record[key] = base64.b64encode(raw).decode()


def main(directory):
    parsed = 0
    http = 0
    for path in sorted(pathlib.Path(directory).glob("*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                value = json.loads(line)
            except ValueError:
                continue  # not JSON: a raw event
            if not isinstance(value, dict) or "resourceLogs" not in value:
                continue  # not an OTLP record
            hex_ids_to_base64(value)
            request = json_format.Parse(
                json.dumps(value), ExportLogsServiceRequest(), ignore_unknown_fields=False
            )
            assert len(request.resource_logs) == 1, line
            scope_logs = request.resource_logs[0].scope_logs
            assert len(scope_logs) == 1 and scope_logs[0].scope.name == "relayer", line
            (record,) = scope_logs[0].log_records
            assert len(record.trace_id) == 16 and len(record.span_id) == 8, line
            assert record.severity_number in (9, 13, 17), line
            attributes = {a.key: a.value for a in record.attributes}
            if attributes.get("http.response.status_code") is not None and attributes[
                "http.response.status_code"
            ].HasField("int_value"):
                http += 1
            parsed += 1
    print(f"OTLP records parsed by opentelemetry-proto: {parsed} ({http} of HTTP requests)")
    if parsed == 0 or http == 0:
        sys.exit("no OTLP record of an HTTP request to check")


if __name__ == "__main__":
    main(sys.argv[1])
