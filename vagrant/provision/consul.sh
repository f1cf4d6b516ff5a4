#!/usr/bin/env bash
# Consul agent configuration shared by the control VM (server) and the agents
# (clients). Sourced after lib.sh and versions.sh; defines functions only.
#
# ACLs are on with default deny everywhere. The server holds the management token
# (acl.tokens.initial_management, which the user gets as CONSUL_HTTP_TOKEN); every
# agent registers itself with a narrower agent token that control.sh creates.

set -euo pipefail

CONSUL_API="http://127.0.0.1:8500"

# Write /etc/consul.d/consul.hcl for ROLE (server or client) and the systemd unit;
# restart Consul only when one of them changed. The file holds tokens and the
# gossip key, so only root and the consul user can read it.
consul_configure() {
  local role="$1" changed=0 server_block="" management_line=""
  require_env NODE_IP CONTROL_IP CLUSTER_CONSUL_GOSSIP_KEY CLUSTER_CONSUL_AGENT_TOKEN
  if [ "${role}" = server ]; then
    require_env CLUSTER_CONSUL_MANAGEMENT_TOKEN
    server_block='server = true
bootstrap_expect = 1
ui_config {
  enabled = true
}'
    management_line="    initial_management = \"${CLUSTER_CONSUL_MANAGEMENT_TOKEN}\""
  fi
  if install_file 0640 consul:consul /etc/consul.d/consul.hcl <<EOF; then changed=1; fi
# Written by vagrant/provision (mesos-adapter); re-provisioning replaces it.
datacenter = "dc1"
node_name = "$(hostname -s)"
data_dir = "/var/lib/consul"
bind_addr = "${NODE_IP}"
advertise_addr = "${NODE_IP}"
client_addr = "0.0.0.0"
retry_join = ["${CONTROL_IP}"]
encrypt = "${CLUSTER_CONSUL_GOSSIP_KEY}"
${server_block}
acl {
  enabled = true
  default_policy = "deny"
  down_policy = "extend-cache"
  enable_token_persistence = true
  tokens {
${management_line}
    agent = "${CLUSTER_CONSUL_AGENT_TOKEN}"
  }
}
EOF
  if install_file 0644 root:root /etc/systemd/system/consul.service <<'EOF'; then changed=1; fi
[Unit]
Description=Consul agent (mesos-adapter cluster)
Wants=network-online.target
After=network-online.target

[Service]
User=consul
Group=consul
ExecStart=/usr/local/bin/consul agent -config-dir=/etc/consul.d
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=3
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
EOF
  if ! consul validate /etc/consul.d >/dev/null; then
    die "consul rejected /etc/consul.d/consul.hcl"
  fi
  service_up consul.service "${changed}"
}

# Wait until this agent sees a Consul leader; the status endpoints need no token.
consul_wait_for_leader() {
  local waited=0 leader=""
  while :; do
    leader="$(curl -fsS --max-time 5 "${CONSUL_API}/v1/status/leader" 2>/dev/null || true)"
    if [ -n "${leader}" ] && [ "${leader}" != '""' ]; then
      log "Consul leader is ${leader}"
      return 0
    fi
    if [ "${waited}" -ge 180 ]; then
      die "Consul has no leader after 180s (see: journalctl -u consul)"
    fi
    sleep 3
    waited=$((waited + 3))
  done
}

# Call the local Consul HTTP API with the management token. The token goes in a
# private header file, never on a command line; BODY is a file path or empty.
consul_api() {
  local method="$1" path="$2" body="${3:-}" headers status
  headers="$(umask 077 && mktemp)"
  printf 'X-Consul-Token: %s\n' "${CLUSTER_CONSUL_MANAGEMENT_TOKEN}" >"${headers}"
  local args=(-fsS --max-time 10 -o /dev/null -X "${method}" -H "@${headers}")
  if [ -n "${body}" ]; then
    args+=(--data-binary "@${body}")
  fi
  status=0
  curl "${args[@]}" "${CONSUL_API}${path}" || status=$?
  rm -f "${headers}"
  return "${status}"
}
