"""The local cluster: single-process stand-ins for Mesos, Marathon and Consul.

They speak the real wire protocols (see ../shared/reference/wire-protocols.md
and docs/ARCHITECTURE.md), run tasks as real local processes and real health
checks, so the same client code runs unchanged against them and against a real
cluster. They are for development, tests and demos, like `nomad agent -dev`.
"""
