#!/usr/bin/env bash
# Static checks for the Vagrant cluster under vagrant/, runnable without VMs:
#   1. shellcheck on every shell script under vagrant/;
#   2. the Vagrantfile: `vagrant validate --ignore-provider` when Vagrant is
#      installed (it needs no provider or network), else `ruby -c` (syntax only).
# Each check prints one line saying what ran. A missing tool prints
# "check-vagrant: SKIP <check>: <reason>" and is not a failure, unless
# CHECK_VAGRANT_REQUIRED is set (CI that installed the tools sets it), in which
# case it is. Any real finding exits non-zero.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VAGRANT_DIR="${ROOT}/vagrant"
failed=0

# A tool is missing: say so in one line; fail only when the tools are required.
skip() {
  local check="$1" reason="$2"
  echo "check-vagrant: SKIP ${check}: ${reason}"
  if [ -n "${CHECK_VAGRANT_REQUIRED:-}" ]; then
    echo "check-vagrant: FAIL ${check}: CHECK_VAGRANT_REQUIRED is set" >&2
    failed=1
  fi
}

# Every *.sh file and every file with a shell shebang, so a new script cannot
# slip past the check by its name.
shell_scripts() {
  local file
  while IFS= read -r -d '' file; do
    case "${file}" in
      *.sh) printf '%s\0' "${file}" ;;
      *) if head -n1 "${file}" | grep -Eq '^#!.*\b(ba)?sh\b'; then printf '%s\0' "${file}"; fi ;;
    esac
  done < <(find "${VAGRANT_DIR}" -name .vagrant -prune -o -type f -print0 | sort -z)
}

check_shellcheck() {
  if ! command -v shellcheck >/dev/null 2>&1; then
    skip shellcheck "shellcheck is not installed (Debian package: shellcheck)"
    return
  fi
  local scripts=()
  mapfile -d '' scripts < <(shell_scripts)
  if [ "${#scripts[@]}" = 0 ]; then
    echo "check-vagrant: FAIL shellcheck: no scripts found under vagrant/" >&2
    failed=1
    return
  fi
  # -x follows the `. lib.sh` lines, so the sourced helpers are checked in context.
  if shellcheck -x -P SCRIPTDIR "${scripts[@]}"; then
    echo "check-vagrant: ok shellcheck ($(shellcheck --version | sed -n 's/^version: //p')) on ${#scripts[@]} scripts"
  else
    echo "check-vagrant: FAIL shellcheck" >&2
    failed=1
  fi
}

check_vagrantfile() {
  if command -v vagrant >/dev/null 2>&1; then
    # Keep Vagrant's state out of the repository and its update check off the
    # network; --ignore-provider validates without VirtualBox or libvirt.
    local state output
    state="$(mktemp -d)"
    if output="$(cd "${VAGRANT_DIR}" &&
      VAGRANT_DOTFILE_PATH="${state}/dotfile" VAGRANT_HOME="${state}/home" \
        VAGRANT_CHECKPOINT_DISABLE=1 vagrant validate --ignore-provider 2>&1)"; then
      echo "check-vagrant: ok vagrant validate --ignore-provider ($(vagrant --version 2>/dev/null))"
    else
      printf '%s\n' "${output}" >&2
      echo "check-vagrant: FAIL vagrant validate" >&2
      failed=1
    fi
    rm -rf "${state}"
  elif command -v ruby >/dev/null 2>&1; then
    if ruby -c "${VAGRANT_DIR}/Vagrantfile" >/dev/null; then
      echo "check-vagrant: ok ruby -c Vagrantfile (syntax only; vagrant is not installed)"
    else
      echo "check-vagrant: FAIL ruby -c Vagrantfile" >&2
      failed=1
    fi
  else
    skip vagrantfile "neither vagrant nor ruby is installed (Debian packages: vagrant or ruby)"
  fi
}

check_shellcheck
check_vagrantfile
exit "${failed}"
