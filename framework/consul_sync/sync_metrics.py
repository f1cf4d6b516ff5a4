"""The sync loop's Prometheus metrics and their text rendering.

Lags are measured from the status timestamp Mesos gave the event (task
running or ended) to the moment our Consul write returned; only tasks whose
change we saw on the event stream count (a task found running at start-up has
no meaningful lag). Values are updated from the loop's threads under one lock.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass, field

from framework.metrics import Histogram, family, histogram, render

LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
PASS_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass
class SyncMetrics:
    register_lag: Histogram = field(default_factory=lambda: Histogram(LAG_BUCKETS))
    deregister_lag: Histogram = field(default_factory=lambda: Histogram(LAG_BUCKETS))
    pass_seconds: Histogram = field(default_factory=lambda: Histogram(PASS_BUCKETS))
    writes: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    drift_repaired_total: int = 0
    drift_last_pass: int = 0
    passes: int = 0
    leader: bool = False
    # The latest raw lags (seconds), for exact percentiles in benchmarks.
    register_samples: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    deregister_samples: deque[float] = field(
        default_factory=lambda: deque(maxlen=10_000)
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wrote(self, kind: str) -> None:
        with self._lock:
            self.writes[kind] += 1

    def failed(self, source: str) -> None:
        with self._lock:
            self.errors[source] += 1

    def observe_register(self, lag: float) -> None:
        with self._lock:
            self.register_lag.observe(max(lag, 0.0))
            self.register_samples.append(max(lag, 0.0))

    def observe_deregister(self, lag: float) -> None:
        with self._lock:
            self.deregister_lag.observe(max(lag, 0.0))
            self.deregister_samples.append(max(lag, 0.0))

    def finished_pass(self, seconds: float, repaired: int) -> None:
        with self._lock:
            self.passes += 1
            self.pass_seconds.observe(seconds)
            self.drift_last_pass = repaired
            self.drift_repaired_total += repaired

    def render(self) -> str:
        with self._lock:
            return render(
                [
                    histogram(
                        "mesos_adapter_sync_register_lag_seconds",
                        "From a task running and healthy to its passing Consul entry.",
                        self.register_lag,
                    ),
                    histogram(
                        "mesos_adapter_sync_deregister_lag_seconds",
                        "From a task's end to its deregistration.",
                        self.deregister_lag,
                    ),
                    histogram(
                        "mesos_adapter_sync_pass_seconds",
                        "Duration of a full anti-entropy pass.",
                        self.pass_seconds,
                    ),
                    family(
                        "mesos_adapter_sync_writes_total",
                        "counter",
                        "Consul writes, by kind.",
                        [
                            ({"kind": k}, float(v))
                            for k, v in sorted(self.writes.items())
                        ],
                    ),
                    family(
                        "mesos_adapter_sync_errors_total",
                        "counter",
                        "Failed calls, by backend.",
                        [
                            ({"source": k}, float(v))
                            for k, v in sorted(self.errors.items())
                        ],
                    ),
                    family(
                        "mesos_adapter_sync_drift_repaired",
                        "gauge",
                        "Instructions the last anti-entropy pass carried out.",
                        [({}, float(self.drift_last_pass))],
                    ),
                    family(
                        "mesos_adapter_sync_drift_repaired_total",
                        "counter",
                        "Instructions carried out by anti-entropy passes.",
                        [({}, float(self.drift_repaired_total))],
                    ),
                    family(
                        "mesos_adapter_sync_passes_total",
                        "counter",
                        "Anti-entropy passes completed.",
                        [({}, float(self.passes))],
                    ),
                    family(
                        "mesos_adapter_sync_leader",
                        "gauge",
                        "1 while this process holds the leader lock.",
                        [({}, 1.0 if self.leader else 0.0)],
                    ),
                ]
            )
