package dev.eddy.peers.common;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.IOException;

/**
 * Parses one line of the events file ({@code {"kind":"bid","bid":{...}}} etc.) with Jackson's
 * streaming parser into an {@link Event}. Unknown fields are skipped, so new generator fields
 * do not break it. Not thread-safe: one per reader.
 */
public final class EventParser {
  private final JsonFactory factory = new JsonFactory();

  public Event parse(byte[] buf, int off, int len) throws IOException {
    try (JsonParser p = factory.createParser(buf, off, len)) {
      if (p.nextToken() != JsonToken.START_OBJECT) throw bad(buf, off, len, "not an object");
      Event e = new Event();
      e.kind = -1;
      String name;
      while ((name = p.nextFieldName()) != null) {
        switch (name) {
          case "kind":
            e.kind = kind(p.nextTextValue(), buf, off, len);
            break;
          case "person":
            p.nextToken();
            e.person = person(p);
            break;
          case "auction":
            p.nextToken();
            e.auction = auction(p);
            break;
          case "bid":
            p.nextToken();
            e.bid = bid(p);
            break;
          default:
            p.nextToken();
            p.skipChildren();
        }
      }
      boolean ok =
          e.kind == Event.END
              || (e.kind == Event.PERSON && e.person != null)
              || (e.kind == Event.AUCTION && e.auction != null)
              || (e.kind == Event.BID && e.bid != null);
      if (!ok) throw bad(buf, off, len, "kind and payload do not match");
      return e;
    }
  }

  private static byte kind(String kind, byte[] buf, int off, int len) throws IOException {
    if (kind == null) throw bad(buf, off, len, "kind is not a string");
    switch (kind) {
      case "bid":
        return Event.BID;
      case "auction":
        return Event.AUCTION;
      case "person":
        return Event.PERSON;
      case "end":
        return Event.END;
      default:
        throw bad(buf, off, len, "unknown kind " + kind);
    }
  }

  private static IOException bad(byte[] buf, int off, int len, String why) {
    String line = new String(buf, off, Math.min(len, 200), java.nio.charset.StandardCharsets.UTF_8);
    return new IOException("events file: " + why + " in line " + line);
  }

  private static Bid bid(JsonParser p) throws IOException {
    Bid b = new Bid();
    String name;
    while ((name = p.nextFieldName()) != null) {
      p.nextToken();
      switch (name) {
        case "auction":
          b.auction = p.getLongValue();
          break;
        case "bidder":
          b.bidder = p.getLongValue();
          break;
        case "price":
          b.price = p.getLongValue();
          break;
        case "dateTime":
          b.dateTime = p.getLongValue();
          break;
        case "channel":
          b.channel = p.getText();
          break;
        case "url":
          b.url = p.getText();
          break;
        case "extra":
          b.extra = p.getText();
          break;
        default:
          p.skipChildren();
      }
    }
    return b;
  }

  private static Auction auction(JsonParser p) throws IOException {
    Auction a = new Auction();
    String name;
    while ((name = p.nextFieldName()) != null) {
      p.nextToken();
      switch (name) {
        case "id":
          a.id = p.getLongValue();
          break;
        case "itemName":
          a.itemName = p.getText();
          break;
        case "description":
          a.description = p.getText();
          break;
        case "initialBid":
          a.initialBid = p.getLongValue();
          break;
        case "reserve":
          a.reserve = p.getLongValue();
          break;
        case "dateTime":
          a.dateTime = p.getLongValue();
          break;
        case "expires":
          a.expires = p.getLongValue();
          break;
        case "seller":
          a.seller = p.getLongValue();
          break;
        case "category":
          a.category = p.getLongValue();
          break;
        case "extra":
          a.extra = p.getText();
          break;
        default:
          p.skipChildren();
      }
    }
    return a;
  }

  private static Person person(JsonParser p) throws IOException {
    Person r = new Person();
    String name;
    while ((name = p.nextFieldName()) != null) {
      p.nextToken();
      switch (name) {
        case "id":
          r.id = p.getLongValue();
          break;
        case "name":
          r.name = p.getText();
          break;
        case "emailAddress":
          r.emailAddress = p.getText();
          break;
        case "creditCard":
          r.creditCard = p.getText();
          break;
        case "city":
          r.city = p.getText();
          break;
        case "state":
          r.state = p.getText();
          break;
        case "dateTime":
          r.dateTime = p.getLongValue();
          break;
        case "extra":
          r.extra = p.getText();
          break;
        default:
          p.skipChildren();
      }
    }
    return r;
  }
}
