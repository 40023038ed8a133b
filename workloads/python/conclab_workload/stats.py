"""GET /stats: the contract's SupervisorStats (operator/contracts/supervisor.ts), assembled from the
supervisor's state, its event log, the cgroup or /proc counters, and the host facts."""

import os
import time

from .cgroup_usage import read_cgroup_usage
from .proc import context_switches, process_memory, process_tree_usage

TREE_SOURCE = "process tree (/proc; approximate)"


def affinity_limits(reason):
    cpus = sorted(os.sched_getaffinity(0))
    return {
        "cpuCores": len(cpus),
        "memoryBytes": 0,
        "source": f"affinity: {len(cpus)} CPUs ({','.join(map(str, cpus))}), no quota read ({reason}); "
        "memory limit not read (0 = none)",
    }


def usage(supervisor):
    """Cgroup counters when the group is the workload's own, else the process tree, marked approximate."""
    config = supervisor.config
    reason = "CONCLAB_OWN_CGROUP is not true"
    if config["ownCgroup"]:
        try:
            return read_cgroup_usage(config["cgroupRoot"])
        except (OSError, ValueError) as error:
            reason = f"CONCLAB_OWN_CGROUP=true but the cgroup cannot be read: {error}"
    tree = process_tree_usage(supervisor.pid, supervisor.worker_pids())
    return {
        "source": f"{TREE_SOURCE}: {reason}",
        "cpuSeconds": tree["cpuSeconds"],
        "throttledPeriods": 0,
        "throttledSeconds": 0,
        "peakMemoryBytes": tree["peakMemoryBytes"],
        "limits": affinity_limits(reason),
    }


def processes(supervisor):
    """Memory of every process of the workload (only with ?detail=1: it walks the page tables)."""
    if supervisor.config["model"] != "process":
        memory = process_memory(supervisor.pid)
        return [] if memory is None else [{"pid": supervisor.pid, "role": "process", **memory}]
    out = []
    memory = process_memory(supervisor.pid)
    if memory is not None:
        out.append({"pid": supervisor.pid, "role": "supervisor", **memory})
    for slot in supervisor.slots:
        if slot.alive and slot.pid:
            memory = process_memory(slot.pid)
            if memory is not None:
                out.append({"pid": slot.pid, "role": "worker", "worker": slot.index, **memory})
    return out


def tracing(supervisor):
    out = {"enabled": supervisor.traced}
    if supervisor.traced:
        out["sampleRatio"] = supervisor.config["otel"]["sampler"]["ratio"]
    elif supervisor.tracing_detail:
        out["detail"] = supervisor.tracing_detail
    return out


def build_stats(supervisor, since=0, detail=False):
    now = time.monotonic()
    config = supervisor.config
    shared = supervisor.shared_totals()
    body = {
        "model": config["model"],
        "pid": supervisor.pid,
        "port": supervisor.port,
        "adminPort": supervisor.admin_port,
        "ready": supervisor.is_ready(),
        "startedAtMillis": supervisor.started_at_millis,
        "readyAtMillis": supervisor.ready_at_millis,
        "restarts": supervisor.restarts,
        "lostUpdates": 0 if shared is None else shared["attempts"] - shared["value"],
        "sharedState": shared,
        "cpuIterationsPerMilli": supervisor.iterations_per_milli,
        "workers": [
            {
                "worker": s.index,
                "pid": s.pid,
                "threadId": s.thread_id,
                "requests": s.requests_before + s.requests,
                "errors": s.errors_before + s.errors,
                "alive": s.alive,
                "serving": supervisor.serving(s, now),
                "startedAt": s.started_at,
                "replacedCount": s.replaced_count,
            }
            for s in supervisor.slots
        ],
        "events": supervisor.events.since(since),
        "usage": usage(supervisor),
        "contextSwitches": context_switches([supervisor.pid, *supervisor.worker_pids()]),
        "host": supervisor.host,
        "tracing": tracing(supervisor),
    }
    if config["replica"] is not None:
        body["replica"] = config["replica"]
    if detail:
        body["processes"] = processes(supervisor)
    return body
