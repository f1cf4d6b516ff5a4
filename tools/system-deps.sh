#!/usr/bin/env bash
# Installs the system packages the tests use, when this machine lets us.
# ZooKeeper (Debian package `zookeeper`: jars and /usr/share/zookeeper/bin, no
# service started; `zookeeperd` would start a system-wide server we do not want) is
# the only one. Without root or apt-get, the tests that need it skip with a reason.
set -euo pipefail

if [ -x /usr/share/zookeeper/bin/zkServer.sh ] || command -v zkServer.sh >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: ZooKeeper not installed and not root with apt-get; ZooKeeper tests will skip." >&2
  exit 0
fi
echo "system-deps: installing ZooKeeper from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends zookeeper >/dev/null
