#!/usr/bin/env bash
# Helpers shared by the provisioning scripts (sourced, never run on its own;
# the strict mode below repeats the callers' so the file is safe on its own too).
#
# Every helper is safe to call again on a provisioned machine: files are replaced
# only when their content changes, services restart only when their files did, and
# downloads are skipped when the pinned version is already installed. Secrets reach
# the scripts as environment variables (the Vagrantfile marks them sensitive, so
# Vagrant scrubs them from its output); nothing here prints them.

set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

# Prefix every message, so provisioning output says which step spoke.
log() {
  printf '[provision %s] %s\n' "$(hostname -s)" "$*" >&2
}

die() {
  log "ERROR: $*"
  exit 1
}

# Fail early, naming the variable, when the Vagrantfile did not pass one in.
# Only names are printed, never values.
require_env() {
  local name
  for name in "$@"; do
    if [ -z "${!name:-}" ]; then
      die "environment variable ${name} is not set (run through the Vagrantfile)"
    fi
  done
}

APT_UPDATED=0
# `apt-get update` once per provisioning run: each script adds repositories first,
# and a second update in the same run would only cost time.
apt_update_once() {
  if [ "${APT_UPDATED}" = 0 ]; then
    apt-get update -q >/dev/null
    APT_UPDATED=1
  fi
}

# Force the next apt_update_once to run (after adding a repository).
apt_sources_changed() {
  APT_UPDATED=0
}

# Install packages that are missing; already-installed ones cost nothing.
apt_install() {
  local missing=() pkg
  for pkg in "$@"; do
    # Version-pinned names (pkg=version) are checked against the exact version.
    local name="${pkg%%=*}" want=""
    [ "${pkg}" != "${name}" ] && want="${pkg#*=}"
    local have
    have="$(dpkg-query -W -f='${Status} ${Version}' "${name}" 2>/dev/null || true)"
    case "${have}" in
      "install ok installed "*)
        if [ -z "${want}" ] || [ "${have##* }" = "${want}" ]; then
          continue
        fi
        ;;
    esac
    missing+=("${pkg}")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    apt_update_once
    log "installing ${missing[*]}"
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# Copy stdin to PATH with MODE and OWNER (user:group) when the content differs.
# Returns 0 when the file changed and 1 when it was already up to date, so callers
# can restart a service only when its configuration moved. The temporary file is
# created with a private umask, so secrets never sit world-readable.
install_file() {
  local mode="$1" owner="$2" path="$3" tmp
  tmp="$(umask 077 && mktemp)"
  cat >"${tmp}"
  mkdir -p "$(dirname "${path}")"
  if [ -f "${path}" ] && cmp -s "${tmp}" "${path}"; then
    rm -f "${tmp}"
    chmod "${mode}" "${path}"
    chown "${owner}" "${path}"
    return 1
  fi
  install -m "${mode}" -o "${owner%%:*}" -g "${owner##*:}" "${tmp}" "${path}"
  rm -f "${tmp}"
  return 0
}

# Create a system user for a daemon unless it exists already.
ensure_system_user() {
  local user="$1" home="$2"
  if ! id -u "${user}" >/dev/null 2>&1; then
    useradd --system --home-dir "${home}" --shell /usr/sbin/nologin "${user}"
  fi
}

# Enable a unit and make it run the current configuration: restart it when its
# files changed (CHANGED=1), otherwise only start it if it is not running.
service_up() {
  local unit="$1" changed="$2"
  systemctl daemon-reload
  systemctl enable "${unit}" >/dev/null 2>&1
  if [ "${changed}" = 1 ]; then
    log "restarting ${unit}"
    systemctl restart "${unit}"
  else
    systemctl start "${unit}"
  fi
}

# Stop and disable units a package may ship that would compete with ours
# (a second Mesos master or agent). Units that do not exist are ignored.
disable_units() {
  local unit
  for unit in "$@"; do
    if systemctl list-unit-files "${unit}" 2>/dev/null | grep -q "^${unit}"; then
      systemctl disable --now "${unit}" >/dev/null 2>&1 || true
    fi
  done
}

# Wait until an HTTP URL answers 2xx, so the next step (and the user) finds the
# service ready. Gives up after TIMEOUT seconds with the service's name.
wait_for_http() {
  local what="$1" url="$2" timeout="${3:-180}" waited=0
  until curl -fsS -o /dev/null --max-time 5 "${url}"; do
    if [ "${waited}" -ge "${timeout}" ]; then
      die "${what} did not answer at ${url} within ${timeout}s (see: journalctl -u ${what})"
    fi
    sleep 3
    waited=$((waited + 3))
  done
  log "${what} is up (${url})"
}

# Wait until a TCP port accepts connections (services without an HTTP check).
wait_for_tcp() {
  local what="$1" host="$2" port="$3" timeout="${4:-120}" waited=0
  until timeout 3 bash -c ": </dev/tcp/${host}/${port}" 2>/dev/null; do
    if [ "${waited}" -ge "${timeout}" ]; then
      die "${what} is not listening on ${host}:${port} after ${timeout}s"
    fi
    sleep 3
    waited=$((waited + 3))
  done
  log "${what} is listening on ${host}:${port}"
}

# Download URL to DEST and check its digest (sha1 or sha256) before anything uses
# it; a mismatch deletes the file and stops provisioning.
download_verified() {
  local url="$1" dest="$2" algo="$3" digest="$4"
  if [ -f "${dest}" ] && printf '%s  %s\n' "${digest}" "${dest}" | "${algo}sum" -c --status; then
    return 0
  fi
  log "downloading ${url}"
  curl -fsSL --retry 3 -o "${dest}.part" "${url}"
  if ! printf '%s  %s\n' "${digest}" "${dest}.part" | "${algo}sum" -c --status; then
    rm -f "${dest}.part"
    die "${algo} checksum mismatch for ${url}"
  fi
  mv "${dest}.part" "${dest}"
}
