#!/usr/bin/env bash
# Run a Kafka command-line class on the jars cached by kafka/up.sh, e.g.
#   bash kafka/run-class.sh org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:9092 --list
#   bash kafka/run-class.sh org.apache.kafka.tools.ConsoleProducer --bootstrap-server 127.0.0.1:9092 --topic t
#   bash kafka/run-class.sh org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server 127.0.0.1:9092 \
#     --topic t --from-beginning --max-messages 1
#   bash kafka/run-class.sh org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server 127.0.0.1:9092 --list
# Tools log warnings to stderr. KAFKA_TOOL_OPTS adds JVM flags.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

if (($# == 0)); then
  echo "usage: run-class.sh <main class> [args...]" >&2
  exit 2
fi
if ! kafka_have_jars; then
  echo "kafka: no jars in $KAFKA_LIB_DIR yet; run npm run kafka:up once first." >&2
  exit 1
fi
read -r -a tool_opts <<<"${KAFKA_TOOL_OPTS:--Xmx256m}"
exec "$KAFKA_JAVA" "${tool_opts[@]}" -Dlog4j2.shutdownHookEnabled=false "-Dlog4j2.configurationFile=$KAFKA_SCRIPT_DIR/tools-log4j2.properties" \
  -cp "$KAFKA_LIB_DIR/*" "$@"
