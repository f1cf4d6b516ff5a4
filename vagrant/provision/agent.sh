#!/usr/bin/env bash
# An agent VM: Docker Engine, the Mesos agent (Docker and Mesos containerizers,
# rack/zone attributes) and a Consul client. Runs after cgroups-v1.sh (and the
# reboot it needs) and common.sh.
#
# Environment (from the Vagrantfile; the CLUSTER_CONSUL_* values are secrets):
#   NODE_IP, CONTROL_IP, AGENT_ATTRIBUTES ("rack:r1;zone:z1")
#   CLUSTER_CONSUL_AGENT_TOKEN, CLUSTER_CONSUL_GOSSIP_KEY
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/lib.sh
. "${HERE}/lib.sh"
# shellcheck source=SCRIPTDIR/versions.sh
. "${HERE}/versions.sh"
# shellcheck source=SCRIPTDIR/consul.sh
. "${HERE}/consul.sh"

require_env NODE_IP CONTROL_IP AGENT_ATTRIBUTES \
  CLUSTER_CONSUL_AGENT_TOKEN CLUSTER_CONSUL_GOSSIP_KEY

# Mesos 1.11's cgroups isolators only know the v1 hierarchy; cgroups-v1.sh switched
# the kernel over, and this stops early if that reboot did not happen.
require_cgroup_v1() {
  if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    die "this VM still runs the unified cgroup v2 hierarchy; run 'vagrant reload $(hostname -s) --provision'"
  fi
}

# Docker Engine from Docker's repository at the pinned version. The repository key
# is trusted only if its fingerprint is the one versions.sh names.
install_docker() {
  local keyring=/etc/apt/keyrings/docker.gpg fingerprint tmp
  if [ ! -s "${keyring}" ]; then
    tmp="$(mktemp)"
    curl -fsSL "${DOCKER_APT_URL}/gpg" -o "${tmp}"
    fingerprint="$(gpg --show-keys --with-colons "${tmp}" | awk -F: '/^fpr:/ {print $10; exit}')"
    if [ "${fingerprint}" != "${DOCKER_KEY_FINGERPRINT}" ]; then
      rm -f "${tmp}"
      die "Docker's apt key has fingerprint ${fingerprint:-none}, expected ${DOCKER_KEY_FINGERPRINT}"
    fi
    install -d -m 0755 /etc/apt/keyrings
    gpg --dearmor <"${tmp}" | install_file 0644 root:root "${keyring}" || true
    rm -f "${tmp}"
  fi
  if printf 'deb [arch=amd64 signed-by=%s] %s %s stable\n' "${keyring}" "${DOCKER_APT_URL}" "${UBUNTU_CODENAME}" |
    install_file 0644 root:root /etc/apt/sources.list.d/docker.list; then
    apt_sources_changed
  fi
  apt_install "docker-ce=${DOCKER_VERSION}" "docker-ce-cli=${DOCKER_VERSION}" containerd.io
  apt-mark hold docker-ce docker-ce-cli >/dev/null
  systemctl enable --now docker.service >/dev/null 2>&1
  docker info >/dev/null || die "Docker is installed but not answering (see: journalctl -u docker)"
}

# The Mesos agent. Tasks run as root (--no-switch_user) because the users who
# submit jobs from their laptops have no accounts on these VMs. KillMode=process
# and Delegate=yes let executors outlive an agent restart, as Mesos expects.
setup_mesos_agent() {
  local changed=0 bin
  bin="$(command -v mesos-agent || dpkg -L mesos | grep -E '/mesos-agent$' | head -n1 || true)"
  [ -n "${bin}" ] || die "the mesos package has no mesos-agent"
  disable_units mesos-master.service mesos-slave.service
  install -d -m 0755 /var/lib/mesos/agent
  if install_file 0644 root:root /etc/systemd/system/mesos-agent.service <<EOF; then changed=1; fi
[Unit]
Description=Mesos agent (mesos-adapter cluster)
Wants=network-online.target docker.service
After=network-online.target docker.service

[Service]
ExecStart=${bin} \\
  --master=zk://${CONTROL_IP}:2181/mesos \\
  --ip=${NODE_IP} --hostname=${NODE_IP} --port=5051 \\
  --work_dir=/var/lib/mesos/agent --log_dir=/var/log/mesos \\
  --containerizers=docker,mesos --image_providers=docker \\
  --isolation=cgroups/cpu,cgroups/mem,filesystem/linux,docker/runtime \\
  "--attributes=${AGENT_ATTRIBUTES}" \\
  --executor_registration_timeout=5mins \\
  --no-switch_user
Restart=always
RestartSec=5
KillMode=process
Delegate=yes
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
EOF
  service_up mesos-agent.service "${changed}"
  wait_for_http mesos-agent "http://${NODE_IP}:5051/health"
}

# The Consul client joins the server on the control VM. It does not wait for a
# leader: with a provider that boots VMs in parallel the server may still be
# provisioning, and retry_join keeps trying on its own.
setup_consul_client() {
  consul_configure client
  wait_for_http consul "${CONSUL_API}/v1/status/leader" 60
}

require_cgroup_v1
install_docker
setup_mesos_agent
setup_consul_client
log "agent ready: Mesos agent http://${NODE_IP}:5051 (attributes ${AGENT_ATTRIBUTES})"
