"""Every flag vagrant/ passes to Mesos and Marathon exists in the pinned release.

No VM boots here, so a misspelt flag would only show as a daemon that refuses to
start on the VMs. The flag names below were read from the sources of the pinned
releases (Apache Mesos at tag 1.11.0: src/master/flags.cpp, src/slave/flags.cpp
and src/logging/flags.cpp; Marathon: the Scallop options under src/main/scala of
its last source tree, July 2021, the 1.11 line) and are kept here as plain
data. The test reads the ExecStart lines of the provisioning scripts' systemd
units and checks each ``--flag`` (``--no-flag`` for a boolean) against them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PROVISION = Path(__file__).resolve().parent.parent / "vagrant" / "provision"


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


MESOS_MASTER_FLAGS = _names(
    """
    acls advertise_ip advertise_port agent_ping_timeout agent_removal_rate_limit
    agent_reregister_timeout allocation_interval allocator
    allocator_agent_recovery_factor allocator_recovery_timeout
    authenticate_agents authenticate_frameworks authenticate_http_frameworks
    authenticate_http_readonly authenticate_http_readwrite
    authentication_v0_timeout authenticators authorizers cluster credentials
    domain external_log_file fair_sharing_excluded_resource_names
    filter_gpu_resources firewall_rules framework_sorter hooks hostname
    hostname_lookup http_authenticators http_framework_authenticators
    initialize_driver_logging ip ip_discovery_command log_auto_initialize
    log_dir logbufsecs logging_level master_contender master_detector
    max_agent_ping_timeouts max_completed_frameworks
    max_completed_tasks_per_framework max_executors_per_agent
    max_operator_event_stream_subscribers max_unreachable_tasks_per_framework
    memory_profiling min_allocatable_resources modules modules_dir
    offer_constraints_re2_max_mem offer_constraints_re2_max_program_size
    offer_timeout port publish_per_framework_metrics quiet quorum rate_limits
    recovery_agent_removal_limit registry registry_fetch_timeout
    registry_gc_interval registry_max_agent_age registry_max_agent_count
    registry_store_timeout registry_strict require_agent_domain role_sorter
    roles root_submissions version webui_dir weights whitelist work_dir zk
    zk_session_timeout
    """
)

MESOS_AGENT_FLAGS = _names(
    """
    acls advertise_ip advertise_port agent_features agent_subsystems
    allowed_devices appc_simple_discovery_uri_prefix appc_store_dir attributes
    authenticate_http_executors authenticate_http_readonly
    authenticate_http_readwrite authenticatee authentication_backoff_factor
    authentication_timeout_max authentication_timeout_min authorizer
    bounding_capabilities cgroups_cpu_enable_pids_and_tids_count
    cgroups_destroy_timeout cgroups_enable_cfs cgroups_hierarchy
    cgroups_limit_swap cgroups_net_cls_primary_handle
    cgroups_net_cls_secondary_handles cgroups_root check_agent_port_range_only
    container_disk_watch_interval container_logger
    container_ports_isolated_range container_ports_watch_interval containerizers
    credential csi_plugin_config_dir default_container_dns
    default_container_info default_container_shm_size default_role
    disallow_sharing_agent_ipc_namespace disallow_sharing_agent_pid_namespace
    disk_profile_adaptor disk_watch_interval docker docker_config
    docker_ignore_runtime docker_kill_orphans docker_mesos_image docker_registry
    docker_remove_delay docker_socket docker_stop_timeout docker_store_dir
    docker_volume_checkpoint_dir docker_volume_chown domain
    domain_socket_location effective_capabilities egress_flow_classifier_parent
    egress_rate_limit_per_container egress_unique_flow_per_container
    enforce_container_disk_quota enforce_container_ports
    ephemeral_ports_per_container eth0_name executor_environment_variables
    executor_registration_timeout executor_reregistration_retry_interval
    executor_reregistration_timeout executor_shutdown_grace_period
    external_log_file fetcher_cache_dir fetcher_cache_size fetcher_stall_timeout
    firewall_rules frameworks_home gc_delay gc_disk_headroom
    gc_non_executor_container_sandboxes hadoop_home hooks
    host_path_volume_force_creation hostname hostname_lookup http_authenticators
    http_command_executor http_credentials http_executor_domain_sockets
    http_heartbeat_interval image_gc_config image_providers
    image_provisioner_backend initialize_driver_logging ip ip6
    ip6_discovery_command ip_discovery_command isolation jwt_secret_key launcher
    lo_name log_dir logbufsecs logging_level master master_detector
    max_completed_executors_per_framework memory_profiling modules modules_dir
    network_cni_config_dir network_cni_metrics network_cni_plugins_dir
    network_cni_root_dir_persist network_enable_snmp_statistics
    network_enable_socket_statistics_details
    network_enable_socket_statistics_summary nvidia_gpu_devices
    oversubscribed_resources_interval perf_duration perf_events perf_interval
    port qos_controller qos_correction_interval_min quiet reconfiguration_policy
    recover recovery_timeout registration_backoff_factor resource_estimator
    resource_provider_config_dir resources revocable_cpu_low_priority
    runtime_dir sandbox_directory seccomp_config_dir seccomp_profile_name
    secret_resolver strict switch_user systemd_enable_support
    systemd_runtime_directory version volume_gid_range work_dir
    xfs_kill_containers xfs_project_range zk_session_timeout
    """
)

MARATHON_FLAGS = _names(
    """
    accepted_resource_roles_default_behavior access_control_allow_origin
    app_info_module_execution_context_size assets_path backup_location
    checkpoint decline_offer_duration default_accepted_resource_roles
    default_info_service_execution_context_size default_network_name
    deployment_manager_request_timeout deprecated_features disable_http
    draining_seconds enable_features env_vars_prefix
    event_stream_max_outstanding_messages executor failover_timeout
    framework_name gpu_scheduling_behavior graceful_shutdown_timeout
    group_manager_execution_context_size group_manager_request_timeout
    group_versions_cache_size ha hostname http_address http_compression
    http_credentials http_max_concurrent_requests http_port http_realm
    https_address https_port instance_tracker_num_parallel_loads
    instance_tracker_num_parallel_updates instance_tracker_update_queue_size
    internal_store_backend internal_version_caching kill_chunk_size
    kill_retry_timeout launch_queue_request_timeout
    launch_token_refresh_interval launch_tokens leader_election_backend
    leader_proxy_connection_timeout leader_proxy_max_open_connections
    leader_proxy_read_timeout leader_proxy_ssl_ignore_hostname local_port_max
    local_port_min logging_level logstash maintenance_mode master
    max_actor_startup_time max_apps max_concurrent_marathon_health_checks
    max_instances_per_offer max_parallel_offers max_parallel_status_updates
    max_queued_offers max_queued_root_group_updates max_queued_status_updates
    max_running_deployments mesos_authentication mesos_authentication_principal
    mesos_authentication_secret mesos_authentication_secret_file
    mesos_bridge_name mesos_heartbeat_failure_threshold mesos_heartbeat_interval
    mesos_leader_ui_url mesos_offer_constraints mesos_role mesos_user metrics
    metrics_datadog metrics_datadog_api_key metrics_datadog_host
    metrics_datadog_port metrics_datadog_protocol
    metrics_datadog_transmission_interval_ms
    metrics_histogram_reservoir_highest_trackable_value
    metrics_histogram_reservoir_reset_periodically
    metrics_histogram_reservoir_resetting_chunks
    metrics_histogram_reservoir_resetting_interval_ms
    metrics_histogram_reservoir_significant_digits metrics_name_prefix
    metrics_prometheus metrics_statsd metrics_statsd_host metrics_statsd_port
    metrics_statsd_transmission_interval_ms
    min_mesos_offer_constraints_update_interval min_revive_offers_interval
    new_group_enforce_role offer_matching_timeout on_elected_prepare_timeout
    plugin_conf plugin_dir reconciliation_initial_delay reconciliation_interval
    scale_apps_initial_delay scale_apps_interval
    scheduler_actions_execution_context_size sentry sentry_tags
    ssl_keystore_password ssl_keystore_path storage_compaction_interval
    storage_compaction_scan_batch_size storage_execution_context_size
    store_cache suppress_offers task_launch_confirm_timeout task_launch_timeout
    task_lost_expunge_initial_delay task_lost_expunge_interval
    task_operation_notification_timeout task_reservation_timeout
    task_tracker_request_timeout task_update_request_timeout webui_url zk
    zk_compression zk_compression_threshold zk_connection_timeout
    zk_max_concurrency zk_max_node_size zk_max_versions
    zk_operation_base_retry_sleep_ms zk_operation_max_retries zk_session_timeout
    zk_timeout
    """
)
UNITS = [
    # (script, which ExecStart in it, the program's flags)
    ("control.sh", 0, MESOS_MASTER_FLAGS),
    ("control.sh", 1, MARATHON_FLAGS),
    ("agent.sh", 0, MESOS_AGENT_FLAGS),
]


def exec_start_lines(script: str) -> list[str]:
    """Each ExecStart= of the script, with its backslash continuations joined."""
    lines = (PROVISION / script).read_text().splitlines()
    found = []
    for number, line in enumerate(lines):
        if not line.startswith("ExecStart="):
            continue
        parts = [line]
        while parts[-1].endswith("\\") and number + len(parts) < len(lines):
            parts.append(lines[number + len(parts)])
        found.append(" ".join(part.rstrip("\\") for part in parts))
    return found


def flags_of(command: str) -> list[str]:
    names = re.findall(r"(?:^|\s)\"?--([a-z][a-z0-9_-]*)", command)
    return [name.removeprefix("no-") for name in names]


@pytest.mark.parametrize(("script", "index", "known"), UNITS)
def test_every_flag_in_the_unit_exists_in_the_pinned_release(
    script: str, index: int, known: frozenset[str]
) -> None:
    command = exec_start_lines(script)[index]
    flags = flags_of(command)

    assert flags, f"no flags found in {script}: {command}"
    unknown = [flag for flag in flags if flag not in known]
    assert unknown == [], f"{script}: not flags of the pinned release: {unknown}"


def test_the_checker_notices_a_misspelt_flag() -> None:
    command = "ExecStart=/usr/sbin/mesos-master --work_dir=/x --authenticate_framework"

    unknown = [f for f in flags_of(command) if f not in MESOS_MASTER_FLAGS]

    assert unknown == ["authenticate_framework"]


def test_the_units_are_the_ones_this_test_expects() -> None:
    control = exec_start_lines("control.sh")
    agent = exec_start_lines("agent.sh")

    assert "--quorum" in control[0] and "/opt/marathon/bin/marathon" in control[1]
    assert "--containerizers" in agent[0]
