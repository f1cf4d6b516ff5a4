"""Job spec parsing: valid specs in YAML and JSON, and every error's path and fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from framework.batch.constraints import Constraint
from framework.batch.resources import Resources
from framework.batch.spec import (
    JobSpec,
    load_job_spec,
    parse_job_spec,
    spark_submit_argv,
)
from framework.errors import SpecError

BASE = """
id: etl.nightly-2
team: data-eng
command: python etl.py
resources: {cpus: 1.5, mem: 512}
"""


def spec_error(text: str) -> SpecError:
    with pytest.raises(SpecError) as caught:
        parse_job_spec(text, source="job.yaml")
    return caught.value


def with_base(extra: str) -> str:
    return BASE + extra


def test_minimal_yaml_spec_gets_documented_defaults() -> None:
    spec = parse_job_spec(BASE, source="job.yaml")
    assert spec.kind == "batch"
    assert spec.instances == 1
    assert spec.resources.disk == 0 and spec.resources.gpus == 0
    assert spec.resources.ports == 0
    assert spec.priority == 0
    assert spec.retries.max_attempts == 3
    assert spec.retries.backoff_seconds == 5
    assert spec.retries.backoff_factor == 2
    assert spec.retries.max_backoff_seconds == 300
    assert spec.max_runtime is None and spec.env == {} and spec.labels == {}


def test_json_spec_with_every_field_parses() -> None:
    doc = {
        "id": "train",
        "team": "ml",
        "container": {"image": "repo/train:1", "args": ["--epochs", "3"]},
        "resources": {"cpus": 4, "mem": 8192, "disk": 100, "gpus": 1, "ports": 2},
        "instances": 3,
        "env": {"MODE": "fast"},
        "constraints": [["hostname", "unique"], ["rack", "GROUP_BY", 2]],
        "priority": 5,
        "retries": {"max_attempts": 5, "backoff_seconds": 1},
        "max_runtime": 3600,
        "labels": {"owner": "ana"},
    }
    spec = parse_job_spec(json.dumps(doc), source="job.json")
    assert spec.container is not None and spec.container.force_pull is False
    assert spec.constraints == [
        Constraint("hostname", "UNIQUE"),
        Constraint("rack", "GROUP_BY", "2"),
    ]
    assert spec.task_resources() == Resources(4, 8192, 100, 1, 2)
    assert spec.total_resources() == Resources(12, 24576, 300, 3, 6)
    assert spec.task_id(2, 1) == "train.2.1"


def test_argv_list_command_is_accepted() -> None:
    spec = parse_job_spec(BASE.replace("python etl.py", "[python, etl.py]"), source="x")
    assert spec.command == ["python", "etl.py"]


@pytest.mark.parametrize(
    ("text", "path", "words"),
    [
        (BASE.replace("cpus: 1.5", "cpus: 0"), "resources.cpus", "greater than 0"),
        (BASE.replace("mem: 512", "mem: -1"), "resources.mem", "greater than 0"),
        (BASE.replace("cpus: 1.5", "cpus: '2'"), "resources.cpus", "without quotes"),
        (BASE.replace("mem: 512", "mem: 512, gpus: 1.5"), "resources.gpus", "whole"),
        (with_base("instances: 0\n"), "instances", "greater than or equal to 1"),
        (
            with_base("retries: {max_attempts: 0}\n"),
            "retries.max_attempts",
            "at least 1",
        ),
        (with_base("max_runtime: -5\n"), "max_runtime", "greater than 0"),
        (with_base("kind: cron\n"), "kind", "'batch' or 'spark'"),
        (with_base("env: {PORT: 8080}\n"), "env.PORT", "quote it"),
        (with_base("env: {9X: a}\n"), 'env["9X"]', "environment variable name"),
        (with_base("labels: {a: [1]}\n"), "labels.a", "string"),
    ],
)
def test_bad_field_is_reported_at_its_json_path(
    text: str, path: str, words: str
) -> None:
    error = spec_error(text)
    assert error.path == path
    assert words in error.message
    assert "(in job.yaml)" in error.message


def test_bad_id_states_the_id_rule() -> None:
    error = spec_error(BASE.replace("etl.nightly-2", "ETL_nightly"))
    assert error.path == "id"
    assert "lowercase letters, digits, hyphens and dots" in error.message


@pytest.mark.parametrize("bad", ["-etl", "etl-", "etl..x", "a.-b", "x" * 129])
def test_ids_breaking_marathon_rules_are_rejected(bad: str) -> None:
    assert spec_error(BASE.replace("etl.nightly-2", bad)).path == "id"


def test_unknown_top_level_key_is_rejected_with_allowed_fields() -> None:
    error = spec_error(with_base("retry: {max_attempts: 2}\n"))
    assert error.path == "retry"
    assert "not a known field" in error.message
    assert "retries" in error.message


def test_unknown_nested_key_names_the_nested_allowed_fields() -> None:
    error = spec_error(BASE.replace("mem: 512", "mem: 512, cpu: 2"))
    assert error.path == "resources.cpu"
    assert "cpus, mem, disk, gpus, ports" in error.message


def test_missing_required_field_says_add_it() -> None:
    error = spec_error("id: a\nteam: t\ncommand: x\n")
    assert error.path == "resources"
    assert "add it" in error.message


def test_batch_job_needs_exactly_one_of_command_and_container() -> None:
    neither = spec_error("id: a\nteam: t\nresources: {cpus: 1, mem: 1}\n")
    both = spec_error(with_base("container: {image: busybox}\n"))
    assert neither.path == "command" and "add one" in neither.message
    assert both.path == "command" and "not both" in both.message


def test_spark_section_on_batch_job_is_rejected() -> None:
    error = spec_error(with_base("spark: {app: a.py}\n"))
    assert error.path == "spark"


SPARK = """
id: wordcount
team: data
kind: spark
resources: {cpus: 2.7, mem: 4096}
spark:
  app: /jobs/wc.jar
  main_class: org.example.WordCount
  args: [in, out]
  conf: {spark.sql.shuffle.partitions: "8", spark.a: "1"}
"""


def test_spark_jar_needs_main_class() -> None:
    error = spec_error(SPARK.replace("  main_class: org.example.WordCount\n", ""))
    assert error.path == "spark.main_class"
    assert ".jar" in error.message


def test_spark_job_rejects_a_command() -> None:
    assert spec_error(SPARK + "command: run\n").path == "command"


def test_spark_memory_must_have_unit_and_fit_in_mem() -> None:
    assert spec_error(SPARK + "  memory: '512'\n").path == "spark.memory"
    too_big = spec_error(SPARK + "  memory: 8g\n")
    assert too_big.path == "spark.memory"
    assert "resources.mem" in too_big.message


def test_spark_master_must_be_mesos_url() -> None:
    assert spec_error(SPARK + "  master: yarn\n").path == "spark.master"


def test_spark_submit_runs_locally_on_task_cpus_rounded_down() -> None:
    spec = parse_job_spec(SPARK, source="x")
    assert spark_submit_argv(spec, 2.7) == [
        "spark-submit",
        "--master",
        "local[2]",
        "--name",
        "wordcount",
        "--driver-memory",
        "3686m",
        "--class",
        "org.example.WordCount",
        "--conf",
        "spark.a=1",
        "--conf",
        "spark.sql.shuffle.partitions=8",
        "/jobs/wc.jar",
        "in",
        "out",
    ]


def test_spark_submit_uses_at_least_one_local_core() -> None:
    spec = parse_job_spec(SPARK.replace("cpus: 2.7", "cpus: 0.5"), source="x")
    assert spark_submit_argv(spec, 0.5)[1:3] == ["--master", "local[1]"]


def test_spark_submit_passes_mesos_master_and_default_cores_through() -> None:
    text = SPARK + "  master: mesos://zk://zk1:2181/mesos\n  memory: 2g\n"
    argv = spark_submit_argv(parse_job_spec(text, source="x"), 2.7)
    assert argv[1:3] == ["--master", "mesos://zk://zk1:2181/mesos"]
    i = argv.index("--total-executor-cores")
    assert argv[i + 1] == "3"
    assert argv[argv.index("--executor-memory") + 1] == "2g"


def test_python_spark_app_needs_no_main_class() -> None:
    text = SPARK.replace("/jobs/wc.jar", "/jobs/wc.py").replace(
        "  main_class: org.example.WordCount\n", ""
    )
    argv = spark_submit_argv(parse_job_spec(text, source="x"), 2)
    assert "--class" not in argv and argv[-3] == "/jobs/wc.py"


@pytest.mark.parametrize(
    ("constraint", "path", "words"),
    [
        ("[hostname, UNIQUE, x]", "constraints[0][2]", "UNIQUE takes no value"),
        ("[rack, MAX_PER]", "constraints[0][2]", "MAX_PER needs a positive integer"),
        ("[rack, MAX_PER, two]", "constraints[0][2]", "MAX_PER"),
        ("[rack, GROUP_BY, x]", "constraints[0][2]", "number of groups"),
        ("[rack, LIKE, '[a']", "constraints[0][2]", "not a valid regex"),
        ("[rack, UNLIKE]", "constraints[0][2]", "regular expression"),
        ("[rack, IS, 'a b']", "constraints[0][2]", "^[a-zA-Z0-9_/.-]*$"),
        ("[rack, NEAR, x]", "constraints[0][1]", "unknown operator"),
        ("[rack]", "constraints[0]", "[field, OPERATOR]"),
        ("['', UNIQUE]", "constraints[0][0]", "hostname"),
    ],
)
def test_bad_constraint_is_reported_at_its_element(
    constraint: str, path: str, words: str
) -> None:
    error = spec_error(with_base(f"constraints: [[hostname, UNIQUE], {constraint}]\n"))
    assert error.path == path.replace("[0]", "[1]", 1)
    assert words in error.message


def test_constraint_operators_are_upper_cased_and_values_kept_as_text() -> None:
    text = with_base("constraints: [[rack, cluster], [zone, max_per, 2]]\n")
    spec = parse_job_spec(text, source="x")
    assert spec.constraints == [
        Constraint("rack", "CLUSTER"),
        Constraint("zone", "MAX_PER", "2"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        BASE + "team: other\n",
        '{"id": "a", "id": "b", "team": "t", "command": "x",'
        ' "resources": {"cpus": 1, "mem": 1}}',
    ],
)
def test_duplicate_keys_are_rejected_in_yaml_and_json(text: str) -> None:
    error = spec_error(text)
    assert error.path == "$" and "duplicate key" in error.message


def test_syntax_errors_name_line_and_column() -> None:
    yaml_error = spec_error("id: a\nteam: [unclosed\n")
    json_error = spec_error('{"id": "a",}')
    assert "not valid YAML" in yaml_error.message and "line" in yaml_error.message
    assert "not valid JSON" in json_error.message and "column" in json_error.message


def test_a_document_that_is_not_a_mapping_is_rejected() -> None:
    assert "mapping" in spec_error("- id: a\n").message


def test_load_job_spec_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(BASE, encoding="utf-8")
    assert isinstance(load_job_spec(path), JobSpec)


def test_load_job_spec_names_the_file_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(BASE.replace("cpus: 1.5", "cpus: -1"), encoding="utf-8")
    with pytest.raises(SpecError, match=r"resources\.cpus: .*job\.yaml"):
        load_job_spec(path)
    with pytest.raises(SpecError, match="cannot read"):
        load_job_spec(tmp_path / "missing.yaml")
