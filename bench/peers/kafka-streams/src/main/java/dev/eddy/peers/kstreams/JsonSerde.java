package dev.eddy.peers.kstreams;

import com.fasterxml.jackson.annotation.JsonAutoDetect.Visibility;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.ObjectWriter;
import java.io.IOException;
import org.apache.kafka.common.errors.SerializationException;

/** JSON (Jackson, public fields) for the records that cross repartition and changelog topics. */
final class JsonSerde<T> extends SelfSerde<T> {
  private static final ObjectMapper MAPPER = new ObjectMapper();

  static {
    MAPPER.configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);
    MAPPER.setVisibility(
        MAPPER
            .getSerializationConfig()
            .getDefaultVisibilityChecker()
            .withFieldVisibility(Visibility.PUBLIC_ONLY)
            .withGetterVisibility(Visibility.NONE)
            .withIsGetterVisibility(Visibility.NONE)
            .withSetterVisibility(Visibility.NONE));
  }

  private final ObjectWriter writer;
  private final ObjectReader reader;

  JsonSerde(Class<T> type) {
    this.writer = MAPPER.writerFor(type);
    this.reader = MAPPER.readerFor(type);
  }

  private JsonSerde() {
    this.writer = MAPPER.writer();
    this.reader = null;
  }

  /** Writes each value as its runtime class's public fields (the Kafka mode's output rows); reads nothing. */
  static <T> JsonSerde<T> writerByRuntimeClass() {
    return new JsonSerde<>();
  }

  @Override
  public byte[] serialize(String topic, T value) {
    if (value == null) return null;
    try {
      return writer.writeValueAsBytes(value);
    } catch (IOException e) {
      throw new SerializationException(e);
    }
  }

  @Override
  public T deserialize(String topic, byte[] bytes) {
    if (bytes == null) return null;
    if (reader == null) throw new SerializationException("this serde only writes");
    try {
      return reader.readValue(bytes);
    } catch (IOException e) {
      throw new SerializationException(e);
    }
  }
}
