"""What /proc tells about the workload's own processes: CPU time and peak memory of the process tree
(when no cgroup is the workload's own), context switches and run-queue wait of every thread, per-
process memory from smaps_rollup, and when a process started. Parsers are pure; readers skip a
process or thread that ends while it is read."""

import os
import time

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def parse_stat(text):
    """/proc/PID/stat fields after the command name (which may hold spaces and parentheses)."""
    return text[text.rindex(")") + 2 :].split()


def _read(path):
    with open(path) as f:
        return f.read()


def cpu_ticks(pid, with_children):
    """utime + stime (+ cutime + cstime: children that were waited for, i.e. reaped workers)."""
    fields = parse_stat(_read(f"/proc/{pid}/stat"))
    # fields[0] is field 3 (state); utime, stime, cutime, cstime are fields 14 to 17.
    ticks = int(fields[11]) + int(fields[12])
    if with_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks


def status_fields(text, names):
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in names:
            out[key] = int(value.split()[0])
    return out


def process_tree_usage(supervisor_pid, worker_pids):
    """CPU seconds and summed peak RSS (VmHWM; shared pages counted per process) of the supervisor
    and its live workers. A reaped worker's CPU time is in the supervisor's cutime/cstime; its peak
    memory is lost with it, so the figure is approximate."""
    ticks = 0
    peak = 0
    for pid in [supervisor_pid, *worker_pids]:
        try:
            ticks += cpu_ticks(pid, pid == supervisor_pid)
            peak += status_fields(_read(f"/proc/{pid}/status"), ("VmHWM",)).get("VmHWM", 0) * 1024
        except (OSError, ValueError, IndexError):
            continue
    return {"cpuSeconds": ticks / CLOCK_TICKS, "peakMemoryBytes": peak}


def context_switches(pids):
    """Sums over every thread of every live process: voluntary and involuntary switches and the
    run-queue wait from schedstat (absent when the kernel has no schedstats)."""
    voluntary = involuntary = tasks = 0
    wait_ns = 0
    have_schedstat = True
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            base = f"/proc/{pid}/task/{tid}"
            try:
                fields = status_fields(_read(f"{base}/status"), ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"))
            except OSError:
                continue
            voluntary += fields.get("voluntary_ctxt_switches", 0)
            involuntary += fields.get("nonvoluntary_ctxt_switches", 0)
            tasks += 1
            try:
                # schedstat: time on CPU, time waiting on a run queue (ns), timeslices.
                wait_ns += int(_read(f"{base}/schedstat").split()[1])
            except (OSError, ValueError, IndexError):
                have_schedstat = False
    out = {"voluntary": voluntary, "involuntary": involuntary, "tasks": tasks}
    if have_schedstat:
        out["runQueueWaitSeconds"] = wait_ns / 1e9
    return out


def parse_smaps_rollup(text):
    """Rss, Pss and USS (Private_Clean + Private_Dirty) in bytes."""
    kb = status_fields(text, ("Rss", "Pss", "Private_Clean", "Private_Dirty"))
    return {
        "rssBytes": kb.get("Rss", 0) * 1024,
        "pssBytes": kb.get("Pss", 0) * 1024,
        "ussBytes": (kb.get("Private_Clean", 0) + kb.get("Private_Dirty", 0)) * 1024,
    }


def process_memory(pid):
    """smaps_rollup of one process (a page-table walk: only asked for with ?detail=1), or None."""
    try:
        return parse_smaps_rollup(_read(f"/proc/{pid}/smaps_rollup"))
    except OSError:
        return None


def process_start_millis(pid, now_millis):
    """Epoch ms when the process started (10 ms ticks): its start time after boot, against the
    boot-time clock now."""
    try:
        start_ticks = int(parse_stat(_read(f"/proc/{pid}/stat"))[19])  # field 22, starttime
        since_boot_millis = time.clock_gettime(time.CLOCK_BOOTTIME) * 1000
        return now_millis - (since_boot_millis - start_ticks * 1000 / CLOCK_TICKS)
    except (OSError, ValueError, IndexError, AttributeError):
        return now_millis
