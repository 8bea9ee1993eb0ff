#!/bin/bash
# Healthcheck of the clickhouse service: healthy once the server answers on the container's
# address (the image's init server listens on 127.0.0.1 only, docker/server/entrypoint.sh) AND
# the object of the LAST clickhouse/init file exists. A ping alone turns green after a first start
# that stopped half-way through the init files; the last object exists only when every file ran.
set -eu

init_dir=${CLICKHOUSE_INIT_DIR:-/docker-entrypoint-initdb.d}
last=""
for file in "$init_dir"/*.sql; do
    [ -e "$file" ] && last=$file
done
if [ -z "$last" ]; then
    echo "no init files in $init_dir" >&2
    exit 1
fi

# "CREATE <kind> IF NOT EXISTS <name>" of that file (one object per file)
statement=$(sed -n -E '/^CREATE /{p;q}' "$last")
kind=$(printf '%s\n' "$statement" | sed -E 's/^CREATE (.*) IF NOT EXISTS .*/\1/')
name=$(printf '%s\n' "$statement" | sed -E 's/^CREATE .* IF NOT EXISTS ([A-Za-z0-9_.]+).*/\1/')
case "$kind" in
    DATABASE) query="EXISTS DATABASE $name" ;;
    FUNCTION) query="SELECT count() FROM system.functions WHERE name = '$name'" ;;
    *) query="EXISTS TABLE $name" ;;
esac

answer=$(clickhouse-client --host "$(hostname)" --user "${CLICKHOUSE_USER:-default}" \
    --password "${CLICKHOUSE_PASSWORD:-}" --query "$query")
if [ "$answer" != 1 ]; then
    echo "$name ($(basename "$last")) does not exist yet: clickhouse/init has not finished" >&2
    exit 1
fi
