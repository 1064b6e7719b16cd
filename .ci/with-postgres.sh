#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL server, so the API tests run on PostgreSQL too.
#
#   .ci/with-postgres.sh .venv/bin/pytest
#
# Starts a private cluster in a temporary folder (no TCP port: a Unix socket in that folder,
# trust authentication, so nothing outside this machine's user can reach it), exports
# TEST_DATABASE_URL=postgresql+psycopg://... for the command, and removes the cluster when the
# command ends, however it ends. If TEST_DATABASE_URL is set already, that server is used as it
# is. Without PostgreSQL binaries the command runs without it: the PostgreSQL tests then skip
# with a reason, except under CI=true where they fail.
set -euo pipefail

if [[ -n "${TEST_DATABASE_URL:-}" ]]; then
    exec "$@"
fi

find_bindir() {
    if command -v initdb >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v initdb)")"
        return
    fi
    # Debian keeps the server binaries off PATH, one folder per major version.
    local newest
    newest=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -n "$newest" && -x "$newest/initdb" ]]; then
        echo "$newest"
    fi
}

bindir=$(find_bindir)
if [[ -z "$bindir" ]]; then
    echo "with-postgres: no PostgreSQL server binaries found; running without PostgreSQL." >&2
    exec "$@"
fi

workdir=$(mktemp -d "${TMPDIR:-/tmp}/sendmatch-pg.XXXXXX")
chmod 700 "$workdir"
# PostgreSQL refuses to run as root; CI runs as root, so the server runs as `postgres` there.
as_server=()
if [[ $(id -u) -eq 0 ]]; then
    if ! id postgres >/dev/null 2>&1; then
        echo "with-postgres: running as root and there is no 'postgres' user to run the server." >&2
        exit 1
    fi
    chown postgres: "$workdir"
    as_server=(runuser -u postgres --)
fi
# The server's programs start in the cluster's folder: `postgres` may not be allowed to enter
# the checkout (under /root on CI, say), and initdb fails when it cannot.
origin=$PWD
cd "$workdir"

stop() {
    "${as_server[@]}" "$bindir/pg_ctl" -D "$workdir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$workdir"
}
trap stop EXIT

"${as_server[@]}" "$bindir/initdb" -D "$workdir/data" -U sendmatch --auth=trust \
    --encoding=UTF8 --locale=C.UTF-8 >"$workdir/initdb.log" 2>&1 \
    || { cat "$workdir/initdb.log" >&2; exit 1; }
# fsync off: a test cluster is thrown away, and durability would only slow the tests.
"${as_server[@]}" "$bindir/pg_ctl" -D "$workdir/data" -l "$workdir/server.log" -w -t 60 \
    -o "-c listen_addresses='' -c unix_socket_directories='$workdir' -c fsync=off" \
    -o "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null \
    || { cat "$workdir/server.log" >&2; exit 1; }

export TEST_DATABASE_URL="postgresql+psycopg://sendmatch@/postgres?host=$workdir"
echo "with-postgres: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') at $workdir" >&2
cd "$origin"
# Not exec: the trap must run to stop the server and delete its files.
"$@"
