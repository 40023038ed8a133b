"""The workload's whole configuration, read once from the environment so that the same program runs
as a local process or in a pod. parse_config is pure: it takes the environment as a mapping and
either returns a complete config or raises one error naming every bad variable. Tracing is
configured only by the standard OTEL_* variables (otel_config.py)."""

import json
import math

from .otel_config import parse_otel_config

MODELS = ("process", "thread", "offload")
PROFILES = ("cpu", "io", "mixed", "shared-state")
FAULT_KINDS = ("exit", "abort", "throw", "hang", "leak")

# Variables an older launcher may still set: ignored, with a warning naming the replacement.
REMOVED = {
    "CONCLAB_TRACING": "tracing is on when OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT is set; "
    "OTEL_SDK_DISABLED=true turns it off",
    "CONCLAB_TRACE_SAMPLE_RATIO": "use OTEL_TRACES_SAMPLER=parentbased_traceidratio and OTEL_TRACES_SAMPLER_ARG=<ratio>",
}


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

    otel = parse_otel_config(env, problems)
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
    replica_raw = env.get("CONCLAB_REPLICA", "")
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
        "replica": None if replica_raw == "" else number("CONCLAB_REPLICA", 0, 0, 1_000_000, True),
        "run": env.get("CONCLAB_RUN", ""),
        "ownCgroup": boolean("CONCLAB_OWN_CGROUP", False),
        "cgroupRoot": env.get("CONCLAB_CGROUP_ROOT") or "/sys/fs/cgroup",
        "otel": otel,
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
        "warnings": [f"{name} is no longer read: {instead}" for name, instead in REMOVED.items() if name in env],
    }
    if config["port"] != 0 and config["port"] == config["adminPort"]:
        problems.append(
            f"CONCLAB_PORT and CONCLAB_ADMIN_PORT are both {config['port']}; give them different ports"
        )
    if problems:
        raise ConfigError("conclab workload: bad environment:\n  " + "\n  ".join(problems))
    return config
