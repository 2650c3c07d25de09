package dev.eddy.peers.common;

/**
 * One line of the events file: exactly one of {@code person}, {@code auction}, {@code bid}
 * is set, as {@code kind} says. {@code END} marks the end of input (Kafka Streams only).
 */
public class Event implements Stamped {
  public static final byte PERSON = 0;
  public static final byte AUCTION = 1;
  public static final byte BID = 2;
  public static final byte END = 3;

  public byte kind;
  public Person person;
  public Auction auction;
  public Bid bid;
  /** Scheduled creation time (System.nanoTime) in rate mode, else 0. */
  public long created;

  public Event() {}

  /** The event's time (epoch ms). */
  public long time() {
    switch (kind) {
      case PERSON:
        return person.dateTime;
      case AUCTION:
        return auction.dateTime;
      case BID:
        return bid.dateTime;
      default:
        return Long.MAX_VALUE;
    }
  }

  @Override
  public long created() {
    return created;
  }

  /** Stamps the event and its payload with its creation time. */
  public void stamp(long nanos) {
    created = nanos;
    if (bid != null) bid.created = nanos;
    if (auction != null) auction.created = nanos;
    if (person != null) person.created = nanos;
  }
}
