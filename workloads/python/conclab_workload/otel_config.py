"""Tracing is configured only by the standard OpenTelemetry environment variables, as users configure
any OpenTelemetry SDK. The Python SDK reads them itself (the sampler, the resource, the endpoint and
headers); this pure module decides whether tracing is on, checks every value so that a bad one stops
the workload with a message naming it (the SDK would log a warning and fall back to a default), and
works out the two things the SDK gets wrong or does not say: the export timeout (the spec says
milliseconds, the Python exporter reads seconds) and the sampling ratio in force."""

import urllib.parse

SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)
DEFAULT_TIMEOUT_MILLIS = 10_000


def _value(env, name):
    raw = (env.get(name) or "").strip()
    return raw or None


def parse_key_value_list(text):
    """A W3C-baggage-style list "k1=v1,k2=v2" with percent-encoded values: a dict, or why not."""
    out = {}
    for part in text.split(","):
        if part.strip() == "":
            continue
        key, eq, raw = part.partition("=")
        if not eq or key.strip() == "":
            return f'"{part.strip()}" is not key=value'
        out[key.strip()] = urllib.parse.unquote(raw.strip())
    return out


def _key_values(env, name, problems, example):
    raw = _value(env, name)
    if raw is None:
        return {}
    parsed = parse_key_value_list(raw)
    if isinstance(parsed, str):
        problems.append(f"{name}={raw!r} is invalid: {parsed}; expected a list such as {example}")
        return {}
    return parsed


def _http_url(env, name, problems):
    raw = _value(env, name)
    if raw is None:
        return None
    parsed = urllib.parse.urlparse(raw)
    if parsed.scheme in ("http", "https") and parsed.netloc:
        return raw
    problems.append(f"{name}={raw!r} is invalid: expected an http(s) URL such as http://127.0.0.1:4318")
    return None


def _sampler(env, problems):
    name = _value(env, "OTEL_TRACES_SAMPLER")
    default = {"name": "parentbased_always_on", "parentBased": True, "ratio": 1.0}
    if name is None:
        return default
    if name not in SAMPLERS:
        problems.append(f"OTEL_TRACES_SAMPLER={name!r} is not supported: expected one of {', '.join(SAMPLERS)}")
        return default
    parent_based = name.startswith("parentbased_")
    if name.endswith("always_on"):
        return {"name": name, "parentBased": parent_based, "ratio": 1.0}
    if name.endswith("always_off"):
        return {"name": name, "parentBased": parent_based, "ratio": 0.0}
    arg = _value(env, "OTEL_TRACES_SAMPLER_ARG")
    if arg is None:  # the spec's default argument of the ratio samplers
        return {"name": name, "parentBased": parent_based, "ratio": 1.0}
    try:
        ratio = float(arg)
    except ValueError:
        ratio = -1.0
    if not 0 <= ratio <= 1:
        problems.append(f"OTEL_TRACES_SAMPLER_ARG={arg!r} is invalid: expected a ratio from 0 to 1 for {name}")
        return {"name": name, "parentBased": parent_based, "ratio": 1.0}
    return {"name": name, "parentBased": parent_based, "ratio": ratio}


def _timeout_millis(env, problems):
    name = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT" if _value(env, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") else "OTEL_EXPORTER_OTLP_TIMEOUT"
    raw = _value(env, name)
    if raw is None:
        return DEFAULT_TIMEOUT_MILLIS
    try:
        millis = float(raw)
    except ValueError:
        millis = -1.0
    if millis < 0 or not millis.is_integer():
        problems.append(f"{name}={raw!r} is invalid: expected a whole number of milliseconds (>= 0)")
        return DEFAULT_TIMEOUT_MILLIS
    return int(millis)


def parse_otel_config(env, problems):
    """The tracing part of the configuration; appends a message per bad variable to problems.
    enabled: spans are recorded and exported (not disabled, exporter not none, an endpoint set).
    detail: why tracing is off when a variable turned it off; None when nothing asked for it."""
    off = {
        "enabled": False,
        "detail": None,
        "sampler": {"name": "parentbased_always_on", "parentBased": True, "ratio": 1.0},
        "tracesUrl": None,
        "timeoutMillis": DEFAULT_TIMEOUT_MILLIS,
    }
    disabled = _value(env, "OTEL_SDK_DISABLED")
    if disabled is not None and disabled.lower() == "true":
        # A disabled SDK reads nothing else: the launcher sets it when tracing is off.
        return {**off, "detail": "OTEL_SDK_DISABLED=true"}
    if disabled is not None and disabled.lower() != "false":
        problems.append(f"OTEL_SDK_DISABLED={disabled!r} is invalid: expected true or false")
    exporters = [e.strip() for e in (_value(env, "OTEL_TRACES_EXPORTER") or "otlp").split(",")]
    if any(e not in ("otlp", "none", "") for e in exporters):
        problems.append(
            f"OTEL_TRACES_EXPORTER={env.get('OTEL_TRACES_EXPORTER')!r} is not supported: "
            "the Python workload exports with otlp only (or none)"
        )
    protocol_name = (
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL" if _value(env, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") else "OTEL_EXPORTER_OTLP_PROTOCOL"
    )
    protocol = _value(env, protocol_name)
    if protocol is not None and protocol != "http/protobuf":
        problems.append(
            f"{protocol_name}={protocol!r} is not supported: the Python workload exports OTLP over "
            "http/protobuf only; unset it or set http/protobuf"
        )
    traces_url = _http_url(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", problems)
    base = _http_url(env, "OTEL_EXPORTER_OTLP_ENDPOINT", problems)
    if traces_url is None and base is not None:
        traces_url = base.rstrip("/") + "/v1/traces"
    for name in ("OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"):
        _key_values(env, name, problems, "authorization=Bearer%20abc")
    _key_values(env, "OTEL_RESOURCE_ATTRIBUTES", problems, "deployment.environment=lab,team=perf")
    config = {
        **off,
        "sampler": _sampler(env, problems),
        "tracesUrl": traces_url,
        "timeoutMillis": _timeout_millis(env, problems),
    }
    if "none" in exporters:
        return {**config, "detail": "OTEL_TRACES_EXPORTER=none"}
    return {**config, "enabled": traces_url is not None}


def user_sets_service_name(env):
    """OTEL_SERVICE_NAME or service.name in OTEL_RESOURCE_ATTRIBUTES: then the workload's default
    service name must not override it."""
    if _value(env, "OTEL_SERVICE_NAME"):
        return True
    attributes = parse_key_value_list(_value(env, "OTEL_RESOURCE_ATTRIBUTES") or "")
    return isinstance(attributes, dict) and bool(attributes.get("service.name"))
