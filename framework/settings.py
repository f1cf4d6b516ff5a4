"""One typed settings tree for every command, and where each value came from.

Sources, highest first: command-line flags, the environment, a TOML config file
(``--config``, ``$MESOS_ADAPTER_CONFIG`` or ``~/.config/mesos-adapter/config.toml``),
then the defaults written below. The environment uses the ecosystem's own names
where one exists (``MESOS_MASTER``, ``MARATHON_URL``, ``CONSUL_HTTP_ADDR``,
``CONSUL_HTTP_TOKEN``) and ``MESOS_ADAPTER_<SECTION>_<KEY>`` for the rest.

Invariants:

* ``load_settings`` either returns a complete, validated tree or raises
  ``ConfigError`` naming the source (``MESOS_MASTER``, ``config.toml:3``,
  ``--mesos-master``) and what is expected; it never returns half a tree.
* Secrets are ``Secret`` values: their ``str`` and ``repr`` are masked, so a
  settings object can be logged or printed without leaking them.
* The tree is frozen; commands receive it as ``settings=`` and never read the
  environment themselves.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from framework.errors import ConfigError


class Secret:
    """A string that never prints itself (tokens, passwords)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('****')"

    def __str__(self) -> str:
        return "****"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class MesosSettings:
    master: str = "127.0.0.1:5050"
    """Leading master as ``host:port``, or ``zk://host:port[,host:port]/path``."""
    principal: str | None = None
    """Framework principal for Mesos HTTP basic authentication."""
    secret: Secret | None = None
    """Framework secret that goes with ``principal``."""
    role: str = "*"
    """Role our frameworks subscribe with."""
    failover_timeout: float = 604800.0
    """Seconds Mesos keeps our tasks while the scheduler is away (one week)."""


@dataclass(frozen=True)
class MarathonSettings:
    url: str = "http://127.0.0.1:8080"
    """One or more Marathon base URLs, comma-separated, tried in order."""
    username: str | None = None
    password: Secret | None = None


@dataclass(frozen=True)
class ConsulSettings:
    addr: str = "127.0.0.1:8500"
    """Consul agent as ``host:port`` or ``http(s)://host:port`` (Consul's own form)."""
    token: Secret | None = None
    """ACL token sent as ``X-Consul-Token``."""
    datacenter: str | None = None


@dataclass(frozen=True)
class SchedulerSettings:
    state_path: str = "~/.local/state/mesos-adapter/scheduler.sqlite"
    """SQLite file (WAL) holding jobs, attempts and the framework id."""
    refuse_seconds: float = 5.0
    """How long Mesos holds back a declined offer's resources from us."""
    policy: str = "binpack"
    """Placement policy: ``binpack`` (utilization first) or ``spread``."""
    api_port: int = 8090
    """Port the scheduler's HTTP API listens on (127.0.0.1)."""
    api_url: str = "http://127.0.0.1:8090"
    """Where ``jobs`` commands reach the scheduler's HTTP API."""
    teams_file: str | None = None
    """TOML file of team weights and quotas (see docs); none = equal teams."""


@dataclass(frozen=True)
class SyncSettings:
    cluster_name: str = "local"
    """Marks every Consul entry we own; other clusters' entries are left alone."""
    anti_entropy_seconds: float = 30.0
    """Period of the full Mesos/Marathon/Consul comparison pass."""


@dataclass(frozen=True)
class TlsSettings:
    ca_cert: str | None = None
    """CA bundle (PEM) that signs the https:// Marathon and Consul endpoints.

    pymesos 0.3.15 speaks plain HTTP only, so the Mesos scheduler API must be
    reachable without TLS; see docs/ARCHITECTURE.md.
    """


@dataclass(frozen=True)
class LoggingSettings:
    level: str = "INFO"
    """Root log level: DEBUG, INFO, WARNING or ERROR."""


@dataclass(frozen=True)
class Settings:
    mesos: MesosSettings = field(default_factory=MesosSettings)
    marathon: MarathonSettings = field(default_factory=MarathonSettings)
    consul: ConsulSettings = field(default_factory=ConsulSettings)
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    sync: SyncSettings = field(default_factory=SyncSettings)
    tls: TlsSettings = field(default_factory=TlsSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)


# The ecosystem's own variable names; every other key is MESOS_ADAPTER_<SECTION>_<KEY>.
ECOSYSTEM_ENV: Mapping[str, str] = {
    "mesos.master": "MESOS_MASTER",
    "marathon.url": "MARATHON_URL",
    "consul.addr": "CONSUL_HTTP_ADDR",
    "consul.token": "CONSUL_HTTP_TOKEN",
}
CONFIG_ENV = "MESOS_ADAPTER_CONFIG"


@dataclass(frozen=True)
class Loaded:
    """The effective settings and, for each dotted key, the source it came from."""

    settings: Settings
    sources: Mapping[str, str]

    def rows(self) -> list[tuple[str, str, str]]:
        """(key, printable value, source) for every key; secrets masked."""
        out = []
        for key in sorted(self.sources):
            section, name = key.split(".")
            value = getattr(getattr(self.settings, section), name)
            out.append((key, "" if value is None else str(value), self.sources[key]))
        return out


def env_name(key: str) -> str:
    """The environment variable that sets a dotted key."""
    if key in ECOSYSTEM_ENV:
        return ECOSYSTEM_ENV[key]
    return "MESOS_ADAPTER_" + key.replace(".", "_").upper()


# Keys with a flag of their own; every key can also be set with ``--set KEY=VALUE``.
DEDICATED_FLAGS: Mapping[str, str] = {
    "mesos.master": "--mesos-master",
    "marathon.url": "--marathon-url",
    "consul.addr": "--consul-addr",
    "logging.level": "--log-level",
    "tls.ca_cert": "--ca-cert",
}


def flag_name(key: str) -> str:
    """How a flag-given key is named as a source: ``--mesos-master``, ``--set k``."""
    return DEDICATED_FLAGS.get(key, f"--set {key}")


def parse_set_flags(pairs: Iterable[str]) -> dict[str, str]:
    """``--set section.key=value`` flags → {dotted key: value}; unknown keys refused."""
    known = set(all_keys())
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or key not in known:
            raise ConfigError(
                f"--set {pair}",
                "expected KEY=VALUE with KEY one of: " + ", ".join(sorted(known)),
            )
        out[key] = value
    return out


def default_config_path(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "mesos-adapter" / "config.toml"


def all_keys() -> list[str]:
    return [f"{s.name}.{f.name}" for s in _sections() for f in _fields(s.type)]


def load_settings(
    *,
    flags: Mapping[str, Any] | None = None,  # dotted key -> value; None = not given
    env: Mapping[str, str] | None = None,
    config_path: Path | None = None,
) -> Loaded:
    """Merge defaults < file < environment < flags into a validated tree."""
    env = os.environ if env is None else env
    raw: dict[str, tuple[Any, str]] = {}

    # The file first, so the environment and flags can override it key by key.
    explicit = config_path or (Path(env[CONFIG_ENV]) if env.get(CONFIG_ENV) else None)
    path = explicit or default_config_path(env)
    if explicit is not None or path.exists():
        raw.update(_read_file(path))

    # The environment, by each key's variable name.
    for key in all_keys():
        name = env_name(key)
        if env.get(name, "") != "":
            raw[key] = (env[name], name)

    # Flags last: what the user typed on this command line wins.
    for key, value in (flags or {}).items():
        if value is not None:
            raw[key] = (value, flag_name(key))

    return _build(raw)


def _build(raw: Mapping[str, tuple[Any, str]]) -> Loaded:
    sources: dict[str, str] = {}
    sections: dict[str, Any] = {}
    for section in _sections():
        values: dict[str, Any] = {}
        for fld in _fields(section.type):
            key = f"{section.name}.{fld.name}"
            if key not in raw:
                sources[key] = "default"
                continue
            value, source = raw[key]
            values[fld.name] = _coerce(value, fld.type, source)
            _VALIDATORS.get(key, _accept)(values[fld.name], source)
            sources[key] = source
        sections[section.name] = section.type(**values)
    return Loaded(settings=Settings(**sections), sources=sources)


def _sections() -> list[Any]:
    hints = typing.get_type_hints(Settings)
    return [
        types.SimpleNamespace(name=f.name, type=hints[f.name])
        for f in dataclasses.fields(Settings)
    ]


def _fields(cls: type) -> list[Any]:
    hints = typing.get_type_hints(cls)
    return [
        types.SimpleNamespace(name=f.name, type=hints[f.name])
        for f in dataclasses.fields(cls)
    ]


def _coerce(value: Any, annotation: Any, source: str) -> Any:
    """Turn a file, environment or flag value into the field's type."""
    allowed = [a for a in typing.get_args(annotation) if a is not type(None)]
    target = allowed[0] if allowed else annotation
    if isinstance(value, str) and target is not str and target is not Secret:
        value = value.strip()
    try:
        if target is Secret:
            return value if isinstance(value, Secret) else Secret(str(value))
        if target is bool:
            return _to_bool(value)
        if target is float and not isinstance(value, bool):
            return float(value)
        if target is int and not isinstance(value, bool | float):
            return int(value)
        if target is str and isinstance(value, str):
            return value
    except ValueError:
        pass
    raise ConfigError(source, f"expected {target.__name__}, got {value!r}")


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(text)


def _read_file(path: Path) -> dict[str, tuple[Any, str]]:
    """Read a TOML file into dotted keys, each with its ``file:line`` source."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(
            str(path), f"cannot read config file ({exc.strerror})"
        ) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        where = f"{path}:{match.group(1)}" if match else str(path)
        detail = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise ConfigError(where, f"malformed TOML: {detail}") from exc

    known = {s.name: {f.name for f in _fields(s.type)} for s in _sections()}
    out: dict[str, tuple[Any, str]] = {}
    for section, table in data.items():
        if section not in known or not isinstance(table, dict):
            where = f"{path}:{_line_of(text, section)}"
            raise ConfigError(
                where,
                f"unknown section [{section}]; expected one of {sorted(known)}",
            )
        for name, value in table.items():
            where = f"{path}:{_line_of(text, name)}"
            if name not in known[section]:
                raise ConfigError(
                    where,
                    f"unknown key {name!r} in [{section}]; "
                    f"expected one of {sorted(known[section])}",
                )
            out[f"{section}.{name}"] = (value, where)
    return out


def _line_of(text: str, name: str) -> int:
    """Best-effort line number of a key or section header, for error messages."""
    pattern = re.compile(rf"^\s*(\[\s*{re.escape(name)}\s*\]|{re.escape(name)}\s*=)")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.match(line):
            return number
    return 1


# Validators: each raises ConfigError naming the source and the expected form.

_HOST_PORT = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9a-fA-F:]+\](:\d{1,5})?$")
_ZK = re.compile(
    r"^zk://([^@/]+@)?[A-Za-z0-9.\-]+:\d{1,5}(,[A-Za-z0-9.\-]+:\d{1,5})*/\S+$"
)


def _accept(value: Any, source: str) -> None:
    return None


def validate_mesos_master(value: str, source: str) -> None:
    if _HOST_PORT.match(value) or _ZK.match(value):
        return
    raise ConfigError(
        source,
        "expected host:port (e.g. 127.0.0.1:5050) or "
        f"zk://host:port[,host:port]/path (e.g. zk://zk1:2181/mesos), got {value!r}",
    )


def validate_urls(value: str, source: str) -> None:
    for url in value.split(","):
        if not re.match(r"^https?://[^/\s]+(/\S*)?$", url.strip()):
            raise ConfigError(
                source,
                "expected one or more http(s)://host:port URLs separated by commas, "
                f"got {url.strip()!r}",
            )


def validate_consul_addr(value: str, source: str) -> None:
    bare = re.sub(r"^https?://", "", value)
    if not _HOST_PORT.match(bare):
        raise ConfigError(
            source, f"expected host:port or http(s)://host:port, got {value!r}"
        )


def validate_policy(value: str, source: str) -> None:
    if value not in ("binpack", "spread"):
        raise ConfigError(source, f"expected 'binpack' or 'spread', got {value!r}")


def validate_log_level(value: str, source: str) -> None:
    if value.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(
            source, f"expected DEBUG, INFO, WARNING or ERROR, got {value!r}"
        )


def validate_readable_file(value: str, source: str) -> None:
    path = Path(value).expanduser()
    if not path.is_file():
        raise ConfigError(source, f"no such file: {value!r}; give a PEM CA bundle")


def validate_positive(value: float, source: str) -> None:
    if value <= 0:
        raise ConfigError(source, f"expected a number above 0, got {value!r}")


def validate_port(value: int, source: str) -> None:
    if not 0 < value < 65536:
        raise ConfigError(source, f"expected a port from 1 to 65535, got {value!r}")


_VALIDATORS: Mapping[str, Callable[[Any, str], None]] = {
    "mesos.master": validate_mesos_master,
    "mesos.failover_timeout": validate_positive,
    "marathon.url": validate_urls,
    "consul.addr": validate_consul_addr,
    "scheduler.policy": validate_policy,
    "scheduler.refuse_seconds": validate_positive,
    "scheduler.api_port": validate_port,
    "scheduler.api_url": validate_urls,
    "sync.anti_entropy_seconds": validate_positive,
    "logging.level": validate_log_level,
    "tls.ca_cert": validate_readable_file,
}
