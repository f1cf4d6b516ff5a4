"""The Consul sync loop: every healthy Mesos task discoverable in Consul, nothing stale.

Observe (``world``: Mesos operator events, Marathon events; ``consul_state``:
Consul entries) → decide (``planner.plan_sync``, pure) → act (``executor``),
driven by ``loop.SyncLoop`` under a Consul leader lock (``leader``).
Only entries carrying our owner marker and cluster name are ever touched.
"""
