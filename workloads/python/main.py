#!/usr/bin/env python3
"""conclab's Python workload: the same handler served as N pre-forked processes, N threads, or one
acceptor with a pool of N threads, configured only by environment variables (README.md has the
table; it is the Node workload's contract). CPython 3.11 or later; the code is the conclab_workload
package next to this file, which Python finds because this file's directory is first on sys.path.

    CONCLAB_MODEL=thread CONCLAB_WORKERS=4 CONCLAB_PORT=0 CONCLAB_ADMIN_PORT=0 python3 workloads/python/main.py
"""

from conclab_workload.main import main

if __name__ == "__main__":
    main()
