"""marathon-python 0.13 serializes nested objects on Python 3.10+ via our compat.

Without the ``collections.Iterable`` alias in framework/clients/marathon_compat.py,
``to_json`` of an app with a health check raises AttributeError on 3.10+.
"""

from __future__ import annotations

import collections
import collections.abc
import json

from framework.clients import marathon_compat
from framework.clients.marathon_compat import marathon


def test_app_with_health_check_serializes_to_marathon_json() -> None:
    app = marathon.MarathonApp(
        id="/team/web",
        cmd="python3 -m http.server $PORT0",
        cpus=0.5,
        mem=64,
        instances=2,
        health_checks=[
            marathon.models.MarathonHealthCheck(
                protocol="HTTP",
                path="/health",
                port_index=0,
                grace_period_seconds=30,
                interval_seconds=5,
                max_consecutive_failures=3,
            )
        ],
        constraints=[marathon.MarathonConstraint("hostname", "UNIQUE")],
        upgrade_strategy=marathon.models.app.MarathonUpgradeStrategy(
            minimum_health_capacity=1.0, maximum_over_capacity=0.5
        ),
    )

    data = json.loads(app.to_json())

    assert data["id"] == "/team/web"
    assert data["healthChecks"] == [
        {
            "protocol": "HTTP",
            "path": "/health",
            "portIndex": 0,
            "gracePeriodSeconds": 30,
            "intervalSeconds": 5,
            "maxConsecutiveFailures": 3,
        }
    ]
    assert data["constraints"] == [["hostname", "UNIQUE"]]
    assert data["upgradeStrategy"] == {
        "minimumHealthCapacity": 1.0,
        "maximumOverCapacity": 0.5,
    }


def test_app_round_trips_through_from_json() -> None:
    source = {
        "id": "/web",
        "cmd": "sleep 100",
        "healthChecks": [{"protocol": "TCP", "portIndex": 0}],
    }
    app = marathon.MarathonApp.from_json(source)
    assert json.loads(app.to_json())["healthChecks"] == [
        {"protocol": "TCP", "portIndex": 0}
    ]


def test_alias_is_the_standard_abc_and_applying_twice_is_harmless() -> None:
    marathon_compat.apply()
    marathon_compat.apply()
    assert collections.Iterable is collections.abc.Iterable  # type: ignore[attr-defined]
