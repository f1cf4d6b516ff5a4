#!/usr/bin/env bash
# Consul agent configuration shared by the control VM (server) and the agents
# (clients). Sourced after lib.sh and versions.sh; defines functions only.
#
# ACLs are on with default deny everywhere. The server holds the management token
# (acl.tokens.master in Consul 1.8; later releases call it initial_management),
# which the user gets as CONSUL_HTTP_TOKEN; every agent registers itself with a
# narrower agent token that consul_bootstrap_acls creates.
#
# tests/test_vagrant_consul.py runs these functions against a real Consul of the
# pinned release: the rendered file must pass `consul validate`, the server must
# start from it, and the ACL bootstrap must give the tokens their documented
# powers.

set -euo pipefail

CONSUL_API="${CONSUL_API:-http://127.0.0.1:8500}"
CONSUL_CONFIG_DIR="${CONSUL_CONFIG_DIR:-/etc/consul.d}"

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
ui = true'
    management_line="    master = \"${CLUSTER_CONSUL_MANAGEMENT_TOKEN}\""
  fi
  if install_file 0640 consul:consul "${CONSUL_CONFIG_DIR}/consul.hcl" <<EOF; then changed=1; fi
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
ExecStart=/usr/bin/consul agent -config-dir=/etc/consul.d
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=3
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
EOF
  if ! consul validate "${CONSUL_CONFIG_DIR}" >/dev/null; then
    die "consul rejected ${CONSUL_CONFIG_DIR}/consul.hcl"
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

# The policy and token every agent registers with (node writes, service reads).
# Both are created under fixed ids, so re-running finds them instead of creating
# duplicates.
consul_bootstrap_acls() {
  require_env CLUSTER_CONSUL_MANAGEMENT_TOKEN CLUSTER_CONSUL_AGENT_TOKEN CLUSTER_CONSUL_AGENT_ACCESSOR
  local body
  body="$(umask 077 && mktemp)"
  if ! consul_api GET /v1/acl/policy/name/mesos-adapter-agents; then
    jq -n --arg rules 'node_prefix "" { policy = "write" }
service_prefix "" { policy = "read" }' \
      '{Name: "mesos-adapter-agents", Description: "Consul agents of the mesos-adapter cluster", Rules: $rules}' >"${body}"
    consul_api PUT /v1/acl/policy "${body}"
    log "created Consul policy mesos-adapter-agents"
  fi
  if ! consul_api GET "/v1/acl/token/${CLUSTER_CONSUL_AGENT_ACCESSOR}"; then
    jq -n '{AccessorID: env.CLUSTER_CONSUL_AGENT_ACCESSOR, SecretID: env.CLUSTER_CONSUL_AGENT_TOKEN,
            Description: "Consul agents of the mesos-adapter cluster",
            Policies: [{Name: "mesos-adapter-agents"}]}' >"${body}"
    consul_api PUT /v1/acl/token "${body}"
    log "created the Consul agent token"
  fi
  rm -f "${body}"
}
