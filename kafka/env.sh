# Shared settings for kafka/up.sh, kafka/down.sh and kafka/run-class.sh (sourced, not run).
#
#   KAFKA_PORT             PLAINTEXT listener on 127.0.0.1 (default 9092)
#   KAFKA_CONTROLLER_PORT  KRaft controller listener on 127.0.0.1 (default KAFKA_PORT+1)
#   KAFKA_VERSION          org.apache.kafka:kafka_2.13 version from Maven Central (default in pom.xml)
#   KAFKA_HOME_DIR         where jars, data and logs go (default <repo>/.kafka, gitignored)
#   KAFKA_BROKERS          an external cluster to use instead; up.sh then starts nothing

KAFKA_SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KAFKA_REPO_DIR="$(cd "$KAFKA_SCRIPT_DIR/.." && pwd)"
KAFKA_POM="$KAFKA_SCRIPT_DIR/pom.xml"

KAFKA_PORT="${KAFKA_PORT:-9092}"
if ! [[ "$KAFKA_PORT" =~ ^[0-9]+$ ]] || ((KAFKA_PORT < 1 || KAFKA_PORT > 65534)); then
  echo "kafka: KAFKA_PORT must be a port number below 65535; received '$KAFKA_PORT'" >&2
  exit 2
fi
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
if ! [[ "$KAFKA_CONTROLLER_PORT" =~ ^[0-9]+$ ]] || ((KAFKA_CONTROLLER_PORT == KAFKA_PORT)); then
  echo "kafka: KAFKA_CONTROLLER_PORT must be a port number other than KAFKA_PORT; received '$KAFKA_CONTROLLER_PORT'" >&2
  exit 2
fi

if [[ -z "${KAFKA_VERSION:-}" ]]; then
  KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_POM" | head -n 1)"
fi
KAFKA_HOME_DIR="${KAFKA_HOME_DIR:-$KAFKA_REPO_DIR/.kafka}"
KAFKA_LIB_DIR="$KAFKA_HOME_DIR/lib/$KAFKA_VERSION"
# One directory per port, so brokers on different ports (say, a dev one and a test one)
# keep apart: server.properties, data/, logs/, server.out, kafka.pid.
KAFKA_BROKER_DIR="$KAFKA_HOME_DIR/broker-$KAFKA_PORT"
KAFKA_PID_FILE="$KAFKA_BROKER_DIR/kafka.pid"
KAFKA_PROPS_FILE="$KAFKA_BROKER_DIR/server.properties"

if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
  KAFKA_JAVA="$JAVA_HOME/bin/java"
else
  KAFKA_JAVA="$(command -v java || true)"
fi

# True when the pid in the pid file is alive and is the broker started for this port.
kafka_running_pid() {
  local pid
  [[ -f "$KAFKA_PID_FILE" ]] || return 1
  pid="$(cat "$KAFKA_PID_FILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $KAFKA_PROPS_FILE" || return 1
  echo "$pid"
}

# True when something accepts TCP connections on 127.0.0.1:$1.
kafka_port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

kafka_have_jars() {
  [[ -f "$KAFKA_LIB_DIR/.complete" ]]
}
