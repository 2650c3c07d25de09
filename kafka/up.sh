#!/usr/bin/env bash
# Start a local single-node Apache Kafka 4 broker (KRaft, combined broker+controller)
# on 127.0.0.1 for development and tests. Idempotent: if it is already running this
# says so and exits 0. Stop it with kafka/down.sh.
#
#   npm run kafka:up                  # PLAINTEXT on 127.0.0.1:9092, controller on :9093
#   KAFKA_PORT=19092 npm run kafka:up # another port; data kept apart per port
#
# The broker's jars come from Maven Central via kafka/pom.xml on the first run and are
# cached in .kafka/lib/<version>/ (and ~/.m2); later runs start offline.
# With KAFKA_BROKERS pointing at an external cluster there is nothing to start.
# Environment: see kafka/env.sh. Also KAFKA_HEAP_OPTS (default -Xms256m -Xmx512m),
# KAFKA_JVM_OPTS (extra JVM flags), KAFKA_OVERRIDES ("key=value key=value", broker
# properties passed as --override), KAFKA_START_TIMEOUT (seconds, default 90).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

start_s=$SECONDS
start_ns=$(date +%s%N)
elapsed() { local ms=$((($(date +%s%N) - start_ns) / 1000000)); printf '%d.%d s' $((ms / 1000)) $((ms % 1000 / 100)); }
timeout_s="${KAFKA_START_TIMEOUT:-90}"

if [[ -n "${KAFKA_BROKERS:-}" ]]; then
  case ",$KAFKA_BROKERS," in
    *",127.0.0.1:$KAFKA_PORT,"* | *",localhost:$KAFKA_PORT,"*) ;;
    *)
      echo "kafka: KAFKA_BROKERS=$KAFKA_BROKERS names an external cluster; not starting a local broker."
      echo "kafka: unset KAFKA_BROKERS (or set it to 127.0.0.1:$KAFKA_PORT) to run one here."
      exit 0
      ;;
  esac
fi

if pid="$(kafka_running_pid)"; then
  echo "kafka: already running (pid $pid) at 127.0.0.1:$KAFKA_PORT; data in $KAFKA_BROKER_DIR"
  exit 0
fi

for port in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
  if kafka_port_open "$port"; then
    echo "kafka: port 127.0.0.1:$port is already in use by a process this script did not start." >&2
    echo "kafka: stop it, choose another KAFKA_PORT (controller port defaults to KAFKA_PORT+1)," >&2
    echo "kafka: or point KAFKA_BROKERS at that cluster and skip kafka:up." >&2
    exit 1
  fi
done

if [[ -z "$KAFKA_JAVA" ]]; then
  echo "kafka: no java found; Kafka $KAFKA_VERSION needs a Java 17+ runtime (set JAVA_HOME or put java on PATH)." >&2
  exit 1
fi
java_major="$("$KAFKA_JAVA" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = \([0-9]*\).*/\1/p')"
if [[ -z "$java_major" || "$java_major" -lt 17 ]]; then
  echo "kafka: $KAFKA_JAVA is Java ${java_major:-unknown}; Kafka $KAFKA_VERSION needs Java 17 or newer." >&2
  exit 1
fi

# 1. Jars: resolve once from Maven Central, then reuse.
if ! kafka_have_jars; then
  if ! command -v mvn >/dev/null 2>&1; then
    echo "kafka: the jars for Kafka $KAFKA_VERSION are not in $KAFKA_LIB_DIR and mvn is not installed to fetch them." >&2
    exit 1
  fi
  echo "kafka: fetching org.apache.kafka:kafka_2.13:$KAFKA_VERSION and its runtime dependencies (first run only)..."
  tmp_lib="$KAFKA_LIB_DIR.tmp.$$"
  rm -rf "$tmp_lib"
  mkdir -p "$tmp_lib"
  if ! mvn -B -q -f "$KAFKA_POM" "-Dkafka.version=$KAFKA_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime "-DoutputDirectory=$tmp_lib" \
    >"$tmp_lib.mvn.log" 2>&1; then
    echo "kafka: mvn could not resolve the jars; its output ends:" >&2
    tail -n 20 "$tmp_lib.mvn.log" >&2
    rm -rf "$tmp_lib"
    exit 1
  fi
  rm -f "$tmp_lib.mvn.log"
  touch "$tmp_lib/.complete"
  rm -rf "$KAFKA_LIB_DIR"
  mv "$tmp_lib" "$KAFKA_LIB_DIR"
  echo "kafka: $(find "$KAFKA_LIB_DIR" -name '*.jar' | wc -l) jars cached in $KAFKA_LIB_DIR ($(elapsed))"
fi

# 2. Configuration, written each start so a changed port or partition count applies.
mkdir -p "$KAFKA_BROKER_DIR/data" "$KAFKA_BROKER_DIR/logs"
cat >"$KAFKA_PROPS_FILE" <<EOF
# Written by kafka/up.sh; edits are overwritten on the next start (use KAFKA_OVERRIDES).
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
controller.quorum.bootstrap.servers=127.0.0.1:$KAFKA_CONTROLLER_PORT
log.dirs=$KAFKA_BROKER_DIR/data
num.partitions=${KAFKA_PARTITIONS:-4}
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# No time retention: tests and benches write records whose timestamps are synthetic event
# times (1970, 2023), which the default 7 days deletes at the next check (every 5 minutes),
# rolling even the active segment; a bench reading its topic then waited for ever.
log.retention.ms=-1
EOF

# 3. Storage: format once per data directory, as a single-node dynamic quorum.
if [[ ! -f "$KAFKA_BROKER_DIR/data/meta.properties" ]]; then
  # A Kafka Uuid: 16 random bytes, URL-safe base64 without padding (22 characters). Drawn again when
  # it starts with "-", which the storage tool's argument parser takes for an option (1 id in 64).
  cluster_id="-"
  while [[ $cluster_id == -* ]]; do
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
  done
  echo "kafka: formatting $KAFKA_BROKER_DIR/data (cluster id $cluster_id)"
  if ! "$KAFKA_JAVA" -Xmx256m "-Dlog4j2.configurationFile=$KAFKA_SCRIPT_DIR/tools-log4j2.properties" \
    -cp "$KAFKA_LIB_DIR/*" kafka.tools.StorageTool format --standalone \
    --config "$KAFKA_PROPS_FILE" --cluster-id "$cluster_id" >"$KAFKA_BROKER_DIR/format.log" 2>&1; then
    echo "kafka: formatting the storage failed:" >&2
    cat "$KAFKA_BROKER_DIR/format.log" >&2
    exit 1
  fi
fi

# 4. Start the broker in its own session so it outlives this shell and Ctrl-C.
overrides=()
for kv in ${KAFKA_OVERRIDES:-}; do overrides+=(--override "$kv"); done
read -r -a heap_opts <<<"${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
read -r -a jvm_opts <<<"${KAFKA_JVM_OPTS:-}"
out="$KAFKA_BROKER_DIR/server.out"
echo "--- start $(date -u +%FT%TZ)" >>"$out"
setsid "$KAFKA_JAVA" "${heap_opts[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
  -Djava.awt.headless=true "-Dkafka.logs.dir=$KAFKA_BROKER_DIR/logs" \
  "-Dlog4j2.configurationFile=$KAFKA_SCRIPT_DIR/log4j2.properties" "${jvm_opts[@]}" \
  -cp "$KAFKA_LIB_DIR/*" kafka.Kafka "$KAFKA_PROPS_FILE" "${overrides[@]}" \
  </dev/null >>"$out" 2>&1 &
broker_pid=$!
echo "$broker_pid" >"$KAFKA_PID_FILE"

fail() {
  echo "kafka: $1" >&2
  echo "kafka: --- last lines of $KAFKA_BROKER_DIR/logs/server.log" >&2
  tail -n 40 "$KAFKA_BROKER_DIR/logs/server.log" >&2 2>/dev/null || true
  echo "kafka: --- last lines of $out" >&2
  tail -n 20 "$out" >&2 || true
  exit 1
}

# 5. Wait until the broker answers a metadata request (not merely an open port).
probe_props="$KAFKA_BROKER_DIR/probe.properties"
printf 'request.timeout.ms=3000\ndefault.api.timeout.ms=5000\n' >"$probe_props"
deadline=$((start_s + timeout_s))
while :; do
  # Our own child, by pid: right after the fork its command line is still this shell's (before
  # setsid and java exec), so kafka_running_pid's command-line check would call it gone (seen in CI).
  if ! kill -0 "$broker_pid" 2>/dev/null || [[ "$(ps -o stat= -p "$broker_pid" 2>/dev/null)" == Z* ]]; then
    rm -f "$KAFKA_PID_FILE"
    fail "the broker exited during startup."
  fi
  if ((SECONDS >= deadline)); then
    pid="$(cat "$KAFKA_PID_FILE")"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$KAFKA_PID_FILE"
    fail "the broker did not answer on 127.0.0.1:$KAFKA_PORT within ${timeout_s}s (stopped it, pid $pid; raise KAFKA_START_TIMEOUT if the machine is slow)."
  fi
  if kafka_port_open "$KAFKA_PORT" &&
    "$KAFKA_JAVA" -Xmx128m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
      "-Dlog4j2.configurationFile=$KAFKA_SCRIPT_DIR/tools-log4j2.properties" \
      -cp "$KAFKA_LIB_DIR/*" org.apache.kafka.tools.TopicCommand \
      --bootstrap-server "127.0.0.1:$KAFKA_PORT" --command-config "$probe_props" --list \
      >/dev/null 2>&1; then
    break
  fi
  sleep 0.5
done

echo "kafka: Apache Kafka $KAFKA_VERSION up at 127.0.0.1:$KAFKA_PORT (KRaft controller 127.0.0.1:$KAFKA_CONTROLLER_PORT, pid $(cat "$KAFKA_PID_FILE")) in $(elapsed)"
stop_cmd="npm run kafka:down"
[[ "$KAFKA_PORT" == 9092 ]] || stop_cmd="KAFKA_PORT=$KAFKA_PORT $stop_cmd"
echo "kafka: data and logs in $KAFKA_BROKER_DIR; stop with: ${stop_cmd}"
echo "kafka: clients: export KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT"
