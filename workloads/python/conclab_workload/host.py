"""The machine as the supervisor sees it (contract HostFacts), read once at start."""

import os
import platform
import socket


def cpu_model(cpuinfo_text):
    for line in cpuinfo_text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "cpu model", "Processor") and value.strip():
            return value.strip()
    return platform.processor() or platform.machine() or "unknown"


def host_facts(cgroup_version):
    try:
        with open("/proc/cpuinfo") as f:
            model = cpu_model(f.read())
    except OSError:
        model = platform.machine() or "unknown"
    return {
        "hostname": socket.gethostname(),
        "cores": len(os.sched_getaffinity(0)),
        "cpuModel": model,
        "kernel": os.uname().release,
        "cgroupVersion": cgroup_version,
        "runtime": f"{platform.python_implementation().lower()} {platform.python_version()}",
    }
