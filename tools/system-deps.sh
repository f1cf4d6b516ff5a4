#!/usr/bin/env bash
# Installs the Debian packages the tests use, when this machine lets us (root
# with apt-get): ZooKeeper for master detection (package `zookeeper`: jars and
# /usr/share/zookeeper/bin, no service started; `zookeeperd` would start a
# system-wide server we do not want), shellcheck and vagrant for the static
# checks of vagrant/ (`vagrant validate` runs without any provider).
# Elsewhere, the tests that need them skip with a one-line reason.
set -euo pipefail

missing=()
[ -x /usr/share/zookeeper/bin/zkServer.sh ] || command -v zkServer.sh >/dev/null 2>&1 \
  || missing+=(zookeeper)
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
command -v vagrant >/dev/null 2>&1 || missing+=(vagrant)

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: ${missing[*]} not installed and not root with apt-get; their tests will skip." >&2
  exit 0
fi
echo "system-deps: installing ${missing[*]} from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
