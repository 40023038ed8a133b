"""The workload's whole configuration, read once from the environment so that the same program runs
as a local process or in a pod. parse_config is pure: it takes the environment as a mapping and
either returns a complete config or raises one error naming every bad variable."""

import json
import math
import urllib.parse

MODELS = ("process", "thread", "offload")
PROFILES = ("cpu", "io", "mixed", "shared-state")
FAULT_KINDS = ("exit", "abort", "throw", "hang", "leak")


class ConfigError(Exception):
    pass


def parse_config(env):
    """Pure: the whole configuration from an environment mapping, or one error naming every bad variable."""
    problems = []

    def bad(name, raw, expected):
        problems.append(f"{name}={json.dumps(raw)} is invalid: expected {expected}")

    def one_of(name, values, fallback):
        raw = env.get(name, "")
        if raw == "":
            return fallback
        if raw in values:
            return raw
        bad(name, raw, "one of " + ", ".join(values))
        return fallback

    def number(name, fallback, lo, hi, integer):
        raw = env.get(name, "")
        if raw == "":
            return fallback
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < lo or value > hi or (integer and not value.is_integer()):
            bad(name, raw, f"{'an integer' if integer else 'a number'} from {lo} to {hi}")
            return fallback
        return int(value) if integer else value

    def boolean(name, fallback):
        raw = env.get(name, "")
        if raw == "":
            return fallback
        if raw in ("true", "1"):
            return True
        if raw in ("false", "0"):
            return False
        bad(name, raw, "true or false")
        return fallback

    otlp_raw = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    otlp = None
    if otlp_raw != "":
        parsed = urllib.parse.urlparse(otlp_raw)
        if parsed.scheme in ("http", "https") and parsed.netloc:
            otlp = otlp_raw.rstrip("/")
        else:
            bad("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_raw, "an http(s) base URL such as http://127.0.0.1:4318")
    workers = number("CONCLAB_WORKERS", 4, 1, 256, True)
    fault_raw = env.get("CONCLAB_FAULT_KIND", "")
    fault_kind = None if fault_raw in ("", "none") else one_of("CONCLAB_FAULT_KIND", FAULT_KINDS, "exit")
    fault_worker = number("CONCLAB_FAULT_WORKER", 0, 0, 255, True)
    if fault_kind is not None and fault_worker >= workers:
        problems.append(
            f"CONCLAB_FAULT_WORKER={fault_worker} is out of range: there are {workers} workers "
            f"(indices 0 to {workers - 1})"
        )
    heap_raw = env.get("CONCLAB_WORKER_HEAP_MB", "")
    rate_raw = env.get("CONCLAB_CPU_ITERATIONS_PER_MILLI", "")
    config = {
        "model": one_of("CONCLAB_MODEL", MODELS, "process"),
        "workers": workers,
        "host": env.get("CONCLAB_HOST") or "127.0.0.1",
        "port": number("CONCLAB_PORT", 8080, 0, 65535, True),
        "adminPort": number("CONCLAB_ADMIN_PORT", 8081, 0, 65535, True),
        "profile": one_of("CONCLAB_PROFILE", PROFILES, "cpu"),
        "cpuMillis": number("CONCLAB_CPU_MILLIS", 5, 0, 60_000, False),
        "ioMillis": number("CONCLAB_IO_MILLIS", 0, 0, 600_000, False),
        "responseBytes": number("CONCLAB_RESPONSE_BYTES", 256, 0, 16_777_216, True),
        "replaceWorkers": boolean("CONCLAB_REPLACE_WORKERS", True),
        "racy": boolean("CONCLAB_RACY", False),
        "experiment": env.get("CONCLAB_EXPERIMENT", ""),
        "variant": env.get("CONCLAB_VARIANT", ""),
        "trial": env.get("CONCLAB_TRIAL", ""),
        "tracing": boolean("CONCLAB_TRACING", otlp is not None),
        "otlpEndpoint": otlp,
        "traceSampleRatio": number("CONCLAB_TRACE_SAMPLE_RATIO", 0.1, 0, 1, False),
        "fault": None
        if fault_kind is None
        else {
            "kind": fault_kind,
            "worker": fault_worker,
            "afterMillis": number("CONCLAB_FAULT_AFTER_MILLIS", 0, 0, 86_400_000, False),
        },
        "shutdownTimeoutMillis": number("CONCLAB_SHUTDOWN_TIMEOUT_MILLIS", 10_000, 0, 3_600_000, False),
        "workerHeapMb": None if heap_raw == "" else number("CONCLAB_WORKER_HEAP_MB", 0, 16, 65536, True),
        "cpuIterationsPerMilli": None
        if rate_raw == ""
        else number("CONCLAB_CPU_ITERATIONS_PER_MILLI", 0, 1, 1e12, False),
        "exitWithStdin": boolean("CONCLAB_EXIT_WITH_STDIN", False),
    }
    if config["tracing"] and otlp is None and otlp_raw == "":
        problems.append(
            "CONCLAB_TRACING=true needs OTEL_EXPORTER_OTLP_ENDPOINT (the OTLP/HTTP base URL); "
            "set it or set CONCLAB_TRACING=false"
        )
    if config["port"] != 0 and config["port"] == config["adminPort"]:
        problems.append(
            f"CONCLAB_PORT and CONCLAB_ADMIN_PORT are both {config['port']}; give them different ports"
        )
    if problems:
        raise ConfigError("conclab workload: bad environment:\n  " + "\n  ".join(problems))
    return config
