#!/usr/bin/env bash
# deploy/backup.sh: a backup of acsd's store (docs/operations.md, "Backups and
# disaster recovery").
#
#   deploy/backup.sh --mode dump --pg DSN --dir DIR [--secret-key FILE] [--keep N]
#   deploy/backup.sh --mode base --pg DSN --dir DIR [--secret-key FILE] [--keep N]
#
# dump  pg_dump of the database (custom format): needs only the role that owns
#       it (a managed PostgreSQL is fine); restores to the moment it was taken.
#       For small fleets (< 10K devices: a few hundred MB, minutes).
# base  pg_basebackup of the whole cluster (tar, compressed, with the WAL to
#       make it consistent); needs a role with REPLICATION. With the server's
#       WAL archive (archive_mode = on, archive_command copying into DIR/wal:
#       deploy/ha/patroni.yml) restore.sh replays up to the last archived WAL
#       or to a chosen time. For large fleets and HA.
#
# Each backup is DIR/acsd-TIMESTAMP.dump or DIR/base-TIMESTAMP/ with a SHA256SUMS
# file; --secret-key copies the key of the stored secrets beside it (mode 600:
# without it the restored secrets cannot be read). --keep N deletes all but the
# N newest backups of the mode (and, for base, archived WAL older than the
# oldest kept one). Prints the backup's path last. Run it daily from cron or a
# systemd timer; copy DIR off the machine.
set -euo pipefail

MODE=
DSN=
DIR=
KEY=
KEEP=0

die() {
  echo "backup: $*" >&2
  exit 2
}
usage() { sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while (($#)); do
  case $1 in
    --mode | --pg | --dir | --secret-key | --keep)
      (($# >= 2)) || die "$1 needs a value"
      case $1 in
        --mode) MODE=$2 ;;
        --pg) DSN=$2 ;;
        --dir) DIR=$2 ;;
        --secret-key) KEY=$2 ;;
        --keep) KEEP=$2 ;;
      esac
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) die "unknown option $1 (--help)" ;;
  esac
  shift
done
[[ $MODE == dump || $MODE == base ]] || die "--mode dump or --mode base is required"
[[ -n $DSN ]] || die "--pg DSN is required"
[[ -n $DIR ]] || die "--dir DIR is required"
[[ $KEEP =~ ^[0-9]+$ ]] || die "--keep needs a number, got '$KEEP'"
[[ -z $KEY || -r $KEY ]] || die "cannot read the secret key $KEY"

bindir() {
  local d
  if [[ -n ${ACS_PG_BINDIR:-} ]]; then
    echo "$ACS_PG_BINDIR"
    return
  fi
  d=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -type d -name bin 2>/dev/null | sort -V | tail -n 1)
  [[ -n $d ]] || d=$(dirname "$(command -v pg_dump)")
  echo "$d"
}
BIN=$(bindir)
[[ -x $BIN/pg_dump ]] || die "no pg_dump in $BIN (apt-get install postgresql-client, or set ACS_PG_BINDIR)"

mkdir -p "$DIR"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)

if [[ $MODE == dump ]]; then
  OUT=$DIR/acsd-$STAMP.dump
  "$BIN/pg_dump" --format=custom --no-owner --no-privileges --file "$OUT.tmp" "$DSN" ||
    die "pg_dump failed; nothing kept"
  mv "$OUT.tmp" "$OUT"
  (cd "$DIR" && sha256sum "$(basename "$OUT")" >"$(basename "$OUT").sha256")
  if [[ -n $KEY ]]; then
    install -m 600 "$KEY" "$OUT.secret.key"
  fi
  if ((KEEP > 0)); then
    find "$DIR" -maxdepth 1 -name 'acsd-*.dump' | sort | head -n -"$KEEP" | while read -r old; do
      rm -f "$old" "$old.sha256" "$old.secret.key"
    done
  fi
else
  OUT=$DIR/base-$STAMP
  mkdir "$OUT.tmp"
  "$BIN/pg_basebackup" --dbname="$DSN" --pgdata="$OUT.tmp" --format=tar --gzip \
    --wal-method=stream --checkpoint=fast --label="acsd $STAMP" ||
    {
      rm -rf "$OUT.tmp"
      die "pg_basebackup failed; nothing kept"
    }
  (cd "$OUT.tmp" && sha256sum ./*.tar.gz >SHA256SUMS)
  if [[ -n $KEY ]]; then
    install -m 600 "$KEY" "$OUT.tmp/secret.key"
  fi
  mv "$OUT.tmp" "$OUT"
  if ((KEEP > 0)); then
    mapfile -t bases < <(find "$DIR" -maxdepth 1 -type d -name 'base-*' ! -name '*.tmp' | sort)
    if ((${#bases[@]} > KEEP)); then
      for old in "${bases[@]:0:${#bases[@]}-KEEP}"; do
        rm -rf "$old"
      done
      oldest=${bases[${#bases[@]} - KEEP]}
      # archived WAL from before the oldest kept backup ended is no longer
      # needed (each backup holds the WAL that makes it consistent)
      if [[ -d $DIR/wal ]]; then
        find "$DIR/wal" -maxdepth 1 -type f ! -newer "$oldest/SHA256SUMS" -delete
      fi
    fi
  fi
fi
echo "backup: $MODE backup of the store in"
echo "$OUT"
