"""Resource use of the supervisor's own cgroup (CONCLAB_OWN_CGROUP=true: a container, or the local
runtime's per-replica group), from the kernel's counters: CPU time, CFS throttling, peak memory, OOM
kills and the limits in force. The group is found from /proc/self/cgroup; its directory is
ROOT/<mount>/<path> (v1) or ROOT/<path> (v2) when that exists, else the mount root: inside a
container the container's own group is what is mounted there. ROOT is CONCLAB_CGROUP_ROOT
(/sys/fs/cgroup), so tests can point it at a FAKE tree. Parsers are pure; read_cgroup_usage is the
thin shell that reads the files."""

import os

# v1 reports "no limit" as a page-aligned huge number (9223372036854771712).
V1_UNLIMITED = 2**62
V1_CONTROLLERS = ("cpu", "cpuacct", "memory")


def parse_proc_cgroup(text):
    """/proc/self/cgroup as {controller: path}; the v2 entry under "", and the mount names seen for
    each v1 controller (e.g. "cpu,cpuacct") under (controller, "mount")."""
    out = {}
    for line in text.splitlines():
        parts = line.strip().split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            out[""] = path
            continue
        for controller in controllers.split(","):
            if controller.startswith("name="):
                continue
            out[controller] = path
            out[(controller, "mount")] = controllers
    return out


def parse_keyed(text):
    """ "key value" lines (cpu.stat, memory.events, memory.oom_control) as {key: int}."""
    out = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 2:
            try:
                out[fields[0]] = int(fields[1])
            except ValueError:
                pass
    return out


def detect_version(root, isfile=os.path.isfile, isdir=os.path.isdir):
    """v2 when the unified hierarchy is mounted at root, v1 when the v1 controllers are, else none."""
    if isfile(os.path.join(root, "cgroup.controllers")):
        return "v2"
    if any(isdir(os.path.join(root, c)) for c in ("cpuacct", "cpu,cpuacct", "memory")):
        return "v1"
    return "none"


def _inside(mount_dir, path, isdir):
    candidate = os.path.join(mount_dir, path.lstrip("/"))
    return candidate if path not in ("", "/") and isdir(candidate) else mount_dir


def group_dirs(root, version, proc_cgroup, isdir=os.path.isdir):
    """{cpu, cpuacct, memory}: the directory each controller's files are read from."""
    if version == "v2":
        d = _inside(root, proc_cgroup.get("", "/"), isdir)
        return {"cpu": d, "cpuacct": d, "memory": d}
    dirs = {}
    for controller in V1_CONTROLLERS:
        names = [proc_cgroup.get((controller, "mount"), controller), controller, "cpu,cpuacct", "cpuacct,cpu"]
        mount = next((os.path.join(root, n) for n in names if isdir(os.path.join(root, n))), None)
        if mount is None:
            raise FileNotFoundError(f"no cgroup v1 {controller} hierarchy under {root}")
        dirs[controller] = _inside(mount, proc_cgroup.get(controller, "/"), isdir)
    return dirs


def _int(text, file):
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"cannot parse {file}: {text.strip()!r}") from None


def parse_v1(files):
    """files: cpuacct.usage, cpu.stat, memory.max_usage_in_bytes, memory.oom_control (may be ""),
    cpu.cfs_quota_us, cpu.cfs_period_us, memory.limit_in_bytes (contents as read)."""
    stat = parse_keyed(files["cpu.stat"])
    quota = _int(files["cpu.cfs_quota_us"], "cpu.cfs_quota_us")
    period = _int(files["cpu.cfs_period_us"], "cpu.cfs_period_us")
    memory = _int(files["memory.limit_in_bytes"], "memory.limit_in_bytes")
    return {
        "cpuSeconds": _int(files["cpuacct.usage"], "cpuacct.usage") / 1e9,
        "throttledPeriods": stat.get("nr_throttled", 0),
        "throttledSeconds": stat.get("throttled_time", 0) / 1e9,
        "peakMemoryBytes": _int(files["memory.max_usage_in_bytes"], "memory.max_usage_in_bytes"),
        "oomKills": parse_keyed(files["memory.oom_control"]).get("oom_kill", 0),
        "limits": {
            "cpuCores": 0 if quota < 0 or period <= 0 else quota / period,
            "memoryBytes": 0 if memory >= V1_UNLIMITED else memory,
            "source": f"cgroup v1: cpu.cfs_quota_us={quota} cpu.cfs_period_us={period} memory.limit_in_bytes={memory}",
        },
    }


def parse_v2(files):
    """files: cpu.stat, memory.peak (or memory.current on kernels before 5.19), memory.events,
    cpu.max, memory.max (contents as read)."""
    stat = parse_keyed(files["cpu.stat"])
    if "usage_usec" not in stat:
        raise ValueError(f"cpu.stat has no usage_usec: {files['cpu.stat']!r}")
    quota_text, _, period_text = files["cpu.max"].strip().partition(" ")
    period = _int(period_text or "100000", "cpu.max")
    memory_text = files["memory.max"].strip()
    return {
        "cpuSeconds": stat["usage_usec"] / 1e6,
        "throttledPeriods": stat.get("nr_throttled", 0),
        "throttledSeconds": stat.get("throttled_usec", 0) / 1e6,
        "peakMemoryBytes": _int(files["memory.peak"], "memory.peak"),
        "oomKills": parse_keyed(files["memory.events"]).get("oom_kill", 0),
        "limits": {
            "cpuCores": 0 if quota_text == "max" else _int(quota_text, "cpu.max") / period,
            "memoryBytes": 0 if memory_text == "max" else _int(memory_text, "memory.max"),
            "source": f'cgroup v2: cpu.max="{files["cpu.max"].strip()}" memory.max={memory_text}',
        },
    }


def _read(directory, name, default=None):
    try:
        with open(os.path.join(directory, name)) as f:
            return f.read()
    except FileNotFoundError:
        if default is None:
            raise
        return default


def _identity(dirs):
    parts = []
    for d in dict.fromkeys(dirs.values()):
        try:
            parts.append(f"{d}#{os.stat(d).st_ino}")
        except OSError:
            parts.append(d)
    return " ".join(parts)


def read_cgroup_usage(root, proc_cgroup_text=None):
    """The contract's CgroupUsage of this process's group; raises OSError/ValueError saying why not."""
    if proc_cgroup_text is None:
        with open("/proc/self/cgroup") as f:
            proc_cgroup_text = f.read()
    version = detect_version(root)
    if version == "none":
        raise FileNotFoundError(f"no cgroup hierarchy is mounted at {root}")
    dirs = group_dirs(root, version, parse_proc_cgroup(proc_cgroup_text))
    if version == "v1":
        cpu, cpuacct, memory = dirs["cpu"], dirs["cpuacct"], dirs["memory"]
        usage = parse_v1(
            {
                "cpuacct.usage": _read(cpuacct, "cpuacct.usage"),
                "cpu.stat": _read(cpu, "cpu.stat"),
                "memory.max_usage_in_bytes": _read(memory, "memory.max_usage_in_bytes"),
                "memory.oom_control": _read(memory, "memory.oom_control", ""),
                "cpu.cfs_quota_us": _read(cpu, "cpu.cfs_quota_us"),
                "cpu.cfs_period_us": _read(cpu, "cpu.cfs_period_us"),
                "memory.limit_in_bytes": _read(memory, "memory.limit_in_bytes"),
            }
        )
        at = ", ".join(dict.fromkeys([cpuacct, cpu, memory]))
        source = f"cgroup v1 cpuacct.usage, cpu.stat, memory.max_usage_in_bytes at {at}"
    else:
        d = dirs["cpu"]
        peak = _read(d, "memory.peak", "")
        peak_file = "memory.peak"
        if peak == "":
            # Kernels before 5.19 have no memory.peak; the current usage is a lower bound of it.
            peak, peak_file = _read(d, "memory.current"), "memory.current (no memory.peak: a lower bound)"
        usage = parse_v2(
            {
                "cpu.stat": _read(d, "cpu.stat"),
                "memory.peak": peak,
                "memory.events": _read(d, "memory.events", ""),
                "cpu.max": _read(d, "cpu.max"),
                "memory.max": _read(d, "memory.max"),
            }
        )
        source = f"cgroup v2 cpu.stat, {peak_file}, memory.events at {d}"
    return {"source": source, "cgroupId": _identity(dirs), **usage}
