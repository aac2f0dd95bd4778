#!/usr/bin/env python3
"""Send GenAI spans to a running `netra-apex serve --http` through the OpenTelemetry Python
SDK's own OTLP/HTTP exporter (protobuf, gzip), as an instrumented application would.

Usage: otlp_export.py ENDPOINT DATASET COUNT
  ENDPOINT  e.g. http://127.0.0.1:8765/v1/traces
Prints `exported COUNT` and exits 0 when the exporter reports success.
"""
import sys

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult


class Checked(OTLPSpanExporter):
    """The SDK exporter, remembering whether every export succeeded."""

    failures = 0

    def export(self, spans):
        result = super().export(spans)
        if result is not SpanExportResult.SUCCESS:
            Checked.failures += 1
        return result


def main():
    endpoint, dataset, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    exporter = Checked(endpoint=endpoint, headers={"X-Apex-Dataset": dataset},
                       compression=Compression.Gzip, timeout=10)
    provider = TracerProvider(resource=Resource.create({"service.name": "py-sdk-app"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("otlp_export.py")
    with tracer.start_as_current_span("invoke_agent planner") as agent:
        agent.set_attribute("gen_ai.operation.name", "invoke_agent")
        agent.set_attribute("gen_ai.agent.name", "planner")
        for i in range(count - 1):
            with tracer.start_as_current_span("chat gpt-4o-mini") as span:
                span.set_attribute("gen_ai.operation.name", "chat")
                span.set_attribute("gen_ai.provider.name", "openai")
                span.set_attribute("gen_ai.request.model", "gpt-4o-mini")
                span.set_attribute("gen_ai.usage.input_tokens", 1000 + i)
                span.set_attribute("gen_ai.usage.output_tokens", 100)
                span.set_attribute("gen_ai.response.finish_reasons", ["stop"])
    provider.shutdown()
    if Checked.failures:
        print(f"{Checked.failures} exports failed", file=sys.stderr)
        sys.exit(1)
    print(f"exported {count}")


if __name__ == "__main__":
    main()
