"""Manual SERVER spans with the OpenTelemetry SDK, one TracerProvider per serving process. No HTTP
auto-instrumentation: it costs far more than the work being measured. Optional: without the SDK the
workload serves untraced and says why."""

import os
import time


def tracing_problem(config):
    """None when spans can be exported, else why not (logged once; the workload runs untraced)."""
    if not config["tracing"] or config["otlpEndpoint"] is None:
        return "tracing is off (no OTEL_EXPORTER_OTLP_ENDPOINT or CONCLAB_TRACING=false)"
    try:
        import opentelemetry.exporter.otlp.proto.http.trace_exporter  # noqa: F401
        import opentelemetry.sdk.trace  # noqa: F401
    except ImportError as error:
        return (
            f"OpenTelemetry is not installed ({error.name}); install opentelemetry-sdk and "
            "opentelemetry-exporter-otlp-proto-http to export spans"
        )
    return None


class RequestTracer:
    """One TracerProvider per serving process (made after fork: the batch thread does not survive it)."""

    def __init__(self, config):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
        from opentelemetry.trace import SpanKind
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.common = {
            "conclab.experiment": config["experiment"],
            "conclab.variant": config["variant"],
            "conclab.trial": config["trial"],
            "conclab.model": config["model"],
        }
        resource_attributes = {"service.name": "conclab-workload-python", "process.pid": os.getpid(), **self.common}
        self.provider = TracerProvider(
            resource=Resource.create(resource_attributes),
            sampler=ParentBased(TraceIdRatioBased(config["traceSampleRatio"])),
        )
        exporter = OTLPSpanExporter(endpoint=config["otlpEndpoint"] + "/v1/traces")
        self.provider.add_span_processor(
            BatchSpanProcessor(exporter, schedule_delay_millis=1000, max_queue_size=16384)
        )
        self.tracer = self.provider.get_tracer("conclab-workload-python")
        self.kind = SpanKind.SERVER
        self.propagator = TraceContextTextMapPropagator()

    def start(self, headers, arrival_ns, identity):
        parent = self.propagator.extract(headers)
        span = self.tracer.start_span("GET /work", context=parent, kind=self.kind, start_time=arrival_ns)
        if span.is_recording():
            span.set_attributes(self.common)
            span.set_attribute("conclab.worker", identity["worker"])
            span.set_attribute("process.pid", identity["pid"])
            span.set_attribute("thread.id", identity["threadId"])
            span.set_attribute("conclab.queue_time_ms", max(0.0, (time.time_ns() - arrival_ns) / 1e6))
        return span

    def end(self, span, status):
        if span.is_recording():
            span.set_attribute("http.response.status_code", status)
        span.end()

    def shutdown(self):
        try:
            self.provider.shutdown()
        except Exception:  # noqa: BLE001 - a failing exporter must not block shutdown
            pass
