#!/usr/bin/env bash
# Install the TimescaleDB extension for the local PostgreSQL server, from Debian's source package.
#
# Idempotent: when timescaledb.control and the shared library are already present for the
# server's PostgreSQL major, it prints that and exits 0 without building.
#
# Steps when missing:
#   1. a private apt configuration (system sources untouched) with the trixie suite as deb-src;
#   2. apt-get source timescaledb (whatever revision trixie has now: never pinned);
#   3. apt-get install cmake postgresql-server-dev-$PGMAJOR (may upgrade the PG minor);
#   4. cmake -DAPACHE_ONLY=ON -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF && make install.
#
# The PostgreSQL major is the newest with server binaries under /usr/lib/postgresql/*/bin, the
# same one bench's embedded server picks by default. Environment: TIMESCALEDB_BUILD_DIR (default:
# a temp dir, removed afterwards).
set -euo pipefail

log() { printf 'install-timescaledb: %s\n' "$*"; }
die() { printf 'install-timescaledb: error: %s\n' "$*" >&2; exit 1; }

pg_major_from_server() {
  # The server binaries are what matter: pick the newest installed major.
  ls -d /usr/lib/postgresql/*/bin/postgres 2>/dev/null | sed -E 's#.*/postgresql/([0-9]+)/bin/postgres#\1#' | sort -n | tail -1
}

PGMAJOR=$(pg_major_from_server)
[ -n "$PGMAJOR" ] || die "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin; install postgresql (apt-get install postgresql) first"
SHAREDIR=/usr/share/postgresql/$PGMAJOR
LIBDIR=/usr/lib/postgresql/$PGMAJOR/lib

installed() {
  [ -f "$SHAREDIR/extension/timescaledb.control" ] && ls "$LIBDIR"/timescaledb*.so >/dev/null 2>&1
}

if installed; then
  ver=$(sed -nE "s/^default_version *= *'([^']+)'.*/\1/p" "$SHAREDIR/extension/timescaledb.control")
  log "TimescaleDB ${ver:-?} already installed for PostgreSQL $PGMAJOR; nothing to do"
  exit 0
fi

[ "$(id -u)" = 0 ] || die "TimescaleDB is missing for PostgreSQL $PGMAJOR and building it needs root (apt-get); run \`sudo make setup\`"

log "TimescaleDB missing for PostgreSQL $PGMAJOR: building it from Debian's source package"
export DEBIAN_FRONTEND=noninteractive

# A private apt tree: the system's sources.list is left alone.
APTDIR=$(mktemp -d -t esp-bench-apt.XXXXXX)
BUILD=${TIMESCALEDB_BUILD_DIR:-$(mktemp -d -t esp-bench-tsdb.XXXXXX)}
cleanup() { rm -rf "$APTDIR"; [ -z "${TIMESCALEDB_BUILD_DIR:-}" ] && rm -rf "$BUILD"; return 0; }
trap cleanup EXIT
mkdir -p "$APTDIR/lists/partial" "$APTDIR/sources.list.d" "$APTDIR/preferences.d"
MIRROR=$(grep -rhoE '^(deb|URIs:) *\S+' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
  | awk '{print $2}' | grep -E '/debian/?$' | head -1 || true)
[ -n "$MIRROR" ] || MIRROR=$(grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | head -1 | tr -d ' ' || true)
[ -n "$MIRROR" ] || die "could not find the Debian archive in the system's apt sources"
echo "deb-src $MIRROR trixie main" > "$APTDIR/sources.list"
APT_OPTS=(-o APT::Sandbox::User=root -o "Dir::Etc::SourceList=$APTDIR/sources.list" -o "Dir::Etc::SourceParts=$APTDIR/sources.list.d"
          -o "Dir::State::Lists=$APTDIR/lists" -o "Dir::Etc::Preferences=$APTDIR/preferences"
          -o "Dir::Etc::PreferencesParts=$APTDIR/preferences.d" -o "APT::Get::Only-Source=true")

log "1/4 private apt config: deb-src trixie"
apt-get "${APT_OPTS[@]}" update -qq

log "2/4 apt-get source timescaledb"
( cd "$BUILD" && apt-get "${APT_OPTS[@]}" source --download-only -qq timescaledb >/dev/null )
command -v dpkg-source >/dev/null || { apt-get update -qq; apt-get install -y -qq dpkg-dev >/dev/null; }
( cd "$BUILD" && dpkg-source -x --no-check ./timescaledb_*.dsc src >/dev/null )
SRC="$BUILD/src"
[ -f "$SRC/CMakeLists.txt" ] || die "unpacked source has no CMakeLists.txt"
TSV=$(sed -nE 's/^version = (.*)$/\1/p' "$SRC/version.config" | head -1)

log "3/4 apt-get install cmake postgresql-server-dev-$PGMAJOR"
apt-get update -qq
apt-get install -y -qq cmake make gcc "postgresql-server-dev-$PGMAJOR" >/dev/null

log "4/4 building TimescaleDB ${TSV:-?} (Apache-only) for PostgreSQL $PGMAJOR"
mkdir -p "$SRC/build"
( cd "$SRC/build" \
  && cmake .. -DPG_CONFIG="/usr/lib/postgresql/$PGMAJOR/bin/pg_config" -DAPACHE_ONLY=ON \
       -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null 2>&1 \
  && make -j"$(nproc)" >/dev/null 2>&1 && make install >/dev/null 2>&1 )

installed || die "build finished but the extension files are not in $SHAREDIR / $LIBDIR"
log "installed TimescaleDB ${TSV:-?} (Apache edition) for PostgreSQL $PGMAJOR"
