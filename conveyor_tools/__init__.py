"""Conveyor's tooling: the `conveyor` command, the local dev stack, demo data and benchmarks.

Nothing under `conveyor/` (the runtime library the services share) imports from here; the
services never pull this package in. Tooling may use the runtime library and the components.
"""
