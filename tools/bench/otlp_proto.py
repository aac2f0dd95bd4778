"""OTLP/JSON lines (`netra-apex synth --format otlp-json`) -> the OpenTelemetry Collector file
exporter's proto format: each ExportTraceServiceRequest preceded by its length as a 4-byte
big-endian integer. For measuring the protobuf ingest on the same records as the JSON one.

Usage: otlp_proto.py IN.otlp.json OUT.pb   (needs opentelemetry-proto, in tools/clients/)

OTLP/JSON writes trace and span ids as hex where protobuf's JSON mapping expects base64, so
the ids are re-encoded before the message is parsed.
"""

import base64
import json
import struct
import sys

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

IDS = ("traceId", "spanId", "parentSpanId")


def main(src, dst):
    n = 0
    with open(src) as f, open(dst, "wb") as out:
        for line in f:
            if not line.strip():
                continue
            doc = json.loads(line)
            for rs in doc.get("resourceSpans", []):
                for ss in rs.get("scopeSpans", []):
                    for span in ss.get("spans", []):
                        for key in IDS:
                            if span.get(key):
                                span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
            req = json_format.ParseDict(doc, ExportTraceServiceRequest())
            b = req.SerializeToString()
            out.write(struct.pack(">I", len(b)))
            out.write(b)
            n += 1
    print(f"{n} messages -> {dst}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
