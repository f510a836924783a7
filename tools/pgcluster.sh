# shellcheck shell=bash
# Throwaway PostgreSQL clusters for the tests, the demo and the benchmarks.
# Source this file, then:
#   pgc_init DIR            private work dir (created, readable by the server user)
#   pgc_stage               install this tree into a private copy of PostgreSQL
#   pgc_start [CONF...]     initdb + start on a Unix socket in DIR; exports PG*
#   pgc_restart [CONF...]   restart with extra settings
#   pgc_stop                stop (also run from the EXIT trap)
# The server never listens on TCP; its socket sits in the private dir, so the
# port number only names the socket file and two runs never collide.

PG_CONFIG=${PG_CONFIG:-pg_config}
PGC_BINDIR=$($PG_CONFIG --bindir)
PGC_PKGLIBDIR=$($PG_CONFIG --pkglibdir)
PGC_SHAREDIR=$($PG_CONFIG --sharedir)
PGC_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# The server refuses to run as root: use the postgres account then.
if [ "$(id -u)" -eq 0 ]; then
    PGC_OSUSER=${PGC_OSUSER:-postgres}
    pgc_as() { runuser -u "$PGC_OSUSER" -- "$@"; }
else
    PGC_OSUSER=$(id -un)
    pgc_as() { "$@"; }
fi

pgc_init() {
    PGC_DIR=$1
    mkdir -p "$PGC_DIR"
    chmod 755 "$PGC_DIR"
    PGC_DIR=$(cd "$PGC_DIR" && pwd)
    if ! pgc_as test -x "$PGC_DIR"; then
        # A parent is closed to the server user (e.g. a checkout under
        # /root): keep the cluster in /tmp and point a link at it.
        local real
        real=$(mktemp -d /tmp/session_analytics.XXXXXX)
        chmod 755 "$real"
        rmdir "$PGC_DIR" 2>/dev/null || rm -rf "$PGC_DIR"
        ln -sfn "$real" "$PGC_DIR"
        PGC_DIR=$real
    fi
    PGC_BIN=$PGC_BINDIR
}

# Relocatable copy of the server: binaries copied (PostgreSQL finds its
# share and lib directories relative to the real path of its executable),
# everything else linked, then this tree installed on top with DESTDIR.
pgc_stage() {
    local root=$PGC_DIR/stage f
    rm -rf "$root"
    mkdir -p "$root$PGC_PKGLIBDIR" "$root$PGC_SHAREDIR/extension" "$root$(dirname "$PGC_BINDIR")"
    cp -a "$PGC_BINDIR" "$root$PGC_BINDIR"
    for f in "$PGC_PKGLIBDIR"/*; do
        case $(basename "$f") in session_analytics*|bitcode) continue ;; esac
        ln -s "$f" "$root$PGC_PKGLIBDIR/"
    done
    for f in "$PGC_SHAREDIR"/*; do
        [ "$(basename "$f")" = extension ] || ln -s "$f" "$root$PGC_SHAREDIR/"
    done
    for f in "$PGC_SHAREDIR"/extension/*; do
        case $(basename "$f") in session_analytics*) continue ;; esac
        ln -s "$f" "$root$PGC_SHAREDIR/extension/"
    done
    make -C "$PGC_SRC" -s install DESTDIR="$root" toolsdir=/tools >/dev/null
    PGC_BIN=$root$PGC_BINDIR
    PGC_TOOLS=$root/tools
    chmod -R a+rX "$root"
}

pgc_start() {
    PGC_DATA=$PGC_DIR/data
    PGC_SOCK=$PGC_DIR/sock
    rm -rf "$PGC_DATA" "$PGC_SOCK"
    mkdir -p "$PGC_SOCK"
    chown "$PGC_OSUSER" "$PGC_DIR" "$PGC_SOCK"
    pgc_as "$PGC_BIN/initdb" -D "$PGC_DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$PGC_DIR/initdb.log" 2>&1 ||
        { cat "$PGC_DIR/initdb.log" >&2; return 1; }
    {
        echo "listen_addresses = ''"
        echo "unix_socket_directories = '$PGC_SOCK'"
        echo "port = 5432"
        echo "fsync = off"
        echo "max_connections = 60"
        echo "shared_buffers = 256MB"
        echo "max_worker_processes = 16"
        echo "log_min_messages = warning"
        for c in "$@"; do echo "$c"; done
    } | pgc_as tee -a "$PGC_DATA/postgresql.conf" >/dev/null
    trap pgc_stop EXIT
    pgc_as "$PGC_BIN/pg_ctl" -D "$PGC_DATA" -l "$PGC_DIR/server.log" -w -t 60 start >/dev/null ||
        { cat "$PGC_DIR/server.log" >&2; return 1; }
    export PGHOST=$PGC_SOCK PGPORT=5432 PGUSER=postgres PGDATABASE=postgres
    PGC_RUNNING=1
}

pgc_restart() {
    local c
    for c in "$@"; do echo "$c"; done | pgc_as tee -a "$PGC_DATA/postgresql.conf" >/dev/null
    pgc_as "$PGC_BIN/pg_ctl" -D "$PGC_DATA" -l "$PGC_DIR/server.log" -w -t 60 -m fast restart >/dev/null ||
        { cat "$PGC_DIR/server.log" >&2; return 1; }
}

pgc_stop() {
    if [ -n "${PGC_RUNNING:-}" ]; then
        pgc_as "$PGC_BIN/pg_ctl" -D "$PGC_DATA" -m immediate -w stop >/dev/null 2>&1 || true
        PGC_RUNNING=
    fi
}
