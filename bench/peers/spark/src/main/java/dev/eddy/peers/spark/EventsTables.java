package dev.eddy.peers.spark;

import dev.eddy.peers.common.Event;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.unsafe.types.UTF8String;

/**
 * The tables the events source offers, as nexmark/nexmark's DDL names them: {@code event} (its
 * {@code datagen} table: {@code event_type}, one struct per kind, {@code dateTime}) and the views
 * {@code person}, {@code auction}, {@code bid} (flat columns, {@code dateTime} a TIMESTAMP). Each
 * column knows how to write its value from a parsed {@link Event} into Spark's row.
 */
final class EventsTables {
  private EventsTables() {}

  /**
   * Event time of the END row (9999-12-31T00:00:00Z): later than any window or join bound of the
   * queries, and still a valid Spark TIMESTAMP.
   */
  static final long END_MILLIS = 253_402_214_400_000L;

  /** Writes one column's value of event {@code e} at ordinal {@code i} of {@code row}. */
  interface Writer {
    void write(Event e, InternalRow row, int i);
  }

  /**
   * One column's value of event {@code e} as an external (boxed, {@code String}) value, for the
   * Kafka mode's rows ({@link KafkaEvents}); TIMESTAMP columns give epoch ms (a {@code Long}).
   */
  interface Getter {
    Object get(Event e);
  }

  static final class Column {
    final String name;
    final DataType type;
    final Writer writer;
    /** null: not available in Kafka mode (the nested structs of {@code event}). */
    final Getter getter;

    Column(String name, DataType type, Writer writer, Getter getter) {
      this.name = name;
      this.type = type;
      this.writer = writer;
      this.getter = getter;
    }
  }

  enum Kind {
    EVENT("event", (byte) -1, eventColumns()),
    PERSON("person", Event.PERSON, personColumns()),
    AUCTION("auction", Event.AUCTION, auctionColumns()),
    BID("bid", Event.BID, bidColumns());

    final String name;
    /** The event kind the view keeps; -1: all. */
    final byte kind;

    final List<Column> all;
    /** The ordinal of {@code dateTime}. */
    final int time;

    Kind(String name, byte kind, List<Column> all) {
      this.name = name;
      this.kind = kind;
      this.all = all;
      int t = -1;
      for (int i = 0; i < all.size(); i++) if (all.get(i).name.equals("dateTime")) t = i;
      this.time = t;
    }

    static Kind of(String name) {
      for (Kind k : values()) if (k.name.equalsIgnoreCase(name)) return k;
      throw new IllegalArgumentException("nexmark-events: unknown table " + name + "; use event, person, auction or bid");
    }

    /** The ordinals (in {@link #all}) of the comma-separated column names; empty: all. */
    int[] columns(String names) {
      if (names.isBlank()) {
        int[] all = new int[this.all.size()];
        for (int i = 0; i < all.length; i++) all[i] = i;
        return all;
      }
      String[] parts = names.split(",");
      int[] out = new int[parts.length];
      for (int j = 0; j < parts.length; j++) {
        String n = parts[j].trim();
        out[j] = -1;
        for (int i = 0; i < all.size(); i++) if (all.get(i).name.equals(n)) out[j] = i;
        if (out[j] < 0) throw new IllegalArgumentException("nexmark-events: table " + name + " has no column " + n);
      }
      return out;
    }

    StructType schema(int[] columns) {
      List<StructField> fields = new ArrayList<>(columns.length);
      for (int c : columns) fields.add(DataTypes.createStructField(all.get(c).name, all.get(c).type, true));
      return DataTypes.createStructType(fields);
    }
  }

  // -------------------------------------------------------------------------------------- writers

  private static UTF8String str(String s) {
    return s == null ? null : UTF8String.fromString(s);
  }

  /** Epoch milliseconds to Spark's TIMESTAMP (microseconds). */
  private static long micros(long millis) {
    return millis * 1000;
  }

  private static Column col(String name, DataType type, Writer w, Getter g) {
    return new Column(name, type, w, g);
  }

  private static Column col(String name, DataType type, Writer w) {
    return new Column(name, type, w, null);
  }

  private static final DataType LONG = DataTypes.LongType;
  private static final DataType STRING = DataTypes.StringType;
  private static final DataType TIME = DataTypes.TimestampType;

  private static List<Column> personColumns() {
    return List.of(
        col("id", LONG, (e, r, i) -> r.setLong(i, e.person.id), e -> e.person.id),
        col("name", STRING, (e, r, i) -> r.update(i, str(e.person.name)), e -> e.person.name),
        col("emailAddress", STRING, (e, r, i) -> r.update(i, str(e.person.emailAddress)), e -> e.person.emailAddress),
        col("creditCard", STRING, (e, r, i) -> r.update(i, str(e.person.creditCard)), e -> e.person.creditCard),
        col("city", STRING, (e, r, i) -> r.update(i, str(e.person.city)), e -> e.person.city),
        col("state", STRING, (e, r, i) -> r.update(i, str(e.person.state)), e -> e.person.state),
        col("dateTime", TIME, (e, r, i) -> r.setLong(i, micros(e.person.dateTime)), e -> e.person.dateTime),
        col("extra", STRING, (e, r, i) -> r.update(i, str(e.person.extra)), e -> e.person.extra));
  }

  private static List<Column> auctionColumns() {
    return List.of(
        col("id", LONG, (e, r, i) -> r.setLong(i, e.auction.id), e -> e.auction.id),
        col("itemName", STRING, (e, r, i) -> r.update(i, str(e.auction.itemName)), e -> e.auction.itemName),
        col("description", STRING, (e, r, i) -> r.update(i, str(e.auction.description)), e -> e.auction.description),
        col("initialBid", LONG, (e, r, i) -> r.setLong(i, e.auction.initialBid), e -> e.auction.initialBid),
        col("reserve", LONG, (e, r, i) -> r.setLong(i, e.auction.reserve), e -> e.auction.reserve),
        col("dateTime", TIME, (e, r, i) -> r.setLong(i, micros(e.auction.dateTime)), e -> e.auction.dateTime),
        col("expires", TIME, (e, r, i) -> r.setLong(i, micros(e.auction.expires)), e -> e.auction.expires),
        col("seller", LONG, (e, r, i) -> r.setLong(i, e.auction.seller), e -> e.auction.seller),
        col("category", LONG, (e, r, i) -> r.setLong(i, e.auction.category), e -> e.auction.category),
        col("extra", STRING, (e, r, i) -> r.update(i, str(e.auction.extra)), e -> e.auction.extra));
  }

  private static List<Column> bidColumns() {
    return List.of(
        col("auction", LONG, (e, r, i) -> r.setLong(i, e.bid.auction), e -> e.bid.auction),
        col("bidder", LONG, (e, r, i) -> r.setLong(i, e.bid.bidder), e -> e.bid.bidder),
        col("price", LONG, (e, r, i) -> r.setLong(i, e.bid.price), e -> e.bid.price),
        col("channel", STRING, (e, r, i) -> r.update(i, str(e.bid.channel)), e -> e.bid.channel),
        col("url", STRING, (e, r, i) -> r.update(i, str(e.bid.url)), e -> e.bid.url),
        col("dateTime", TIME, (e, r, i) -> r.setLong(i, micros(e.bid.dateTime)), e -> e.bid.dateTime),
        col("extra", STRING, (e, r, i) -> r.update(i, str(e.bid.extra)), e -> e.bid.extra));
  }

  /** nexmark/nexmark's datagen table: event_type (0 person, 1 auction, 2 bid), a struct per kind, dateTime. */
  private static List<Column> eventColumns() {
    List<Column> person = personColumns();
    List<Column> auction = auctionColumns();
    List<Column> bid = bidColumns();
    return List.of(
        col("event_type", DataTypes.IntegerType, (e, r, i) -> r.setInt(i, e.kind)),
        col("person", struct(person), (e, r, i) -> r.update(i, e.person == null ? null : nested(e, person))),
        col(
            "auction", struct(auction), (e, r, i) -> r.update(i, e.auction == null ? null : nested(e, auction))),
        col("bid", struct(bid), (e, r, i) -> r.update(i, e.bid == null ? null : nested(e, bid))),
        col("dateTime", TIME, (e, r, i) -> r.setLong(i, micros(e.time()))));
  }

  private static StructType struct(List<Column> cs) {
    List<StructField> fields = new ArrayList<>(cs.size());
    for (Column c : cs) fields.add(DataTypes.createStructField(c.name, c.type, true));
    return DataTypes.createStructType(fields);
  }

  private static InternalRow nested(Event e, List<Column> cs) {
    GenericInternalRow row = new GenericInternalRow(cs.size());
    for (int i = 0; i < cs.size(); i++) cs.get(i).writer.write(e, row, i);
    return row;
  }
}
