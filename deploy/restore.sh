#!/usr/bin/env bash
# deploy/restore.sh: a backup of deploy/backup.sh back into PostgreSQL
# (docs/operations.md, "Backups and disaster recovery").
#
#   deploy/restore.sh --dump FILE --pg DSN
#   deploy/restore.sh --base DIR --datadir NEWDIR [--wal ARCHIVE] [--target-time TIME]
#
# --dump  restores a pg_dump into the database of DSN, which must exist and be
#         empty (a fresh cluster: CREATE ROLE acsd; CREATE DATABASE acsd OWNER
#         acsd), as one transaction: on any error nothing is kept. The file's
#         checksum (FILE.sha256) is verified first.
# --base  unpacks a base backup into NEWDIR (which must not exist, or be
#         empty), checksums first, mode 700. With --wal, the server replays the
#         archived WAL (restore_command copies from ARCHIVE) up to its end or
#         to --target-time (e.g. "2026-12-07 03:00:00+00") and then promotes.
#         Start the server on NEWDIR yourself (pg_ctl -D NEWDIR start, as the
#         user that owns it); acsd can connect once it accepts connections.
# Run it as the user that will own NEWDIR (postgres).
# The key of the stored secrets was kept beside the backup (secret.key): give
# it to acsd (secret-key-file) or the restored secrets cannot be read.
set -euo pipefail

DUMP=
DSN=
BASE=
DATADIR=
WAL=
TARGET=

die() {
  echo "restore: $*" >&2
  exit 2
}
usage() { sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while (($#)); do
  case $1 in
    --dump | --pg | --base | --datadir | --wal | --target-time)
      (($# >= 2)) || die "$1 needs a value"
      case $1 in
        --dump) DUMP=$2 ;;
        --pg) DSN=$2 ;;
        --base) BASE=$2 ;;
        --datadir) DATADIR=$2 ;;
        --wal) WAL=$2 ;;
        --target-time) TARGET=$2 ;;
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

bindir() {
  local d
  if [[ -n ${ACS_PG_BINDIR:-} ]]; then
    echo "$ACS_PG_BINDIR"
    return
  fi
  d=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -type d -name bin 2>/dev/null | sort -V | tail -n 1)
  [[ -n $d ]] || d=$(dirname "$(command -v pg_restore)")
  echo "$d"
}
BIN=$(bindir)

if [[ -n $DUMP ]]; then
  [[ -z $BASE ]] || die "--dump and --base exclude each other"
  [[ -n $DSN ]] || die "--dump needs --pg DSN"
  [[ -r $DUMP ]] || die "cannot read $DUMP"
  [[ -x $BIN/pg_restore ]] || die "no pg_restore in $BIN (set ACS_PG_BINDIR)"
  if [[ -f $DUMP.sha256 ]]; then
    (cd "$(dirname "$DUMP")" && sha256sum --quiet -c "$(basename "$DUMP").sha256") ||
      die "$DUMP does not match its checksum: not restored"
  else
    echo "restore: warning: no $DUMP.sha256, the file is not verified" >&2
  fi
  tables=$("$BIN/psql" -X -At -v ON_ERROR_STOP=1 -c \
    "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')" "$DSN") ||
    die "cannot reach the database ($DSN)"
  [[ $tables == 0 ]] || die "the database already has $tables tables: restore into an empty one"
  "$BIN/pg_restore" --no-owner --no-privileges --exit-on-error --single-transaction \
    --dbname "$DSN" "$DUMP" || die "pg_restore failed; the database is left as it was (empty)"
  echo "restore: $(basename "$DUMP") restored"
  exit 0
fi

[[ -n $BASE ]] || die "--dump FILE or --base DIR is required (--help)"
[[ -n $DATADIR ]] || die "--base needs --datadir NEWDIR"
[[ -f $BASE/base.tar.gz ]] || die "$BASE has no base.tar.gz: not a backup of deploy/backup.sh --mode base"
[[ -z $WAL || -d $WAL ]] || die "no WAL archive directory $WAL"
[[ -z $TARGET || -n $WAL ]] || die "--target-time needs --wal"
if [[ -e $DATADIR ]] && [[ -n $(ls -A "$DATADIR") ]]; then
  die "$DATADIR is not empty"
fi
if [[ -f $BASE/SHA256SUMS ]]; then
  (cd "$BASE" && sha256sum --quiet -c SHA256SUMS) || die "$BASE does not match its checksums: not restored"
fi
mkdir -p "$DATADIR"
chmod 700 "$DATADIR"
tar -xzf "$BASE/base.tar.gz" -C "$DATADIR"
if [[ -f $BASE/pg_wal.tar.gz ]]; then
  tar -xzf "$BASE/pg_wal.tar.gz" -C "$DATADIR/pg_wal"
fi
if [[ -n $WAL ]]; then
  WAL=$(cd "$WAL" && pwd)
  {
    echo "# deploy/restore.sh"
    echo "restore_command = 'cp \"$WAL/%f\" \"%p\"'"
    echo "recovery_target_action = 'promote'"
    if [[ -n $TARGET ]]; then
      echo "recovery_target_time = '$TARGET'"
    fi
    # the restored server must not archive into the old cluster's archive
    echo "archive_mode = off"
  } >>"$DATADIR/postgresql.auto.conf"
  touch "$DATADIR/recovery.signal"
fi
echo "restore: $BASE unpacked into $DATADIR$([[ -n $WAL ]] && echo ", replaying $WAL${TARGET:+ up to $TARGET}")"
echo "restore: start it with: pg_ctl -D $DATADIR start"
