"""Settings: flags > env > config file > defaults, with sources and masked secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from framework.errors import ConfigError
from framework.settings import Secret, load_settings, parse_set_flags


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_defaults_apply_when_nothing_is_set(tmp_path: Path) -> None:
    loaded = load_settings(env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert loaded.settings.mesos.master == "127.0.0.1:5050"
    assert loaded.settings.marathon.url == "http://127.0.0.1:8080"
    assert loaded.settings.consul.addr == "127.0.0.1:8500"
    assert set(loaded.sources.values()) == {"default"}


def test_flags_beat_environment_beats_file_beats_defaults(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        '[mesos]\nmaster = "file:5050"\nrole = "batch"\n'
        '[marathon]\nurl = "http://file:8080"\n'
        '[scheduler]\npolicy = "spread"\n',
    )
    env = {"MESOS_MASTER": "env:5050", "MARATHON_URL": "http://env:8080"}
    flags = {"mesos.master": "flag:5050"}

    loaded = load_settings(flags=flags, env=env, config_path=config)

    assert loaded.settings.mesos.master == "flag:5050"
    assert loaded.sources["mesos.master"] == "--mesos-master"
    assert loaded.settings.marathon.url == "http://env:8080"
    assert loaded.sources["marathon.url"] == "MARATHON_URL"
    assert loaded.settings.mesos.role == "batch"
    assert loaded.sources["mesos.role"] == f"{config}:3"
    assert loaded.settings.scheduler.policy == "spread"
    assert loaded.sources["consul.addr"] == "default"


def test_own_keys_read_mesos_adapter_variables_with_types() -> None:
    env = {
        "MESOS_ADAPTER_SCHEDULER_REFUSE_SECONDS": "2.5",
        "MESOS_ADAPTER_SCHEDULER_API_PORT": "9000",
    }
    loaded = load_settings(env=env, config_path=None)
    assert loaded.settings.scheduler.refuse_seconds == 2.5
    assert loaded.settings.scheduler.api_port == 9000
    assert loaded.sources["scheduler.api_port"] == "MESOS_ADAPTER_SCHEDULER_API_PORT"


def test_config_file_is_found_under_xdg_config_home(tmp_path: Path) -> None:
    (tmp_path / "mesos-adapter").mkdir()
    (tmp_path / "mesos-adapter" / "config.toml").write_text(
        '[sync]\ncluster_name = "prod"\n'
    )
    loaded = load_settings(env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert loaded.settings.sync.cluster_name == "prod"


def test_consul_token_is_a_secret_that_never_prints(tmp_path: Path) -> None:
    loaded = load_settings(
        env={"CONSUL_HTTP_TOKEN": "s3cr3t", "XDG_CONFIG_HOME": str(tmp_path)}
    )
    token = loaded.settings.consul.token
    assert isinstance(token, Secret)
    assert token.reveal() == "s3cr3t"
    assert "s3cr3t" not in repr(loaded.settings)
    assert "s3cr3t" not in str(loaded.rows())
    assert ("consul.token", "****", "CONSUL_HTTP_TOKEN") in loaded.rows()


@pytest.mark.parametrize(
    "master",
    [
        "127.0.0.1:5050",
        "mesos-master",
        "zk://zk1:2181/mesos",
        "zk://a:2181,b:2181/mesos",
    ],
)
def test_valid_master_forms_are_accepted(master: str) -> None:
    assert load_settings(env={"MESOS_MASTER": master}).settings.mesos.master == master


@pytest.mark.parametrize(
    "master", ["http://m:5050", "zk://zk1/mesos", "m:5050/path", "a b"]
)
def test_invalid_master_names_the_variable_and_the_expected_form(master: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(env={"MESOS_MASTER": master})
    assert err.value.source == "MESOS_MASTER"
    assert "host:port" in err.value.message and "zk://" in err.value.message


def test_malformed_toml_names_file_and_line(tmp_path: Path) -> None:
    config = write(tmp_path, '[mesos]\nrole = "ok"\nmaster = "unterminated\n')
    with pytest.raises(ConfigError) as err:
        load_settings(env={}, config_path=config)
    assert err.value.source == f"{config}:3"
    assert "malformed TOML" in err.value.message


def test_unknown_key_in_file_is_refused_with_its_line(tmp_path: Path) -> None:
    config = write(tmp_path, '[mesos]\nmaster = "m:5050"\nmastr = "typo"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(env={}, config_path=config)
    assert err.value.source == f"{config}:3"
    assert "'mastr'" in err.value.message and "master" in err.value.message


def test_wrong_type_in_file_is_refused(tmp_path: Path) -> None:
    config = write(tmp_path, '[scheduler]\napi_port = "eighty"\n')
    with pytest.raises(ConfigError, match="expected int"):
        load_settings(env={}, config_path=config)


def test_missing_explicit_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(env={}, config_path=tmp_path / "absent.toml")


def test_set_flags_accept_known_keys_only() -> None:
    assert parse_set_flags(["scheduler.policy=spread"]) == {
        "scheduler.policy": "spread"
    }
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_set_flags(["scheduler.polcy=spread"])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_set_flags(["scheduler.policy"])


def test_ca_cert_must_be_an_existing_file(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("pem")
    loaded = load_settings(flags={"tls.ca_cert": str(bundle)}, env={})
    assert loaded.settings.tls.ca_cert == str(bundle)
    assert loaded.sources["tls.ca_cert"] == "--ca-cert"
    with pytest.raises(ConfigError) as err:
        load_settings(env={"MESOS_ADAPTER_TLS_CA_CERT": str(tmp_path / "nope.pem")})
    assert err.value.source == "MESOS_ADAPTER_TLS_CA_CERT"
