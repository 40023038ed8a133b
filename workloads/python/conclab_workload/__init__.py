"""conclab's Python workload as a package: one module per concern, mirroring workloads/node/.
The entry point is ../main.py (`python3 workloads/python/main.py`), which calls main.main()."""
