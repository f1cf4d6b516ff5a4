"""mesos-adapter: a control plane for mixed work on Apache Mesos.

Batch and Spark jobs packed onto Mesos offers, Marathon services deployed with
plans, health gates and canaries, and every healthy task mirrored into Consul.
See docs/ARCHITECTURE.md for the layers and how data flows between them.
"""

__version__ = "0.1.0"
