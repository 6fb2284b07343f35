#!/bin/sh
# Start (or reuse) a throwaway PostgreSQL server from Debian's packages for the
# PostgreSQL half of the test suite, and print the line that points the tests at it:
#
#     eval "$(.ci/start-postgres.sh)"      # sets SMARTSEG_TEST_POSTGRES
#
# Idempotent: an existing data directory is reused, a running server is left
# running, the test database is created only when missing. Only the export line
# goes to stdout; everything else goes to stderr so `eval` stays safe.
#
# Knobs (environment): PGBIN (default: newest /usr/lib/postgresql/*/bin),
# SMARTSEG_PGDATA (/tmp/smartseg-pgdata), SMARTSEG_PGPORT (5433),
# SMARTSEG_PGSOCKDIR (/tmp), SMARTSEG_PGDB (smartseg_test).
set -eu

if [ -z "${PGBIN:-}" ]; then
    PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
fi
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/postgres" ]; then
    echo "start-postgres: no PostgreSQL server binaries found (apt-get install postgresql)" >&2
    exit 2
fi
PGDATA=${SMARTSEG_PGDATA:-/tmp/smartseg-pgdata}
PGPORT=${SMARTSEG_PGPORT:-5433}
SOCKDIR=${SMARTSEG_PGSOCKDIR:-/tmp}
DB=${SMARTSEG_PGDB:-smartseg_test}

# PostgreSQL refuses to run as root: as root, act as the `postgres` OS user.
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        su postgres -s /bin/sh -c "$*"
    else
        sh -c "$*"
    fi
}

if [ ! -f "$PGDATA/PG_VERSION" ]; then
    mkdir -p "$PGDATA"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$PGDATA"; fi
    chmod 700 "$PGDATA"
    # -U postgres: the superuser is named `postgres` whoever runs this, so the URL is stable.
    as_pg "'$PGBIN/initdb' -D '$PGDATA' -U postgres --auth=trust -E UTF8 --locale=C.UTF-8" >&2
fi

if ! as_pg "'$PGBIN/pg_ctl' -D '$PGDATA' status" >/dev/null 2>&1; then
    as_pg "'$PGBIN/pg_ctl' -D '$PGDATA' -l '$PGDATA/server.log' -w -t 60 \
        -o \"-k $SOCKDIR -p $PGPORT -c listen_addresses=localhost\" start" >&2
fi

PSQL="'$PGBIN/psql' -h localhost -p $PGPORT -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA"
if ! as_pg "$PSQL -c \"SELECT 1 FROM pg_database WHERE datname = '$DB'\"" | grep -q 1; then
    as_pg "$PSQL -c 'CREATE DATABASE $DB'" >&2
fi

echo "export SMARTSEG_TEST_POSTGRES=postgresql://postgres@localhost:$PGPORT/$DB"
