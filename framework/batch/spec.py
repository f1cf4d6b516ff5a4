"""The job spec: what a user submits, validated before anything happens.

A spec is JSON or YAML text parsed by ``parse_job_spec`` into a ``JobSpec``.
Validation is strict: unknown keys are rejected, numbers must be numbers (a
quoted ``"2"`` is not a cpu count), and the first bad field is reported as a
``SpecError`` whose ``path`` is its JSON path (``resources.cpus``,
``constraints[0][2]``) and whose message states the rule and the fix.

Invariants of a ``JobSpec`` once built:

* ``kind: batch`` has exactly one of ``command`` and ``container``, no ``spark``;
* ``kind: spark`` has ``spark`` and no ``command`` (the command is
  ``spark_submit_argv``); a ``container`` is the image spark-submit runs in;
* every constraint passed ``constraints.parse_constraint``;
* ``spark.main_class`` is set exactly when ``spark.app`` is a ``.jar``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Hashable
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from framework.batch.constraints import (
    Constraint,
    ConstraintSyntaxError,
    parse_constraint,
)
from framework.batch.resources import Resources
from framework.errors import SpecError
from framework.ids import JobId, TaskId, TeamName

ID_RULE = (
    "an id is lowercase letters, digits, hyphens and dots, each dot-separated "
    "part starting and ending with a letter or digit (e.g. etl.nightly-2)"
)
TEAM_RULE = (
    "a team is lowercase letters, digits, hyphens and underscores, starting "
    "with a letter or digit (e.g. data-eng)"
)
MAX_ID_LENGTH = 128
_ID = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
_TEAM = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SPARK_MEMORY = re.compile(r"^([1-9][0-9]*)([kmgt])$", re.IGNORECASE)
_MIB_PER_UNIT = {"k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}


def _rule(
    field: str | int | tuple[str | int, ...], message: str
) -> PydanticCustomError:
    """An error at ``field`` below the location pydantic reports.

    Field validators pass ``""`` (pydantic already names the field); model
    validators name the field they blame.
    """
    return PydanticCustomError(
        "spec_rule", "{message}", {"field": field, "message": message}
    )


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, allow_inf_nan=False
    )


class ResourcesSpec(_Strict):
    """Per task (per instance): ``mem`` and ``disk`` in MB, ``ports`` a count."""

    cpus: float = Field(gt=0)
    mem: float = Field(gt=0)
    disk: float = Field(default=0.0, ge=0)
    gpus: int = Field(default=0, ge=0)
    ports: int = Field(default=0, ge=0)


class ContainerSpec(_Strict):
    """A Docker image to run; ``args`` are passed to its entrypoint."""

    image: str = Field(min_length=1)
    args: list[str] = Field(default_factory=list)
    force_pull: bool = False


class RetrySpec(_Strict):
    """How often and how patiently a failed task is retried (see ``retry``)."""

    max_attempts: int = Field(default=3, ge=1)
    backoff_seconds: float = Field(default=5.0, ge=0)
    backoff_factor: float = Field(default=2.0, ge=1)
    max_backoff_seconds: float = Field(default=300.0, ge=0)


class SparkSpec(_Strict):
    """A Spark application run with ``spark-submit`` (see ``spark_submit_argv``)."""

    app: str = Field(min_length=1)
    main_class: str | None = None
    args: list[str] = Field(default_factory=list)
    conf: dict[str, str] = Field(default_factory=dict)
    cores: int | None = Field(default=None, ge=1)
    memory: str | None = None
    master: str | None = None

    @field_validator("memory")
    @classmethod
    def _memory_format(cls, value: str | None) -> str | None:
        if value is not None and not _SPARK_MEMORY.match(value):
            raise _rule(
                "",
                f"must be a JVM size with a unit, like 512m or 2g, got {value!r}",
            )
        return value

    @field_validator("master")
    @classmethod
    def _master_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("mesos://"):
            raise _rule(
                "",
                f"must be a mesos:// URL, got {value!r}; omit it to run "
                "Spark locally inside the task (local[N])",
            )
        return value

    @model_validator(mode="after")
    def _main_class_for_jars(self) -> SparkSpec:
        is_jar = self.app.lower().endswith(".jar")
        if is_jar and not self.main_class:
            raise _rule(
                "main_class",
                "is required when app is a .jar; set it to the class with main()",
            )
        if not is_jar and self.main_class:
            raise _rule("main_class", "is only for .jar apps; remove it")
        return self


def _constraint(raw: object) -> Constraint:
    try:
        return parse_constraint(raw)
    except ConstraintSyntaxError as error:
        position = "" if error.position is None else error.position
        raise _rule(position, error.message) from None


ConstraintField = Annotated[Constraint, BeforeValidator(_constraint)]


class JobSpec(_Strict):
    """A batch or Spark job: ``instances`` identical tasks of ``resources``."""

    id: str
    team: str
    kind: Literal["batch", "spark"] = "batch"
    command: str | list[str] | None = None
    container: ContainerSpec | None = None
    resources: ResourcesSpec
    instances: int = Field(default=1, ge=1)
    env: dict[str, str] = Field(default_factory=dict)
    constraints: list[ConstraintField] = Field(default_factory=list)
    priority: int = 0
    retries: RetrySpec = Field(default_factory=RetrySpec)
    max_runtime: float | None = Field(default=None, gt=0)
    labels: dict[str, str] = Field(default_factory=dict)
    spark: SparkSpec | None = None

    @field_validator("id")
    @classmethod
    def _id_rule(cls, value: str) -> str:
        if len(value) > MAX_ID_LENGTH:
            raise _rule(
                "",
                f"is {len(value)} characters; the most is {MAX_ID_LENGTH} "
                "(it becomes part of Mesos task ids and sandbox paths)",
            )
        if not _ID.match(value):
            raise _rule("", f"{value!r} is not a valid id: {ID_RULE}")
        return value

    @field_validator("team")
    @classmethod
    def _team_rule(cls, value: str) -> str:
        if not _TEAM.match(value):
            raise _rule("", f"{value!r} is not a valid team: {TEAM_RULE}")
        return value

    @field_validator("command")
    @classmethod
    def _command_not_empty(cls, value: str | list[str] | None) -> Any:
        if value is not None and (not value or not all(value)):
            raise _rule(
                "",
                "must be a non-empty shell string or a list of non-empty argv "
                "words; give the program to run",
            )
        return value

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _ENV_NAME.match(name):
                raise _rule(
                    name,
                    "is not a valid environment variable name (letters, digits "
                    "and '_', not starting with a digit); rename it",
                )
        return value

    @model_validator(mode="after")
    def _kind_fields(self) -> JobSpec:
        if self.kind == "batch":
            self._check_batch()
        else:
            self._check_spark()
        return self

    def _check_batch(self) -> None:
        if self.spark is not None:
            raise _rule("spark", "is only for kind: spark; remove it or set kind")
        if self.command is not None and self.container is not None:
            raise _rule(
                "command", "give either command or container, not both; remove one"
            )
        if self.command is None and self.container is None:
            raise _rule(
                "command",
                "a batch job needs a command (shell string or argv list) or a "
                "container ({image, args}); add one",
            )

    def _check_spark(self) -> None:
        if self.spark is None:
            raise _rule("spark", "kind: spark needs a spark section; add {app: ...}")
        if self.command is not None:
            raise _rule(
                "command",
                "spark jobs run spark-submit built from the spark section; "
                "remove command",
            )
        if self.spark.memory is not None:
            heap = _memory_mib(self.spark.memory)
            if heap > self.resources.mem:
                raise _rule(
                    ("spark", "memory"),
                    f"spark.memory {self.spark.memory} is more than resources.mem "
                    f"({self.resources.mem:g} MB); lower it or raise mem",
                )

    @property
    def job_id(self) -> JobId:
        return JobId(self.id)

    @property
    def team_name(self) -> TeamName:
        return TeamName(self.team)

    def task_resources(self) -> Resources:
        """What one task (one instance) asks of an offer."""
        r = self.resources
        return Resources(r.cpus, r.mem, r.disk, r.gpus, r.ports)

    def total_resources(self) -> Resources:
        """What all instances ask together."""
        return self.task_resources().scaled(self.instances)

    def task_id(self, instance: int, attempt: int) -> TaskId:
        """The Mesos task id of one attempt of one instance: unique per attempt."""
        return TaskId(f"{self.id}.{instance}.{attempt}")


def parse_job_spec(text: str, *, source: str) -> JobSpec:
    """Parse JSON or YAML ``text`` into a ``JobSpec``.

    ``source`` names where the text came from (a file name, ``<stdin>``) and
    ends every error message. Raises ``SpecError`` for the first problem found.
    """
    data = _load_document(text, source)
    if not isinstance(data, dict):
        raise SpecError(
            "$",
            f"a job spec is a mapping of fields (id, team, resources, ...), got "
            f"{type(data).__name__} (in {source})",
        )
    try:
        return JobSpec.model_validate(data)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        path, message = _explain(first)
        raise SpecError(path, f"{message} (in {source})") from None


def load_job_spec(path: str | Path) -> JobSpec:
    """Read and parse the spec file at ``path`` (``.json``, ``.yaml``, ``.yml``)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError("$", f"cannot read {path}: {error}; check the path") from None
    return parse_job_spec(text, source=str(path))


def spark_submit_argv(spec: JobSpec, instance_cpus: float) -> list[str]:
    """The ``spark-submit`` command line of one task of a Spark job.

    Without ``spark.master`` Spark runs inside the task as ``local[N]`` where N
    is the task's cpus rounded down (at least 1), and ``memory`` is the driver
    heap. With a ``mesos://`` master the task is only the driver: ``cores``
    (default: cpus rounded up) caps the executors' cores, ``memory`` sizes each
    executor. ``conf`` entries follow in key order, then the app and its args.
    """
    spark = spec.spark
    if spark is None:
        raise ValueError(f"job {spec.id} is kind {spec.kind}, not spark")
    memory = spark.memory or default_spark_memory(spec.resources.mem)
    argv = ["spark-submit", "--name", spec.id]
    if spark.master is None:
        cores = max(1, math.floor(instance_cpus + 1e-9))
        argv[1:1] = ["--master", f"local[{cores}]"]
        argv += ["--driver-memory", memory]
    else:
        cores = spark.cores or math.ceil(spec.resources.cpus - 1e-9)
        argv[1:1] = ["--master", spark.master]
        argv += ["--executor-memory", memory, "--total-executor-cores", str(cores)]
    if spark.main_class:
        argv += ["--class", spark.main_class]
    for key in sorted(spark.conf):
        argv += ["--conf", f"{key}={spark.conf[key]}"]
    return [*argv, spark.app, *spark.args]


def default_spark_memory(mem: float) -> str:
    """A JVM heap that fits in ``mem`` MB with Spark's overhead left over.

    Spark reserves max(384 MB, 10%) beyond the heap; we keep at least half of
    ``mem`` as heap for small tasks.
    """
    heap = max(mem / 2, mem - max(384.0, mem * 0.1))
    return f"{max(1, int(heap))}m"


def _memory_mib(memory: str) -> float:
    match = _SPARK_MEMORY.match(memory)
    if match is None:
        raise ValueError(memory)
    return int(match.group(1)) * _MIB_PER_UNIT[match.group(2).lower()]


# --- reading text ------------------------------------------------------------


class _StrictYamlLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys instead of keeping the last one."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> Any:
    seen: set[Hashable] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if isinstance(key, Hashable) and key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (keep only one)",
                key_node.start_mark,
            )
        if isinstance(key, Hashable):
            seen.add(key)
    return loader.construct_mapping(node)


_StrictYamlLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def _load_document(text: str, source: str) -> Any:
    """JSON when the text starts like JSON, YAML otherwise."""
    if text.lstrip().startswith("{"):
        return _load_json(text, source)
    try:
        return yaml.load(text, Loader=_StrictYamlLoader)
    except yaml.YAMLError as error:
        problem = _yaml_problem(error)
        raise SpecError("$", f"not valid YAML: {problem} (in {source})") from None


def _load_json(text: str, source: str) -> Any:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        for key in keys:
            if keys.count(key) > 1:
                raise ValueError(f"duplicate key {key!r}; keep only one")
        return dict(pairs)

    try:
        return json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as e:
        where = f"line {e.lineno} column {e.colno}"
        raise SpecError(
            "$", f"not valid JSON: {e.msg} at {where} (in {source})"
        ) from None
    except ValueError as e:
        raise SpecError("$", f"not valid JSON: {e} (in {source})") from None


def _yaml_problem(error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        return f"{error.problem} at line {mark.line + 1} column {mark.column + 1}"
    return str(error)


# --- explaining pydantic errors ----------------------------------------------

_TYPE_FIXES = {
    "int_type": "write a whole number without quotes",
    "int_from_float": "write a whole number",
    "float_type": "write a number without quotes",
    "string_type": "write a string (quote it in YAML)",
    "bool_type": "write true or false",
    "list_type": "write a list",
    "dict_type": "write a mapping",
    "model_type": "write a mapping",
    "model_attributes_type": "write a mapping",
    "finite_number": "write a finite number",
}


def _explain(error: ErrorDetails) -> tuple[str, str]:
    """The JSON path and the rule-and-fix message of one pydantic error."""
    loc = [part for part in error["loc"] if part != "[key]"]
    ctx = error.get("ctx") or {}
    if error["type"] == "spec_rule":
        field = ctx.get("field", "")
        if isinstance(field, tuple):
            loc.extend(field)
        elif field != "":
            loc.append(field)
        return _json_path(loc), str(ctx["message"])
    if error["type"] == "missing":
        return _json_path(loc), "is required and missing; add it"
    if error["type"] == "extra_forbidden":
        allowed = ", ".join(_allowed_fields(loc[:-1]))
        fix = f"remove it or fix its spelling (allowed here: {allowed})"
        return _json_path(loc), f"is not a known field; {fix}"
    rule = error["msg"].replace("Input should be", "must be")
    got = repr(error["input"])
    got = got if len(got) <= 60 else got[:57] + "..."
    return _json_path(loc), f"{rule}, got {got}; {_fix(error['type'], ctx)}"


def _fix(kind: str, ctx: dict[str, Any]) -> str:
    if kind in _TYPE_FIXES:
        return _TYPE_FIXES[kind]
    bounds = {
        "greater_than": ("above", "gt"),
        "greater_than_equal": ("at least", "ge"),
        "less_than": ("below", "lt"),
        "less_than_equal": ("at most", "le"),
    }
    if kind in bounds:
        word, key = bounds[kind]
        return f"use a value {word} {ctx.get(key):g}"
    if kind == "literal_error":
        return f"use one of {ctx.get('expected')}"
    if kind == "string_too_short":
        return "give a non-empty value"
    return "fix the value"


def _json_path(loc: list[int | str]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif re.match(r"^[A-Za-z_][A-Za-z0-9_-]*$", part):
            path += f".{part}" if path else part
        else:
            path += f"[{json.dumps(part)}]"
    return path or "$"


def _allowed_fields(loc: list[int | str]) -> list[str]:
    """Field names of the model at ``loc`` (for 'unknown field' messages)."""
    model: type[BaseModel] = JobSpec
    for part in loc:
        if isinstance(part, int) or part not in model.model_fields:
            continue
        annotation = model.model_fields[part].annotation
        nested = [
            t
            for t in (annotation, *get_args(annotation))
            if isinstance(t, type) and issubclass(t, BaseModel)
        ]
        if nested:
            model = nested[0]
    return list(model.model_fields)
