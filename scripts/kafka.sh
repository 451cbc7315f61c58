#!/usr/bin/env bash
# A single-node Apache Kafka (KRaft: broker + controller) on 127.0.0.1, for tests and benchmarks.
#
#   bash scripts/kafka.sh up       fetch the jars once, format storage, start, wait until it serves
#   bash scripts/kafka.sh down     stop it and delete its data
#   bash scripts/kafka.sh status   print whether it runs (exit 1 when it does not)
#   bash scripts/kafka.sh stop     stop it, keeping its data (topics, offsets) for `start`
#   bash scripts/kafka.sh start    start a broker `stop` left, with its data, and wait until it serves
#
# DAGGER_KAFKA_PORT (default 9092) is the client port; the controller listens on the next one.
# DAGGER_CACHE (default ~/.cache/dagger) holds the jars (kafka-<version>/) and the running broker's
# config, data and logs (kafka-run-<port>/). The jars come from Maven Central through kafka/pom.xml.
# DAGGER_KAFKA_EXTRA_CONFIG names a properties file appended to the broker's config at `up`: a later
# key wins, so it can add listeners (TLS, SASL) as the tests of secured connections do.
# DAGGER_KAFKA_ADD_SCRAM ('SCRAM-SHA-512=[name=u,password=p]') creates a SCRAM user at `up`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
POM="$ROOT/kafka/pom.xml"
CACHE="${DAGGER_CACHE:-$HOME/.cache/dagger}"
PORT="${DAGGER_KAFKA_PORT:-9092}"
CONTROLLER_PORT=$((PORT + 1))
HOST=127.0.0.1
VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM")"
HOME_DIR="$CACHE/kafka-$VERSION"
JARS="$HOME_DIR/jars"
RUN="$CACHE/kafka-run-$PORT"
PID_FILE="$RUN/kafka.pid"
LOG="$RUN/logs/server.log"
START_TIMEOUT="${DAGGER_KAFKA_START_TIMEOUT:-90}"
PYTHON="$ROOT/.venv/bin/python"

say() { echo "kafka: $*"; }
die() { echo "kafka: error: $*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------- helpers

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# The pid from the pid file, if that process is alive and is the broker of this run directory.
running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$RUN/server.properties" || return 1
  echo "$pid"
}

need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found on PATH ($2)"; }

pom_digest() { sha256sum "$POM" | cut -d' ' -f1; }

# Jars are fetched once per pom: a stamp holding the pom's digest marks a complete copy.
fetch_jars() {
  if [[ -f "$HOME_DIR/.complete" && "$(cat "$HOME_DIR/.complete")" == "$(pom_digest)" ]]; then
    return
  fi
  need mvn "install Maven 3.8+ to fetch Apache Kafka from Maven Central"
  local started=$SECONDS tmp="$HOME_DIR/jars.partial"
  say "fetching Apache Kafka $VERSION from Maven Central into $HOME_DIR (once)"
  mkdir -p "$HOME_DIR"
  rm -rf "$tmp"
  mvn -q -B -f "$POM" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$tmp" >"$HOME_DIR/fetch.log" 2>&1 \
    || die "mvn could not fetch the jars; see $HOME_DIR/fetch.log"
  rm -rf "$JARS"
  mv "$tmp" "$JARS"
  pom_digest >"$HOME_DIR/.complete"
  say "fetched $(find "$JARS" -name '*.jar' | wc -l) jars ($(du -sh "$JARS" | cut -f1)) in $((SECONDS - started)) s"
}

write_config() {
  mkdir -p "$RUN/data" "$RUN/logs"
  cat >"$RUN/server.properties" <<EOF
# Written by scripts/kafka.sh: one node is broker and controller (KRaft), loopback only.
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
controller.quorum.bootstrap.servers=$HOST:$CONTROLLER_PORT
log.dirs=$RUN/data

# Sized for a small machine (2 cores): few threads, few internal partitions.
num.network.threads=2
num.io.threads=4
num.partitions=4
auto.create.topics.enable=true
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=24
log.segment.bytes=67108864
EOF
  if [[ -n "${DAGGER_KAFKA_EXTRA_CONFIG:-}" ]]; then
    [[ -f "$DAGGER_KAFKA_EXTRA_CONFIG" ]] || die "DAGGER_KAFKA_EXTRA_CONFIG: no file $DAGGER_KAFKA_EXTRA_CONFIG"
    { echo; echo "# From $DAGGER_KAFKA_EXTRA_CONFIG:"; cat "$DAGGER_KAFKA_EXTRA_CONFIG"; } >>"$RUN/server.properties"
  fi
  cat >"$RUN/log4j2.properties" <<EOF
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $LOG
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.apache.name = org.apache.kafka
logger.apache.level = INFO
EOF
}

# A cluster id is 16 random bytes in unpadded url-safe base64 (what `kafka-storage random-uuid`
# prints). Like Kafka's own generator, skip ids starting with '-': the formatter would read one as
# an option.
cluster_id() {
  local id="-"
  while [[ "$id" == -* ]]; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
  done
  echo "$id"
}

java_opts=(-Djava.awt.headless=true "-Dlog4j2.configurationFile=$RUN/log4j2.properties")

format_storage() {
  local scram=()
  [[ -n "${DAGGER_KAFKA_ADD_SCRAM:-}" ]] && scram=(--add-scram "$DAGGER_KAFKA_ADD_SCRAM")
  java "${java_opts[@]}" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp "$JARS/*" \
    kafka.tools.StorageTool format --standalone --cluster-id "$(cluster_id)" "${scram[@]}" \
    --config "$RUN/server.properties" >"$RUN/logs/format.log" 2>&1 9>&- \
    || die "formatting storage failed; see $RUN/logs/format.log"
}

start_broker() {
  # setsid: the broker outlives this shell and its terminal; the inner shell writes its own pid
  # and becomes java, so the pid file names the broker whatever setsid does. `9>&-`: the broker
  # must not hold the lock of this script.
  setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$PID_FILE" \
    java "${java_opts[@]}" -Xms256m -Xmx768m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
    -cp "$JARS/*" kafka.Kafka "$RUN/server.properties" \
    </dev/null >"$RUN/logs/stdout.log" 2>&1 9>&- &
}

# Metadata answered with this broker in it, through aiokafka when the project venv has it
# (without it, the log line and the open port checked by `wait_ready` have to do).
serves_metadata() {
  if [[ -z "${HAVE_AIOKAFKA:-}" ]]; then
    HAVE_AIOKAFKA=no
    [[ -x "$PYTHON" ]] && "$PYTHON" -c 'import aiokafka' 2>/dev/null && HAVE_AIOKAFKA=yes
  fi
  if [[ "$HAVE_AIOKAFKA" == yes ]]; then
    "$PYTHON" - "$HOST:$PORT" <<'EOF' >/dev/null 2>&1
import asyncio, sys
from aiokafka import AIOKafkaClient

async def main() -> None:
    client = AIOKafkaClient(bootstrap_servers=sys.argv[1], request_timeout_ms=3000)
    try:
        await asyncio.wait_for(client.bootstrap(), 5)
        assert client.cluster.brokers()
    finally:
        await client.close()

asyncio.run(main())
EOF
  fi
}

wait_ready() {
  local deadline=$((SECONDS + START_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! running_pid >/dev/null; then
      sleep 0.2  # the pid file may not be written yet
      running_pid >/dev/null || {
        tail -n 20 "$RUN/logs/stdout.log" "$LOG" >&2 2>/dev/null || true
        die "the broker exited during start-up; logs in $RUN/logs"
      }
    fi
    # The log line is cheap to check; only then ask for metadata (a Python start each time).
    if port_open "$PORT" && grep -q 'Kafka Server started' "$LOG" 2>/dev/null && serves_metadata; then
      return
    fi
    sleep 0.3
  done
  die "the broker did not serve metadata within $START_TIMEOUT s; logs in $RUN/logs"
}

# ---------------------------------------------------------------------------------------- commands

up() {
  local pid started=$SECONDS
  if pid="$(running_pid)"; then
    wait_ready
    say "bootstrap $HOST:$PORT"
    return
  fi
  need java "install a Java 17+ runtime"
  for p in "$PORT" "$CONTROLLER_PORT"; do
    port_open "$p" && die "port $p is taken by another process; set DAGGER_KAFKA_PORT to a free port"
  done
  fetch_jars
  rm -rf "$RUN"  # leftovers of a broker that died without `down`
  write_config
  format_storage
  start_broker
  wait_ready
  say "started Apache Kafka $VERSION in $((SECONDS - started)) s (pid $(cat "$PID_FILE"), logs in $RUN/logs)"
  say "bootstrap $HOST:$PORT"
}

stop_broker() {
  local pid
  if pid="$(running_pid)"; then
    kill -TERM "$pid"
    for _ in $(seq 150); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      say "broker did not stop within 30 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    say "stopped (pid $pid)"
  else
    say "not running"
  fi
}

down() {
  stop_broker
  rm -rf "$RUN"
}

stop() {
  stop_broker
  [[ -d "$RUN/data" ]] && say "data kept in $RUN/data; \`start\` runs it again"
  return 0
}

start() {
  local started=$SECONDS
  if running_pid >/dev/null; then
    wait_ready
    say "bootstrap $HOST:$PORT"
    return
  fi
  [[ -f "$RUN/data/meta.properties" ]] || die "no stopped broker in $RUN: use \`up\`"
  for p in "$PORT" "$CONTROLLER_PORT"; do
    port_open "$p" && die "port $p is taken by another process"
  done
  : >"$LOG"  # wait_ready looks for this start's 'started' line
  start_broker
  wait_ready
  say "started again in $((SECONDS - started)) s (pid $(cat "$PID_FILE"), data kept)"
  say "bootstrap $HOST:$PORT"
}

status() {
  local pid
  if pid="$(running_pid)"; then
    say "running (pid $pid), bootstrap $HOST:$PORT, logs in $RUN/logs"
  else
    say "not running"
    return 1
  fi
}

main() {
  [[ -n "$VERSION" ]] || die "no <kafka.version> in $POM"
  mkdir -p "$CACHE"
  # One invocation at a time per port: `up` and `down` from two shells would race on the run dir.
  exec 9>"$CACHE/kafka-run-$PORT.lock"
  command -v flock >/dev/null && flock 9
  case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    stop) stop ;;
    start) start ;;
    *) echo "usage: $0 up|down|status|stop|start" >&2; exit 2 ;;
  esac
}

main "$@"
