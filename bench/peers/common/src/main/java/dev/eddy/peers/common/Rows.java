package dev.eddy.peers.common;

import java.util.ArrayList;
import java.util.List;

/**
 * The output rows of the queries (named after bench/nexmark/queries.ts) and the intermediate
 * records between their steps. POJOs: public fields and a no-arg constructor, so Flink uses its
 * POJO serializer and Jackson maps them without annotations. Every one carries {@code created},
 * the newest scheduled creation time among the input events it derives from.
 */
public final class Rows {
  private Rows() {}

  /** Q1: a bid with its price in euros. */
  public static class Q1Row implements Stamped {
    public long auction;
    public long bidder;
    public double price;
    public long dateTime;
    public String channel;
    public String url;
    public String extra;
    public long created;

    public Q1Row() {}

    public static Q1Row of(Bid b) {
      Q1Row r = new Q1Row();
      r.auction = b.auction;
      r.bidder = b.bidder;
      r.price = Nexmark.Q1_EUROS * b.price;
      r.dateTime = b.dateTime;
      r.channel = b.channel;
      r.url = b.url;
      r.extra = b.extra;
      r.created = b.created;
      return r;
    }

    @Override
    public long created() {
      return created;
    }
  }

  /** Q2: auction and price of a selected bid. */
  public static class Q2Row implements Stamped {
    public long auction;
    public long price;
    public long created;

    public Q2Row() {}

    public static Q2Row of(Bid b) {
      Q2Row r = new Q2Row();
      r.auction = b.auction;
      r.price = b.price;
      r.created = b.created;
      return r;
    }

    @Override
    public long created() {
      return created;
    }
  }

  /** Q3: a seller in OR/ID/CA and an auction of theirs in category 10. */
  public static class Q3Row implements Stamped {
    public String name;
    public String city;
    public String state;
    public long id;
    public long created;

    public Q3Row() {}

    public static Q3Row of(Auction a, Person p) {
      Q3Row r = new Q3Row();
      r.name = p.name;
      r.city = p.city;
      r.state = p.state;
      r.id = a.id;
      r.created = Math.max(a.created, p.created);
      return r;
    }

    @Override
    public long created() {
      return created;
    }
  }

  /** Q4 intermediate: the winning price of a closed auction. */
  public static class Winner implements Stamped {
    public long category;
    public long price;
    public long created;

    public Winner() {}

    public Winner(long category, long price, long created) {
      this.category = category;
      this.price = price;
      this.created = created;
    }

    @Override
    public long created() {
      return created;
    }
  }

  /** Q4: the running average winning price of a category. */
  public static class Q4Row implements Stamped {
    public long category;
    public double avgPrice;
    public long created;

    public Q4Row() {}

    public Q4Row(long category, double avgPrice, long created) {
      this.category = category;
      this.avgPrice = avgPrice;
      this.created = created;
    }

    @Override
    public long created() {
      return created;
    }
  }

  /** Q4 accumulator: sum and count of winning prices. */
  public static class Average {
    public double sum;
    public long n;
    public long created;

    public Average() {}
  }

  /** A count with the newest creation time among what it counts (an aggregation accumulator). */
  public static class Count {
    public long count;
    public long created;

    public Count() {}

    public Count add(long created) {
      count++;
      if (created > this.created) this.created = created;
      return this;
    }

    public Count merge(Count other) {
      count += other.count;
      if (other.created > created) created = other.created;
      return this;
    }
  }

  /** Q5 intermediate: bids on one auction in one sliding window. */
  public static class AuctionCount implements Stamped {
    public long auction;
    public long count;
    public long start;
    public long end;
    public long created;

    public AuctionCount() {}

    public AuctionCount(long auction, long count, long start, long end, long created) {
      this.auction = auction;
      this.count = count;
      this.start = start;
      this.end = end;
      this.created = created;
    }

    @Override
    public long created() {
      return created;
    }
  }

  /** Q5 accumulator: the highest count of a window and every auction that has it. */
  public static class MaxCount {
    public long num;
    public List<Long> auctions = new ArrayList<>();
    public long start;
    public long end;
    public long created;

    public MaxCount() {}

    public MaxCount add(AuctionCount c) {
      if (c.count > num) {
        num = c.count;
        auctions.clear();
        auctions.add(c.auction);
        start = c.start;
        end = c.end;
      } else if (c.count == num) {
        auctions.add(c.auction);
      }
      if (c.created > created) created = c.created;
      return this;
    }
  }

  /** Q5: a hot auction of a window. */
  public static class Q5Row implements Stamped {
    public long auction;
    public long num;
    public long start;
    public long end;
    public long created;

    public Q5Row() {}

    public Q5Row(long auction, long num, long start, long end, long created) {
      this.auction = auction;
      this.num = num;
      this.start = start;
      this.end = end;
      this.created = created;
    }

    @Override
    public long created() {
      return created;
    }
  }

  /** Q7 accumulator: the highest price of a window and its bids. */
  public static class MaxBids {
    public long price = -1;
    public List<Bid> bids = new ArrayList<>();

    public MaxBids() {}

    public MaxBids add(Bid b) {
      if (b.price > price) {
        price = b.price;
        bids.clear();
        bids.add(b);
      } else if (b.price == price) {
        bids.add(b);
      }
      return this;
    }
  }

  /** Q8 intermediate: a seller who opened an auction in the window starting at {@code start}. */
  public static class SellerWindow implements Stamped {
    public long seller;
    public long start;
    public long created;

    public SellerWindow() {}

    public SellerWindow(long seller, long start, long created) {
      this.seller = seller;
      this.start = start;
      this.created = created;
    }

    @Override
    public long created() {
      return created;
    }
  }

  /** Q8: a new user who opened an auction in the window they registered in. */
  public static class Q8Row implements Stamped {
    public long id;
    public String name;
    public long starttime;
    public long created;

    public Q8Row() {}

    public Q8Row(long id, String name, long starttime, long created) {
      this.id = id;
      this.name = name;
      this.starttime = starttime;
      this.created = created;
    }

    @Override
    public long created() {
      return created;
    }
  }

  /** Q11: bids of one bidder in one session. */
  public static class Q11Row implements Stamped {
    public long bidder;
    public long bidCount;
    public long starttime;
    public long endtime;
    public long created;

    public Q11Row() {}

    public Q11Row(long bidder, long bidCount, long starttime, long endtime, long created) {
      this.bidder = bidder;
      this.bidCount = bidCount;
      this.starttime = starttime;
      this.endtime = endtime;
      this.created = created;
    }

    @Override
    public long created() {
      return created;
    }
  }
}
