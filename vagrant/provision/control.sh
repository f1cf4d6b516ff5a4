#!/usr/bin/env bash
# The control VM: ZooKeeper, the Mesos master, Marathon and the Consul server.
# Runs after common.sh. Each service is configured, (re)started only when its files
# changed, and waited for, so `vagrant up` ends with a working control plane.
#
# Environment (from the Vagrantfile; the *_SECRET, *_PASSWORD, *_TOKEN, *_ACCESSOR and
# *_KEY values are secrets and arrive through Vagrant's sensitive env):
#   NODE_IP, CONTROL_IP
#   CLUSTER_ADAPTER_PRINCIPAL, CLUSTER_ADAPTER_SECRET      mesos-adapter's Mesos credential
#   CLUSTER_MARATHON_PRINCIPAL, CLUSTER_MARATHON_SECRET    Marathon's Mesos credential
#   CLUSTER_MARATHON_HTTP_USER, CLUSTER_MARATHON_HTTP_PASSWORD
#   CLUSTER_CONSUL_MANAGEMENT_TOKEN, CLUSTER_CONSUL_AGENT_TOKEN,
#   CLUSTER_CONSUL_AGENT_ACCESSOR, CLUSTER_CONSUL_GOSSIP_KEY
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/lib.sh
. "${HERE}/lib.sh"
# shellcheck source=SCRIPTDIR/versions.sh
. "${HERE}/versions.sh"
# shellcheck source=SCRIPTDIR/consul.sh
. "${HERE}/consul.sh"

require_env NODE_IP CONTROL_IP \
  CLUSTER_ADAPTER_PRINCIPAL CLUSTER_ADAPTER_SECRET \
  CLUSTER_MARATHON_PRINCIPAL CLUSTER_MARATHON_SECRET \
  CLUSTER_MARATHON_HTTP_USER CLUSTER_MARATHON_HTTP_PASSWORD \
  CLUSTER_CONSUL_MANAGEMENT_TOKEN CLUSTER_CONSUL_AGENT_TOKEN \
  CLUSTER_CONSUL_AGENT_ACCESSOR CLUSTER_CONSUL_GOSSIP_KEY

ZK_URL="zk://${CONTROL_IP}:2181"

# A single ZooKeeper server from Ubuntu's package: Mesos elects its leading master
# and Marathon stores its state there. One node is enough for a laptop cluster.
setup_zookeeper() {
  local changed=0
  apt_install "${ZOOKEEPER_PACKAGE}"
  if printf '1\n' | install_file 0644 root:root /etc/zookeeper/conf/myid; then changed=1; fi
  service_up zookeeper.service "${changed}"
  wait_for_tcp zookeeper "${CONTROL_IP}" 2181
}

# Find a program the Mesos package installed, wherever the PPA put it, so the
# units below do not depend on the package's layout.
mesos_program() {
  local name="$1" path
  path="$(command -v "${name}" || true)"
  if [ -z "${path}" ]; then
    path="$(dpkg -L mesos | grep -E "/${name}\$" | head -n1 || true)"
  fi
  [ -n "${path}" ] || die "the mesos package has no ${name}"
  printf '%s' "${path}"
}

# The Mesos master, with framework authentication on for both APIs: the v0 driver
# (CRAM-MD5, used by Marathon) and the v1 HTTP scheduler API (basic auth, used by
# mesos-adapter through pymesos). Both read the same --credentials file.
setup_mesos_master() {
  local changed=0 bin
  bin="$(mesos_program mesos-master)"
  disable_units mesos-slave.service mesos-agent.service
  if jq -n '{credentials: [
      {principal: env.CLUSTER_ADAPTER_PRINCIPAL, secret: env.CLUSTER_ADAPTER_SECRET},
      {principal: env.CLUSTER_MARATHON_PRINCIPAL, secret: env.CLUSTER_MARATHON_SECRET}
    ]}' | install_file 0600 root:root /etc/mesos/credentials.json; then changed=1; fi
  install -d -m 0755 /var/lib/mesos/master
  if install_file 0644 root:root /etc/systemd/system/mesos-master.service <<EOF; then changed=1; fi
[Unit]
Description=Mesos master (mesos-adapter cluster)
Wants=network-online.target zookeeper.service
After=network-online.target zookeeper.service

[Service]
ExecStart=${bin} \\
  --ip=${NODE_IP} --hostname=${NODE_IP} --port=5050 \\
  --zk=${ZK_URL}/mesos --quorum=1 \\
  --work_dir=/var/lib/mesos/master --log_dir=/var/log/mesos \\
  --cluster=mesos-adapter \\
  --authenticate_frameworks \\
  --authenticate_http_frameworks --http_framework_authenticators=basic \\
  --credentials=/etc/mesos/credentials.json
Restart=always
RestartSec=5
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
EOF
  service_up mesos-master.service "${changed}"
  wait_for_http mesos-master "http://${NODE_IP}:5050/health"
}

# Marathon from the pinned release tarball, run by its own user on Java 8 with the
# Mesos native library from the Mesos package. Its Mesos secret sits in a file
# (no trailing newline: Marathon reads the bytes as-is) and its HTTP credentials in
# the unit's environment file, so neither shows on a command line.
setup_marathon() {
  local changed=0 home="/opt/marathon-${MARATHON_BUILD}" tarball libmesos
  apt_install "${JAVA_PACKAGE}"
  ensure_system_user marathon /var/lib/marathon
  if [ ! -x "${home}/bin/marathon" ]; then
    tarball="/var/cache/marathon-${MARATHON_BUILD}.tgz"
    download_verified "${MARATHON_TARBALL_URL}" "${tarball}" sha1 "${MARATHON_TARBALL_SHA1}"
    rm -rf "${home}.part"
    mkdir -p "${home}.part"
    tar -xzf "${tarball}" -C "${home}.part" --strip-components=1
    mv "${home}.part" "${home}"
    changed=1
  fi
  ln -sfn "${home}" /opt/marathon
  libmesos="$(dpkg -L mesos | grep -E '/libmesos\.so$' | head -n1 || true)"
  [ -n "${libmesos}" ] || die "the mesos package has no libmesos.so for Marathon"

  install -d -m 0750 -o root -g marathon /etc/marathon
  if printf '%s' "${CLUSTER_MARATHON_SECRET}" |
    install_file 0640 root:marathon /etc/marathon/mesos-secret; then changed=1; fi
  if install_file 0640 root:marathon /etc/marathon/environment <<EOF; then changed=1; fi
MESOS_NATIVE_JAVA_LIBRARY=${libmesos}
MESOSPHERE_HTTP_CREDENTIALS=${CLUSTER_MARATHON_HTTP_USER}:${CLUSTER_MARATHON_HTTP_PASSWORD}
EOF
  if install_file 0644 root:root /etc/systemd/system/marathon.service <<EOF; then changed=1; fi
[Unit]
Description=Marathon ${MARATHON_VERSION} (mesos-adapter cluster)
Wants=network-online.target mesos-master.service
After=network-online.target mesos-master.service zookeeper.service

[Service]
User=marathon
Group=marathon
EnvironmentFile=/etc/marathon/environment
ExecStart=/opt/marathon/bin/marathon \\
  --master ${ZK_URL}/mesos --zk ${ZK_URL}/marathon \\
  --hostname ${NODE_IP} --http_port 8080 \\
  --framework_name marathon \\
  --mesos_authentication \\
  --mesos_authentication_principal ${CLUSTER_MARATHON_PRINCIPAL} \\
  --mesos_authentication_secret_file /etc/marathon/mesos-secret
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
EOF
  service_up marathon.service "${changed}"
  # /ping needs no credentials; Marathon takes a minute to elect itself and connect.
  wait_for_http marathon "http://${NODE_IP}:8080/ping" 300
}

# The Consul server, then the agents' policy and token (consul.sh).
setup_consul_server() {
  consul_configure server
  consul_wait_for_leader
  consul_bootstrap_acls
}

apt_install jq
setup_zookeeper
setup_mesos_master
setup_marathon
setup_consul_server
log "control plane ready: Mesos http://${NODE_IP}:5050, Marathon http://${NODE_IP}:8080, Consul http://${NODE_IP}:8500"
