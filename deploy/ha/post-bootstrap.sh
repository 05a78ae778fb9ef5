#!/bin/sh
# deploy/ha/post-bootstrap.sh: Patroni's post_bootstrap (deploy/ha/patroni.yml):
# the role acsd (no superuser) owning the database acsd. Patroni passes a
# connection URL as $1. Set the password afterwards:
#   psql -c "ALTER ROLE acsd PASSWORD '...'"
set -eu
psql -X -q -v ON_ERROR_STOP=1 "$1" <<'SQL'
CREATE ROLE acsd LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
CREATE DATABASE acsd OWNER acsd;
SQL
