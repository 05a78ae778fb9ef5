#!/bin/sh
# deploy/compose/postgres-entrypoint.sh: the compose stack's PostgreSQL.
# On the first start: initdb in /var/lib/postgresql/data (scram-sha-256 for
# connections from the network), a role acsd (no superuser) owning the
# database acsd, with $ACS_DB_PASSWORD. Then runs the server in the foreground.
set -eu
PGDATA=/var/lib/postgresql/data
BIN=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -type d -name bin | sort -V | tail -n 1)
: "${ACS_DB_PASSWORD:?ACS_DB_PASSWORD is not set}"
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is not set}"
mkdir -p "$PGDATA" /run/postgresql
chown postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  chown postgres "$pwfile"
  runuser -u postgres -- "$BIN/initdb" -D "$PGDATA" -U postgres -E UTF8 --locale=C.UTF-8 \
    --auth-local=peer --auth-host=scram-sha-256 --pwfile="$pwfile" >/dev/null
  rm -f "$pwfile"
  echo "host all all 0.0.0.0/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
  runuser -u postgres -- "$BIN/pg_ctl" -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  runuser -u postgres -- "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -v pw="$ACS_DB_PASSWORD" <<'SQL'
CREATE ROLE acsd LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'pw';
CREATE DATABASE acsd OWNER acsd;
SQL
  runuser -u postgres -- "$BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
fi
exec runuser -u postgres -- "$BIN/postgres" -D "$PGDATA" -c listen_addresses='*'
