#!/usr/bin/env bash
# Every VM: base tools, time sync, name resolution, the Mesos package and the
# Consul binary. The role scripts (control.sh, agent.sh) configure and start them.
#
# Environment (from the Vagrantfile): NODE_IP, CLUSTER_HOSTS ("ip=name ip=name ...").
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/lib.sh
. "${HERE}/lib.sh"
# shellcheck source=SCRIPTDIR/versions.sh
. "${HERE}/versions.sh"

require_env NODE_IP CLUSTER_HOSTS

# The box must be the release the pinned packages were built for.
check_distribution() {
  local codename
  # shellcheck source=/dev/null
  codename="$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")"
  if [ "${codename}" != "${UBUNTU_CODENAME}" ]; then
    die "expected Ubuntu ${UBUNTU_CODENAME}, found '${codename}'; the pinned packages are built for ${UBUNTU_CODENAME}"
  fi
}

# Mesos, ZooKeeper and Consul all compare timestamps across machines (sessions,
# leases, health checks); chrony keeps the three clocks together.
setup_base() {
  apt_install ca-certificates curl gnupg unzip chrony software-properties-common libsasl2-modules
  systemctl enable --now chrony >/dev/null 2>&1
}

# Every VM resolves the others by name without DNS: Mesos advertises hostnames,
# and Marathon links to agents by them. Our block in /etc/hosts is rewritten as a
# whole, so re-provisioning with a changed table leaves no stale lines.
setup_hosts() {
  local begin="# BEGIN mesos-adapter cluster" end="# END mesos-adapter cluster" entry
  local tmp
  tmp="$(mktemp)"
  sed "/^${begin}\$/,/^${end}\$/d" /etc/hosts >"${tmp}"
  # The box maps its own hostname to 127.0.1.1; Mesos would then advertise the
  # loopback address, so that line goes.
  sed -i "/^127\.0\.1\.1[[:space:]]/d" "${tmp}"
  {
    printf '%s\n' "${begin}"
    for entry in ${CLUSTER_HOSTS}; do
      printf '%s %s\n' "${entry%%=*}" "${entry#*=}"
    done
    printf '%s\n' "${end}"
  } >>"${tmp}"
  install_file 0644 root:root /etc/hosts <"${tmp}" || true
  rm -f "${tmp}"
}

# Mesos from the PPA named in versions.sh, held at the pinned upstream version by
# an apt preference (the PPA may publish newer Debian revisions of it).
install_mesos() {
  if ! grep -rqs "nrf-sarao/mesos" /etc/apt/sources.list.d/; then
    log "adding ${MESOS_PPA}"
    add-apt-repository -y -n "${MESOS_PPA}" >/dev/null
    apt_sources_changed
  fi
  install_file 0644 root:root /etc/apt/preferences.d/mesos <<EOF || true
# mesos-adapter: hold Mesos at the version the cluster is pinned to.
Package: mesos
Pin: version ${MESOS_VERSION}-*
Pin-Priority: 1001
EOF
  apt_install mesos
  local have
  have="$(dpkg-query -W -f='${Version}' mesos)"
  case "${have}" in
    "${MESOS_VERSION}"-*) ;;
    *) die "mesos ${have} installed, expected ${MESOS_VERSION}" ;;
  esac
  apt-mark hold mesos >/dev/null
  install -d -m 0755 /etc/mesos /var/log/mesos
}

# Ubuntu's Consul package at the pinned version, held so an upgrade cannot move
# it. The package ships a unit of its own; ours in /etc/systemd/system wins.
install_consul() {
  apt_install "consul=${CONSUL_PACKAGE_VERSION}"
  apt-mark hold consul >/dev/null
  ensure_system_user consul /var/lib/consul
  install -d -m 0750 -o consul -g consul /var/lib/consul /etc/consul.d
  if ! consul version | head -n1 | grep -qx "Consul v${CONSUL_VERSION}"; then
    die "consul reports $(consul version | head -n1), not v${CONSUL_VERSION}"
  fi
  log "installed Consul ${CONSUL_VERSION} (Ubuntu package ${CONSUL_PACKAGE_VERSION})"
}

check_distribution
setup_base
setup_hosts
install_mesos
install_consul
