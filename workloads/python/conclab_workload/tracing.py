"""Manual SERVER spans with the OpenTelemetry SDK, one TracerProvider per serving process (made after
fork: the batch thread does not survive it). No HTTP auto-instrumentation: it costs far more than the
work being measured. Spans leave through a BatchSpanProcessor, so export happens off the request path.

The SDK reads the standard variables itself: OTEL_TRACES_SAMPLER/_ARG (the sampler),
OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (the resource), OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT
and _HEADERS (the exporter), OTEL_BSP_* (the batch processor). Only the export timeout is passed in:
the spec gives it in milliseconds and the Python exporter would read the variable as seconds.

Sampling is decided before any span object exists: a request without a traceparent draws its trace
id and applies the SDK's rule for a new trace to it, and only a sampled one enters start_span (an
unsampled request then costs a random number and a comparison, not a NonRecordingSpan with its
context, ids and sampling result). The drawn id is handed to the SDK through its IdGenerator, so
the span carries exactly the id that was sampled."""

import os
import threading
import time

from .otel_config import user_sets_service_name

SERVICE_NAME = "conclab-workload-python"
SPAN_NAME = "GET /work"
# The spec's default queue (2,048) drops spans at a few thousand requests/s at ratio 1.0 while one
# export is in flight; 16,384 spans cost a few MB at most. Same as the Node workload.
DEFAULT_MAX_QUEUE_SIZE = 16_384


def tracing_problem(config):
    """None when spans can be exported, else why not (logged once; the workload runs untraced)."""
    otel = config["otel"]
    if not otel["enabled"]:
        return otel["detail"] or "tracing is off: no OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT"
    try:
        import opentelemetry.exporter.otlp.proto.http.trace_exporter  # noqa: F401
        import opentelemetry.sdk.trace  # noqa: F401
    except ImportError as error:
        return (
            f"OpenTelemetry SDK not installed ({error.name}); install opentelemetry-sdk and "
            "opentelemetry-exporter-otlp-proto-http (workloads/python/requirements.txt) to export spans"
        )
    return None


def span_attributes(config, identity):
    """The attributes every span of one worker carries (set once per sampled span, as one dict)."""
    attributes = {
        "conclab.experiment": config["experiment"],
        "conclab.variant": config["variant"],
        "conclab.trial": config["trial"],
        "conclab.model": config["model"],
        "conclab.worker": identity["worker"],
        "process.pid": identity["pid"],
        "thread.id": identity["threadId"],
    }
    if config["run"]:
        attributes["conclab.run"] = config["run"]
    if config["replica"] is not None:
        attributes["conclab.replica"] = config["replica"]
    return attributes


class RequestTracer:
    def __init__(self, config):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
        from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
        from opentelemetry.sdk.trace.sampling import TraceIdRatioBased
        from opentelemetry.trace import SpanKind, StatusCode
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        class HandOffIds(RandomIdGenerator):
            """Returns the trace id this thread drew and sampled; a fresh one otherwise."""

            def __init__(self):
                self.local = threading.local()

            def generate_trace_id(self):
                chosen = getattr(self.local, "trace_id", 0)
                if chosen:
                    self.local.trace_id = 0
                    return chosen
                return super().generate_trace_id()

        class CountingExporter(SpanExporter):
            """Counts failed exports: the batch processor's force_flush reports success whatever
            the exporter said, and POST /flush must not claim spans arrived that did not."""

            def __init__(self, inner):
                self.inner = inner
                self.failures = 0

            def export(self, spans):
                try:
                    result = self.inner.export(spans)
                except Exception:  # noqa: BLE001 - counted, then re-raised for the processor to log
                    self.failures += 1
                    raise
                if result is not SpanExportResult.SUCCESS:
                    self.failures += 1
                return result

            def shutdown(self):
                self.inner.shutdown()

            def force_flush(self, timeout_millis=30000):
                return self.inner.force_flush(timeout_millis)

        ours = {"process.pid": os.getpid()}
        if not user_sets_service_name(os.environ):
            ours["service.name"] = SERVICE_NAME
        self.ids = HandOffIds()
        # No sampler argument: the SDK builds it from OTEL_TRACES_SAMPLER/_ARG (checked in otel_config).
        self.provider = TracerProvider(resource=Resource.create(ours), id_generator=self.ids, shutdown_on_exit=False)
        # The SDK's own rule for a new trace, with its public constants: always_on / always_off, or
        # the trace id's low 64 bits below TraceIdRatioBased's bound. The SDK applies its sampler
        # again in start_span to the same id, so a request it would not sample never gets a span.
        sampler = config["otel"]["sampler"]
        self.limit = TraceIdRatioBased.TRACE_ID_LIMIT
        if sampler["name"].endswith("traceidratio"):
            self.root_bound = TraceIdRatioBased.get_bound_for_rate(sampler["ratio"])
        else:
            self.root_bound = self.limit + 1 if sampler["ratio"] >= 1 else 0
        self.exporter = CountingExporter(OTLPSpanExporter(timeout=config["otel"]["timeoutMillis"] / 1000))
        queue_size = None if os.environ.get("OTEL_BSP_MAX_QUEUE_SIZE") else DEFAULT_MAX_QUEUE_SIZE
        self.provider.add_span_processor(BatchSpanProcessor(self.exporter, max_queue_size=queue_size))
        self.tracer = self.provider.get_tracer("conclab-workload-python")
        self.kind = SpanKind.SERVER
        self.error = StatusCode.ERROR
        self.propagator = TraceContextTextMapPropagator()
        self.config = config

    def start(self, traceparent, tracestate, arrival_ns, attributes):
        """The SERVER span of one request when it is sampled, else None. Started at the request's
        arrival, so its duration includes queueing."""
        if traceparent is None:
            trace_id = self.ids.generate_trace_id()
            if trace_id & self.limit >= self.root_bound:
                return None
            self.ids.local.trace_id = trace_id
            span = self.tracer.start_span(SPAN_NAME, kind=self.kind, start_time=arrival_ns)
            if not span.is_recording():
                return None
        else:
            carrier = {"traceparent": traceparent}
            if tracestate is not None:
                carrier["tracestate"] = tracestate
            parent = self.propagator.extract(carrier)
            span = self.tracer.start_span(SPAN_NAME, context=parent, kind=self.kind, start_time=arrival_ns)
            if not span.is_recording():
                return None
        span.set_attributes(attributes)
        span.set_attribute("conclab.queue_time_ms", max(0.0, (time.time_ns() - arrival_ns) / 1e6))
        return span

    def end(self, span, status, shared_state_cost_ms):
        span.set_attribute("http.response.status_code", status)
        if shared_state_cost_ms is not None:
            span.set_attribute("conclab.shared_state_cost_ms", shared_state_cost_ms)
        if status >= 500:
            span.set_status(self.error)
        span.end()

    def flush(self):
        """Exports what the batch processor holds; blocks until done (the caller bounds the wait).
        False when an export failed meanwhile: those spans are lost, not delivered."""
        failures = self.exporter.failures
        try:
            flushed = bool(self.provider.force_flush())
        except Exception:  # noqa: BLE001 - a failing exporter is a failed flush, not a dead worker
            return False
        return flushed and self.exporter.failures == failures

    def shutdown(self):
        try:
            self.provider.shutdown()
        except Exception:  # noqa: BLE001 - a failing exporter must not block shutdown
            pass
