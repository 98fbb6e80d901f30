#!/usr/bin/env bash
# Make sure a PostgreSQL server and the TimescaleDB extension are installed (`make setup`).
#
# 1. PostgreSQL server binaries: if no /usr/lib/postgresql/<major>/bin/postgres exists, install
#    Debian's `postgresql` package (needs root). No system cluster is created or started:
#    bench runs its own throwaway clusters.
# 2. TimescaleDB for that PostgreSQL major: scripts/install-timescaledb.sh (idempotent).
# 3. Optional: Debian's `chromium`, which the report-page screenshot test (tests/report_page.rs)
#    uses when present. A failure here never fails setup (the test then prints SKIPPED).
#
# Quick and silent-ish when everything is present; prints what it did otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

have_server() { ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; }

if have_server; then
  log "PostgreSQL server binaries present: $(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
else
  [ "$(id -u)" = 0 ] || die "PostgreSQL server binaries are missing; run \`sudo make setup\` (apt-get install postgresql), or use an existing server with --database-url"
  command -v apt-get >/dev/null || die "PostgreSQL server binaries are missing and apt-get is not available; install PostgreSQL and pass --pg-bin-dir, or use --database-url"
  log "installing PostgreSQL server packages (apt-get install postgresql)"
  export DEBIAN_FRONTEND=noninteractive
  # Do not create (and start) a system cluster: bench starts its own.
  if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
    mkdir -p /etc/postgresql-common
    echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf
  fi
  apt-get update -qq
  apt-get install -y -qq -o Dpkg::Options::=--force-confold postgresql >/dev/null
  have_server || die "apt-get install postgresql finished but no server binaries are under /usr/lib/postgresql/*/bin"
  log "installed PostgreSQL $(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1 | sed -E 's#.*/([0-9]+)/bin#\1#')"
fi

scripts/install-timescaledb.sh

# Optional: headless Chromium for the report-page screenshot test. Never fatal.
if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
  log "chromium present (report-page screenshot test)"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  log "installing chromium (optional, for the report-page screenshot test)"
  if { apt-get update -qq || true; } && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1; then
    log "installed chromium"
  else
    log "chromium could not be installed (optional): the screenshot test will print SKIPPED"
  fi
else
  log "chromium not installed (optional; \`sudo apt-get install chromium\` enables the report-page screenshot test)"
fi
