#!/usr/bin/env bash
# The machine services Pulse needs: PostgreSQL, MariaDB (as MySQL) and Redis on their standard
# local ports, with a `test` database in PostgreSQL and MariaDB. Called by `make services`.
#
# For each service: if its port answers, nothing is done. Otherwise it is started if installed,
# installed first if not (root only; otherwise this says what to install and exits 1). Then the
# `test` databases are made to exist, and PostgreSQL is made to run with wal_level=logical (for
# change data capture; a restart the first time). Idempotent; one line per service when all is
# fine.
#
# Both kinds of machine are handled: the build machines (everything runs, trust/empty-password
# logins over TCP) and a fresh Debian, where MariaDB's root logs in through the unix socket only
# and PostgreSQL lets the operating-system user in through its socket (peer auth).
set -euo pipefail

readonly PG_PORT=5432 MY_PORT=3306 REDIS_PORT=6379
readonly MY_SOCKET=/run/mysqld/mysqld.sock
readonly DATABASE=test
readonly WAIT_SECONDS=${SERVICES_WAIT_SECONDS:-60}
# SERVICES_KEEP_WAL_LEVEL=1: never change PostgreSQL's wal_level (nor restart it for that).
readonly KEEP_WAL_LEVEL=${SERVICES_KEEP_WAL_LEVEL:-0}
# On a terminal, how long the notice before the restart leaves to press Ctrl-C.
readonly NOTICE_SECONDS=${SERVICES_NOTICE_SECONDS:-15}

is_root() { [ "$(id -u)" -eq 0 ]; }

port_open() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# wait_for NAME COMMAND...: poll COMMAND until it succeeds, for at most WAIT_SECONDS.
wait_for() {
  local name=$1 deadline=$((SECONDS + WAIT_SECONDS))
  shift
  until "$@"; do
    if ((SECONDS >= deadline)); then
      echo "$name: started, but did not answer within ${WAIT_SECONDS} s" >&2
      return 1
    fi
    sleep 0.2
  done
}

# as_postgres COMMAND...: run as the postgres user, from a directory it may enter.
as_postgres() { (cd / && runuser -u postgres -- "$@"); }

postgres_installed() { command -v pg_ctlcluster >/dev/null && [ -n "$(ls /etc/postgresql 2>/dev/null)" ]; }
mariadb_installed() { [ -x /usr/sbin/mariadbd ]; }
redis_installed() { command -v redis-server >/dev/null; }

install_missing() {
  local missing=()
  port_open $PG_PORT || postgres_installed || missing+=(postgresql)
  port_open $MY_PORT || mariadb_installed || missing+=(mariadb-server)
  port_open $REDIS_PORT || redis_installed || missing+=(redis-server)
  ((${#missing[@]} == 0)) && return 0
  if ! is_root; then
    echo "services: not installed: ${missing[*]}. Install them with:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    echo "or run \`make services\` as root." >&2
    exit 1
  fi
  echo "services: installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
}

# must_be_root NAME COMMAND: a stopped service can only be started by root; say how otherwise.
must_be_root() {
  is_root && return 0
  echo "$1: not running on 127.0.0.1; start it as root with: $2 (or run \`make services\` as root)" >&2
  exit 1
}

start_postgres() {
  port_open $PG_PORT && return 0
  must_be_root postgres "pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start"
  install -d -o postgres -g postgres -m 2775 /var/run/postgresql
  # The machine's documented start command, as it is (one PostgreSQL version is installed).
  # shellcheck disable=SC2046
  pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start
  wait_for postgres port_open $PG_PORT
  echo "postgres: started"
}

start_mariadb() {
  port_open $MY_PORT && return 0
  must_be_root mysql "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql"
  install -d -o mysql -g root -m 0755 /run/mysqld
  # The machine's documented start command; `--user=mysql` because Debian's own configuration
  # (unlike the build machines' my.cnf) does not set it, and mariadbd refuses to run as root.
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
  wait_for mysql port_open $MY_PORT
  wait_for mysql test -S $MY_SOCKET
  echo "mysql: started"
}

start_redis() {
  port_open $REDIS_PORT && return 0
  must_be_root redis "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' --appendonly no"
  install -d -o redis -g redis /var/lib/redis /var/log/redis 2>/dev/null || install -d /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for redis port_open $REDIS_PORT
  echo "redis: started"
}

postgres_test_database() {
  if ! command -v psql >/dev/null; then
    echo "postgres: no psql client to check database $DATABASE; install postgresql-client" >&2
    exit 1
  fi
  # As Pulse logs in: TCP first, then the socket (peer auth on a fresh Debian).
  if psql -h 127.0.0.1 -p $PG_PORT -d $DATABASE -w -Atqc 'SELECT 1' >/dev/null 2>&1 \
    || psql -p $PG_PORT -d $DATABASE -w -Atqc 'SELECT 1' >/dev/null 2>&1; then
    return 0
  fi
  local me
  me=$(id -un)
  if ! is_root; then
    echo "postgres: $me cannot log in to database $DATABASE; as root, run \`make services\`, or:" >&2
    echo "  sudo -u postgres createuser --superuser $me && sudo -u postgres createdb -O $me $DATABASE" >&2
    exit 1
  fi
  if [ -z "$(as_postgres psql -p $PG_PORT -w -Atqc "SELECT 1 FROM pg_roles WHERE rolname = '$me'")" ]; then
    as_postgres psql -w -p $PG_PORT -qc "CREATE ROLE \"$me\" SUPERUSER LOGIN"
    echo "postgres: created role $me"
  fi
  if [ -z "$(as_postgres psql -p $PG_PORT -w -Atqc "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'")" ]; then
    as_postgres createdb -p $PG_PORT -O "$me" $DATABASE
    echo "postgres: created database $DATABASE"
  fi
}

# pg_as_pulse SQL: run SQL as Pulse logs in (TCP first, then the socket); print the answer.
pg_as_pulse() {
  psql -h 127.0.0.1 -p $PG_PORT -d $DATABASE -w -Atqc "$1" 2>/dev/null \
    || psql -p $PG_PORT -d $DATABASE -w -Atqc "$1"
}

# Change data capture (`pulse serve cdc`) reads the WAL through logical replication, which needs
# wal_level=logical (Debian's default is replica); the setting takes a restart. When it is not
# logical yet: ALTER SYSTEM SET wal_level = logical (written to postgresql.auto.conf, so
# Debian's postgresql.conf stays untouched) and one restart, which ends open sessions; when it
# is, nothing. The default max_replication_slots and max_wal_senders (10) are enough.
#
# The server is the machine's, not Pulse's: before changing it, this says plainly what will
# change, why, and how to avoid it (on a terminal, with time to press Ctrl-C), once; with
# SERVICES_KEEP_WAL_LEVEL=1 it changes nothing and Pulse runs without change data capture.
#
# No pg_hba.conf change is needed: a logical replication connection names its database and
# matches the lines for that database like any session (`all` included); the `replication`
# keyword is for physical replication only. Pulse's role is a superuser (created so above), so
# it may replicate. The check below proves it with the command the relay's connection starts with.
# announce_wal_level_change LEVEL: what is about to change on the machine's PostgreSQL, why,
# and how to avoid it; on a terminal, then NOTICE_SECONDS to press Ctrl-C.
announce_wal_level_change() {
  cat <<NOTICE
postgres: this will change the machine's PostgreSQL server (a machine service, not Pulse's own):
  - its setting wal_level goes from $1 to logical (ALTER SYSTEM, in postgresql.auto.conf);
  - it restarts once, now, which ends every open session on it, of any program.
  Why: change data capture (pulse serve cdc, started by make run) reads the write-ahead log
  through logical replication, which needs wal_level=logical. It is done once: afterwards
  wal_level is logical and nothing is restarted again.
  To avoid it: stop before it happens (Ctrl-C) and either set it yourself when a restart suits you
    psql -c 'ALTER SYSTEM SET wal_level = logical', then restart PostgreSQL,
  or run without change data capture: SERVICES_KEEP_WAL_LEVEL=1 make run
NOTICE
  if [ -t 0 ] && ((NOTICE_SECONDS > 0)); then
    echo "  Going on in $NOTICE_SECONDS s..."
    sleep "$NOTICE_SECONDS"
  fi
}

postgres_logical_replication() {
  local level
  level=$(pg_as_pulse 'SHOW wal_level')
  if [ "$level" != logical ] && [ "$KEEP_WAL_LEVEL" = 1 ]; then
    echo "postgres: wal_level is $level, left as it is (SERVICES_KEEP_WAL_LEVEL=1): change data capture" \
      "(pulse serve cdc) will refuse to start; everything else runs"
    return 0
  fi
  if [ "$level" != logical ]; then
    if ! is_root; then
      echo "postgres: wal_level is $level; change data capture needs logical. As root, run \`make services\`, or:" >&2
      echo "  psql -c 'ALTER SYSTEM SET wal_level = logical' && sudo pg_ctlcluster $(ls /etc/postgresql 2>/dev/null | head -n 1) main restart" >&2
      echo "  or run without change data capture: SERVICES_KEEP_WAL_LEVEL=1 make run" >&2
      exit 1
    fi
    announce_wal_level_change "$level"
    as_postgres psql -p $PG_PORT -w -qc 'ALTER SYSTEM SET wal_level = logical'
    echo "postgres: wal_level was $level; set to logical (ALTER SYSTEM), restarting PostgreSQL"
    # shellcheck disable=SC2046
    pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main restart
    wait_for postgres port_open $PG_PORT
    level=$(pg_as_pulse 'SHOW wal_level')
    if [ "$level" != logical ]; then
      echo "postgres: wal_level is still $level after the restart; see postgresql.auto.conf" >&2
      exit 1
    fi
  fi
  if ! psql "host=127.0.0.1 port=$PG_PORT dbname=$DATABASE replication=database" -w -Atqc IDENTIFY_SYSTEM >/dev/null 2>&1 \
    && ! psql "port=$PG_PORT dbname=$DATABASE replication=database" -w -Atqc IDENTIFY_SYSTEM >/dev/null 2>&1; then
    echo "postgres: $(id -un) cannot open a logical replication connection to $DATABASE; it needs" >&2
    echo "  the REPLICATION attribute (ALTER ROLE ... REPLICATION) and a pg_hba.conf line for $DATABASE" >&2
    exit 1
  fi
}

mariadb_test_database() {
  local client sql="CREATE DATABASE IF NOT EXISTS \`$DATABASE\` CHARACTER SET utf8mb4"
  client=$(command -v mariadb || command -v mysql || true)
  if [ -z "$client" ]; then
    echo "mysql: no mariadb client to create database $DATABASE; install mariadb-client" >&2
    exit 1
  fi
  # Root through the socket (the only way in on a fresh Debian), else root over TCP.
  if { is_root && "$client" --protocol=socket -S $MY_SOCKET -e "$sql" 2>/dev/null; } \
    || "$client" --protocol=tcp -h 127.0.0.1 -P $MY_PORT -u root -e "$sql" 2>/dev/null; then
    return 0
  fi
  echo "mysql: cannot create database $DATABASE as root; run \`make services\` as root" >&2
  exit 1
}

install_missing
start_postgres
postgres_test_database
postgres_logical_replication
echo "postgres: 127.0.0.1:$PG_PORT answers, database $DATABASE ready, wal_level $(pg_as_pulse 'SHOW wal_level')"
start_mariadb
mariadb_test_database
echo "mysql:    127.0.0.1:$MY_PORT answers, database $DATABASE ready"
start_redis
echo "redis:    127.0.0.1:$REDIS_PORT answers"
