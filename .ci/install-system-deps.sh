#!/usr/bin/env bash
# Install the system packages the postgis/browser/redis tests need (Debian 12).
#
#   chromium                 -> /usr/bin/chromium (driven by Playwright, tests/support/browser.py)
#   fonts-dejavu-core        -> a font so Chromium renders text
#   postgresql-15            -> /usr/lib/postgresql/15/bin/initdb (tests/support/postgis.py)
#   postgresql-15-postgis-3  -> /usr/share/postgresql/15/extension/postgis.control
#   redis-server             -> /usr/bin/redis-server (tests/test_redis_cache.py starts its own)
#
# Idempotent: only missing components are installed; when nothing is missing it only
# prints what it found.  As root on Debian it runs `apt-get update` (once) and
# `apt-get install --no-install-recommends` for the missing packages.  When not root
# (or without apt-get) it prints a warning naming the missing packages and exits 0:
# the tests then fail loudly with the same hint instead of being skipped.
#
# It never starts services: while installing, a temporary /usr/sbin/policy-rc.d
# (exit 101) stops the postgresql package from starting its default cluster.  The
# test fixtures start their own throwaway cluster.
set -euo pipefail

log() { printf 'install-system-deps: %s\n' "$*"; }

# package=file that proves it is installed (-e follows symlinks: postgis.control is
# an alternatives symlink to postgis-3.control).
components=(
  chromium=/usr/bin/chromium
  fonts-dejavu-core=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
  postgresql-15=/usr/lib/postgresql/15/bin/initdb
  postgresql-15-postgis-3=/usr/share/postgresql/15/extension/postgis.control
  redis-server=/usr/bin/redis-server
)

missing_components() { # prints the packages whose file is missing, one per line
  local entry
  for entry in "${components[@]}"; do
    [[ -e ${entry#*=} ]] || printf '%s\n' "${entry%%=*}"
  done
}

for entry in "${components[@]}"; do
  if [[ -e ${entry#*=} ]]; then
    log "ok: ${entry%%=*} (${entry#*=})"
  else
    log "missing: ${entry%%=*} (${entry#*=} not found)"
  fi
done
mapfile -t missing < <(missing_components)

if ((${#missing[@]} == 0)); then
  log "nothing to install"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  log "WARNING: not root, cannot install missing package(s): ${missing[*]}"
  log "WARNING: run as root: apt-get install -y --no-install-recommends ${missing[*]}"
  log "WARNING: tests marked postgis/browser will fail until then"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1 || [[ ! -r /etc/debian_version ]]; then
  log "WARNING: not a Debian system (no apt-get), cannot install: ${missing[*]}"
  exit 0
fi

# Keep maintainer scripts from starting services (the postgresql package would
# otherwise start its "main" cluster, redis-server its default server).  Only when no policy is in place already.
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
  log "creating temporary $policy (no service starts during install)"
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 0755 "$policy"
  trap 'rm -f "$policy"; log "removed temporary $policy"' EXIT
fi

export DEBIAN_FRONTEND=noninteractive
log "running: apt-get update"
apt-get update -q
log "running: apt-get install -y --no-install-recommends ${missing[*]}"
apt-get install -y -q --no-install-recommends "${missing[@]}"

# Verify: a package that installed but does not provide the expected file is an error.
mapfile -t failed < <(missing_components)
if ((${#failed[@]} > 0)); then
  log "ERROR: still missing after install: ${failed[*]}"
  exit 1
fi
log "installed: ${missing[*]}"
