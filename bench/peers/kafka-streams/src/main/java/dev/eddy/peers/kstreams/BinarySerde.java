package dev.eddy.peers.kstreams;

import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import org.apache.kafka.common.errors.SerializationException;

/**
 * A compact binary serde for the POJOs that cross repartition topics and live in stores (issue
 * 14: "Kafka Streams 4.x: binary or efficient serdes"). Every window update of a Kafka Streams
 * aggregation reads its value from the store and writes it back as bytes, so this is on the hot
 * path: JSON through Jackson cost q5 two parses and two prints per hopping window per bid.
 *
 * <p>The layout: the public instance fields, ordered by name, each as its type says — long,
 * double 8 bytes, int 4, byte and boolean 1, a {@code long[]} as its length (int, −1 for null) and
 * its longs, a String as its UTF-8 length (int, −1 for null) and
 * bytes, a nested POJO as a presence byte and its fields, a {@code List} of {@code Long} or of a
 * POJO as its size (int, −1 for null) and its elements. Writer and reader are the same build, so
 * the layout needs no version. Written by hand as an expert would for two-long values, but once
 * for every POJO here rather than once per class.
 */
final class BinarySerde<T> extends SelfSerde<T> {
  /** One field's (or one element's) reading and writing. */
  private interface Codec {
    void write(Out out, Object value) throws IllegalAccessException;

    Object read(ByteBuffer in) throws ReflectiveOperationException;
  }

  /** A growable byte array, one per thread (serdes are shared by a topology's threads). */
  private static final class Out {
    byte[] buf = new byte[256];
    int n;

    void ensure(int more) {
      if (n + more > buf.length) buf = Arrays.copyOf(buf, Math.max(buf.length * 2, n + more));
    }

    void putLong(long v) {
      ensure(8);
      for (int i = 56; i >= 0; i -= 8) buf[n++] = (byte) (v >>> i);
    }

    void putInt(int v) {
      ensure(4);
      for (int i = 24; i >= 0; i -= 8) buf[n++] = (byte) (v >>> i);
    }

    void put(byte v) {
      ensure(1);
      buf[n++] = v;
    }

    void putBytes(byte[] b) {
      ensure(b.length);
      System.arraycopy(b, 0, buf, n, b.length);
      n += b.length;
    }
  }

  private static final ThreadLocal<Out> OUT = ThreadLocal.withInitial(Out::new);

  private final Codec codec;

  BinarySerde(Class<T> type) {
    // A top-level value is never null here (Kafka's null is handled before the codec), so the
    // presence byte of a nested value is one byte of waste for a POJO; a long[] is used whole.
    this.codec = type == long[].class ? value(type) : pojo(type);
  }

  private static Codec pojo(Class<?> type) {
    Constructor<?> make;
    try {
      make = type.getDeclaredConstructor();
    } catch (NoSuchMethodException e) {
      throw new IllegalArgumentException(type.getName() + " has no no-arg constructor", e);
    }
    Field[] fields =
        Arrays.stream(type.getFields())
            .filter(f -> !Modifier.isStatic(f.getModifiers()))
            .sorted(Comparator.comparing(Field::getName))
            .toArray(Field[]::new);
    FieldCodec[] codecs = new FieldCodec[fields.length];
    for (int i = 0; i < fields.length; i++) codecs[i] = field(fields[i]);
    return new Codec() {
      @Override
      public void write(Out out, Object v) throws IllegalAccessException {
        for (FieldCodec c : codecs) c.write(out, v);
      }

      @Override
      public Object read(ByteBuffer in) throws ReflectiveOperationException {
        Object v = make.newInstance();
        for (FieldCodec c : codecs) c.read(in, v);
        return v;
      }
    };
  }

  /** Reads and writes one field of an object. */
  private interface FieldCodec {
    void write(Out out, Object owner) throws IllegalAccessException;

    void read(ByteBuffer in, Object owner) throws ReflectiveOperationException;
  }

  private static FieldCodec field(Field f) {
    Class<?> t = f.getType();
    if (t == long.class)
      return new FieldCodec() {
        public void write(Out out, Object o) throws IllegalAccessException {
          out.putLong(f.getLong(o));
        }

        public void read(ByteBuffer in, Object o) throws IllegalAccessException {
          f.setLong(o, in.getLong());
        }
      };
    if (t == double.class)
      return new FieldCodec() {
        public void write(Out out, Object o) throws IllegalAccessException {
          out.putLong(Double.doubleToRawLongBits(f.getDouble(o)));
        }

        public void read(ByteBuffer in, Object o) throws IllegalAccessException {
          f.setDouble(o, in.getDouble());
        }
      };
    if (t == int.class)
      return new FieldCodec() {
        public void write(Out out, Object o) throws IllegalAccessException {
          out.putInt(f.getInt(o));
        }

        public void read(ByteBuffer in, Object o) throws IllegalAccessException {
          f.setInt(o, in.getInt());
        }
      };
    if (t == byte.class)
      return new FieldCodec() {
        public void write(Out out, Object o) throws IllegalAccessException {
          out.put(f.getByte(o));
        }

        public void read(ByteBuffer in, Object o) throws IllegalAccessException {
          f.setByte(o, in.get());
        }
      };
    if (t == boolean.class)
      return new FieldCodec() {
        public void write(Out out, Object o) throws IllegalAccessException {
          out.put(f.getBoolean(o) ? (byte) 1 : 0);
        }

        public void read(ByteBuffer in, Object o) throws IllegalAccessException {
          f.setBoolean(o, in.get() != 0);
        }
      };
    Codec c = t == List.class ? list(f.getGenericType(), f) : value(t);
    return new FieldCodec() {
      public void write(Out out, Object o) throws IllegalAccessException {
        c.write(out, f.get(o));
      }

      public void read(ByteBuffer in, Object o) throws ReflectiveOperationException {
        f.set(o, c.read(in));
      }
    };
  }

  /** A String, a boxed Long or a nested POJO, each nullable. */
  private static Codec value(Class<?> t) {
    if (t == String.class)
      return new Codec() {
        public void write(Out out, Object v) {
          if (v == null) {
            out.putInt(-1);
            return;
          }
          byte[] b = ((String) v).getBytes(StandardCharsets.UTF_8);
          out.putInt(b.length);
          out.putBytes(b);
        }

        public Object read(ByteBuffer in) {
          int n = in.getInt();
          if (n < 0) return null;
          String s = new String(in.array(), in.arrayOffset() + in.position(), n, StandardCharsets.UTF_8);
          in.position(in.position() + n);
          return s;
        }
      };
    if (t == long[].class)
      return new Codec() {
        public void write(Out out, Object v) {
          if (v == null) {
            out.putInt(-1);
            return;
          }
          long[] xs = (long[]) v;
          out.putInt(xs.length);
          for (long x : xs) out.putLong(x);
        }

        public Object read(ByteBuffer in) {
          int n = in.getInt();
          if (n < 0) return null;
          long[] xs = new long[n];
          for (int i = 0; i < n; i++) xs[i] = in.getLong();
          return xs;
        }
      };
    if (t == Long.class)
      return new Codec() {
        public void write(Out out, Object v) {
          out.put(v == null ? (byte) 0 : 1);
          if (v != null) out.putLong((Long) v);
        }

        public Object read(ByteBuffer in) {
          return in.get() == 0 ? null : in.getLong();
        }
      };
    if (t.isPrimitive() || t.isArray() || t.getName().startsWith("java."))
      throw new IllegalArgumentException("BinarySerde: no codec for a field of type " + t.getName());
    Codec inner = pojo(t);
    return new Codec() {
      public void write(Out out, Object v) throws IllegalAccessException {
        out.put(v == null ? (byte) 0 : 1);
        if (v != null) inner.write(out, v);
      }

      public Object read(ByteBuffer in) throws ReflectiveOperationException {
        return in.get() == 0 ? null : inner.read(in);
      }
    };
  }

  private static Codec list(Type generic, Field f) {
    if (!(generic instanceof ParameterizedType p) || !(p.getActualTypeArguments()[0] instanceof Class<?> element))
      throw new IllegalArgumentException("BinarySerde: " + f + " is a List without a class element type");
    Codec e = value(element);
    return new Codec() {
      public void write(Out out, Object v) throws IllegalAccessException {
        if (v == null) {
          out.putInt(-1);
          return;
        }
        List<?> xs = (List<?>) v;
        out.putInt(xs.size());
        for (int i = 0; i < xs.size(); i++) e.write(out, xs.get(i));
      }

      public Object read(ByteBuffer in) throws ReflectiveOperationException {
        int n = in.getInt();
        if (n < 0) return null;
        List<Object> xs = new ArrayList<>(n);
        for (int i = 0; i < n; i++) xs.add(e.read(in));
        return xs;
      }
    };
  }

  @Override
  public byte[] serialize(String topic, T value) {
    if (value == null) return null;
    Out out = OUT.get();
    out.n = 0;
    try {
      codec.write(out, value);
    } catch (IllegalAccessException e) {
      throw new SerializationException(e);
    }
    return Arrays.copyOf(out.buf, out.n);
  }

  @Override
  @SuppressWarnings("unchecked")
  public T deserialize(String topic, byte[] bytes) {
    if (bytes == null) return null;
    try {
      return (T) codec.read(ByteBuffer.wrap(bytes));
    } catch (ReflectiveOperationException | RuntimeException e) {
      throw new SerializationException("BinarySerde: cannot read " + bytes.length + " bytes", e);
    }
  }
}
