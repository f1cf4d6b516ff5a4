#!/usr/bin/env bash
# Agents only: boot the kernel with the cgroup v1 hierarchy. Ubuntu 22.04 starts
# with the unified v2 hierarchy, which Mesos 1.11's cgroups isolators cannot use.
# The Vagrantfile reboots the VM right after this script; the change is idempotent
# (the grub snippet is rewritten only when it differs).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/lib.sh
. "${HERE}/lib.sh"

SNIPPET=/etc/default/grub.d/60-mesos-adapter-cgroup-v1.cfg

# Append the switch to the kernel command line through a grub.d snippet, so the
# box's own /etc/default/grub stays untouched, and regenerate grub.cfg only when
# the snippet changed.
if install_file 0644 root:root "${SNIPPET}" <<'CFG'; then
# mesos-adapter: Mesos 1.11 needs the cgroup v1 hierarchy.
GRUB_CMDLINE_LINUX="${GRUB_CMDLINE_LINUX:-} systemd.unified_cgroup_hierarchy=0"
CFG
  log "kernel command line now selects cgroup v1; regenerating grub.cfg"
  update-grub >/dev/null 2>&1
fi

if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  log "cgroup v2 still active; the reboot that follows switches to v1"
fi
