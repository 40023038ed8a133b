"""The entry: configuration, calibration, the supervisor, signals. ../main.py calls main()."""

import os
import signal
import sys
import threading
import warnings

from .config import ConfigError, parse_config
from .cpu_work import calibrate
from .log import log_event
from .supervisor import Supervisor
from .tracing import RequestTracer, tracing_problem

# CPython 3.12+ warns on fork() while other threads run (here: the admin server). The forked worker
# touches no lock another thread could hold: it logs with os.write, never through sys.stdout.
warnings.filterwarnings("ignore", message=r"This process .* is multi-threaded", category=DeprecationWarning)


def main():
    try:
        config = parse_config(os.environ)
    except ConfigError as error:
        log_event("error", message=str(error))
        sys.stderr.write(f"{error}\n")
        sys.exit(2)
    for warning in config["warnings"]:
        sys.stderr.write(f"conclab workload: {warning}\n")
    problem = tracing_problem(config)
    if problem is not None:
        log_event("tracing", enabled=False, reason=problem)
    # /stats names why spans are missing only when something asked for them.
    asked = config["otel"]["enabled"] or config["otel"]["detail"] is not None
    needs_cpu = config["profile"] != "io" and config["cpuMillis"] > 0
    rate = config["cpuIterationsPerMilli"] or (calibrate() if needs_cpu else 1)
    supervisor = Supervisor(config, rate, problem is None, problem if asked else None)
    if problem is None and config["model"] != "process":
        supervisor.tracer = RequestTracer(config)
    signal.set_wakeup_fd(supervisor.wake_w)
    signal.signal(signal.SIGTERM, lambda *_: supervisor.request_shutdown("SIGTERM"))
    signal.signal(signal.SIGINT, lambda *_: supervisor.request_shutdown("SIGINT"))
    if config["exitWithStdin"]:
        # conclab run holds the other end of stdin: EOF means it is gone (even SIGKILLed), and a
        # workload must not outlive the run that measures it.
        def watch_stdin():
            try:
                while os.read(0, 4096):
                    pass
            except OSError:
                pass
            supervisor.request_shutdown("parent-gone")

        threading.Thread(target=watch_stdin, name="stdin", daemon=True).start()
    supervisor.run()
