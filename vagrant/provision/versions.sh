#!/usr/bin/env bash
# Every pinned version the provisioning scripts install, in one place.
# vagrant/README.md has the same table; tests/test_vagrant_static.py keeps the two
# in step. Sourced by the other scripts; sets variables only, which is why
# the unused-variable warning (SC2034) is off for this file.
# shellcheck disable=SC2034

set -euo pipefail

# The box's Ubuntu release; the Mesos PPA and Docker repository are chosen by it.
UBUNTU_CODENAME="jammy"

# Apache Mesos, binary packages built for Ubuntu by SARAO (South African Radio
# Astronomy Observatory) in the Launchpad PPA ppa:nrf-sarao/mesos
# (https://launchpad.net/~nrf-sarao/+archive/ubuntu/mesos). Apache itself ships
# source only; Mesosphere's repos.mesosphere.com stopped at Ubuntu 18.04.
# apt checks the packages against the PPA's signing key (fetched from Launchpad by
# add-apt-repository); the PPA publishes no separate checksum list.
# The Debian revision is left to the PPA (an apt pin holds the upstream version).
MESOS_VERSION="1.11.0"
MESOS_PPA="ppa:nrf-sarao/mesos"

# Marathon, the release tarball Mesosphere (D2iQ) published. The build id and SHA-1
# are the ones DC/OS 2.2 pinned (github.com/dcos/dcos, packages/marathon/buildinfo.json,
# commit 7208c13c8 "Bump Marathon to 1.11.24").
MARATHON_VERSION="1.11.24"
MARATHON_BUILD="1.11.24-9ee9f3ceb"
MARATHON_TARBALL_URL="https://downloads.mesosphere.io/marathon/builds/${MARATHON_BUILD}/marathon-${MARATHON_BUILD}.tgz"
MARATHON_TARBALL_SHA1="974b48fb9ecc5457fc9e6c03009a0d81685b75cd"
# Marathon 1.11 runs on Java 8 (DC/OS 2.2 shipped OpenJDK 8); Ubuntu's package.
JAVA_PACKAGE="openjdk-8-jre-headless"

# Consul 1.8.7 (MPL-2.0), Ubuntu's own package from jammy's universe component
# (https://packages.ubuntu.com/jammy/consul), signed by the Ubuntu archive key
# that apt already trusts; held at this version. It is the release the test
# suite runs its Consul conformance tests against (tools/install_consul.py takes
# the same upstream release from Debian's or Ubuntu's pool), so what CI checks
# is what the VMs run.
CONSUL_VERSION="1.8.7"
CONSUL_PACKAGE_VERSION="1.8.7+dfsg1-3"

# Docker Engine on the agents, from Docker's apt repository
# (https://download.docker.com/linux/ubuntu); apt verifies it against Docker's
# release key, whose fingerprint we check before trusting it.
DOCKER_VERSION="5:24.0.9-1~ubuntu.22.04~jammy"
DOCKER_APT_URL="https://download.docker.com/linux/ubuntu"
DOCKER_KEY_FINGERPRINT="9DC858229FC7DD38854AE2D88D81803C0EBFCD88"

# ZooKeeper: Ubuntu's own `zookeeperd` (3.4.x on 22.04), not pinned beyond the
# distribution release.
ZOOKEEPER_PACKAGE="zookeeperd"
