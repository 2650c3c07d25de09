package dev.eddy.peers.common;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

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

  /** An auction with its winning bid (q4, q6, q9): emitted once, when the auction closes. */
  public static class WinningBid implements Stamped {
    public Auction auction;
    public Bid bid;
    public long created;

    public WinningBid() {}

    public WinningBid(Auction auction, Bid bid) {
      this.auction = auction;
      this.bid = bid;
      this.created = Math.max(auction.created, bid.created);
    }

    @Override
    public long created() {
      return created;
    }
  }

  /** Q6 pending: a seller's closed auction waiting for the watermark to pass its expiry. */
  public static class Closed {
    public long id;
    public long expires;
    public long price;
    public long created;

    public Closed() {}

    public Closed(WinningBid w) {
      id = w.auction.id;
      expires = w.auction.expires;
      price = w.bid.price;
      created = w.created;
    }
  }

  /** Q6: the average winning price of a seller's last 10 closed auctions. */
  public static class Q6Row implements Stamped {
    public long seller;
    public double avgPrice;
    public long created;

    public Q6Row() {}

    public Q6Row(long seller, double avgPrice, long created) {
      this.seller = seller;
      this.avgPrice = avgPrice;
      this.created = created;
    }

    @Override
    public long created() {
      return created;
    }
  }

  /** Q9: the auction's columns, then its winning bid's. */
  public static class Q9Row implements Stamped {
    public long id;
    public String itemName;
    public String description;
    public long initialBid;
    public long reserve;
    public long dateTime;
    public long expires;
    public long seller;
    public long category;
    public String extra;
    public long auction;
    public long bidder;
    public long price;
    public long bidDateTime;
    public String bidExtra;
    public long created;

    public Q9Row() {}

    public static Q9Row of(WinningBid w) {
      Auction a = w.auction;
      Bid b = w.bid;
      Q9Row r = new Q9Row();
      r.id = a.id;
      r.itemName = a.itemName;
      r.description = a.description;
      r.initialBid = a.initialBid;
      r.reserve = a.reserve;
      r.dateTime = a.dateTime;
      r.expires = a.expires;
      r.seller = a.seller;
      r.category = a.category;
      r.extra = a.extra;
      r.auction = b.auction;
      r.bidder = b.bidder;
      r.price = b.price;
      r.bidDateTime = b.dateTime;
      r.bidExtra = b.extra;
      r.created = w.created;
      return r;
    }

    @Override
    public long created() {
      return created;
    }
  }

  /** Q12: bids of a bidder in a 10 s window of processing time. */
  public static class Q12Row implements Stamped {
    public long bidder;
    public long bidCount;
    public long starttime;
    public long endtime;
    public long created;

    public Q12Row() {}

    public Q12Row(long bidder, long bidCount, long starttime, long endtime, long created) {
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

  /** Q13: a bid with the side input's value. */
  public static class Q13Row implements Stamped {
    public long auction;
    public long bidder;
    public long price;
    public long dateTime;
    public String value;
    public long created;

    public Q13Row() {}

    public static Q13Row of(Bid b, String value) {
      Q13Row r = new Q13Row();
      r.auction = b.auction;
      r.bidder = b.bidder;
      r.price = b.price;
      r.dateTime = b.dateTime;
      r.value = value;
      r.created = b.created;
      return r;
    }

    @Override
    public long created() {
      return created;
    }
  }

  /** Q14: a bid in the price range, with its hour class and the count of 'c' in extra. */
  public static class Q14Row implements Stamped {
    public long auction;
    public long bidder;
    public double price;
    public String bidTimeType;
    public long dateTime;
    public String extra;
    public long cCounts;
    public long created;

    public Q14Row() {}

    /** The row, or null when the euro price is not strictly between 1,000,000 and 50,000,000. */
    public static Q14Row of(Bid b) {
      double euros = Nexmark.Q1_EUROS * b.price;
      if (!(euros > 1_000_000 && euros < 50_000_000)) return null;
      Q14Row r = new Q14Row();
      r.auction = b.auction;
      r.bidder = b.bidder;
      r.price = euros;
      r.bidTimeType = Nexmark.bidTimeType(b.dateTime);
      r.dateTime = b.dateTime;
      r.extra = b.extra;
      r.cCounts = Nexmark.countChar(b.extra, 'c');
      r.created = b.created;
      return r;
    }

    @Override
    public long created() {
      return created;
    }
  }

  /** Q15/Q16 accumulator: bids, distinct bidders and auctions, in total and per price band. */
  public static class BidStats {
    public long[] bids = new long[4];
    public List<Set<Long>> bidders = sets();
    public List<Set<Long>> auctions = sets();
    public long last = Long.MIN_VALUE;
    public String channel;
    public long created;

    public BidStats() {}

    private static List<Set<Long>> sets() {
      List<Set<Long>> l = new ArrayList<>(4);
      for (int i = 0; i < 4; i++) l.add(new HashSet<>());
      return l;
    }

    public BidStats add(Bid b) {
      int r = 1 + Nexmark.priceRank(b.price);
      bids[0]++;
      bids[r]++;
      bidders.get(0).add(b.bidder);
      bidders.get(r).add(b.bidder);
      auctions.get(0).add(b.auction);
      auctions.get(r).add(b.auction);
      if (b.dateTime > last) last = b.dateTime;
      if (channel == null) channel = b.channel;
      if (b.created > created) created = b.created;
      return this;
    }
  }

  /** Q15 (per day) and Q16 (per channel and day, with the minute of the latest bid). */
  public static class StatsRow implements Stamped {
    public String channel;
    public String day;
    public String minute;
    public long totalBids;
    public long rank1Bids;
    public long rank2Bids;
    public long rank3Bids;
    public long totalBidders;
    public long rank1Bidders;
    public long rank2Bidders;
    public long rank3Bidders;
    public long totalAuctions;
    public long rank1Auctions;
    public long rank2Auctions;
    public long rank3Auctions;
    public long created;

    public StatsRow() {}

    public static StatsRow of(BidStats s, long windowStart, boolean perChannel) {
      StatsRow r = new StatsRow();
      if (perChannel) {
        r.channel = s.channel;
        r.minute = Nexmark.utcMinute(s.last);
      }
      r.day = Nexmark.utcDay(windowStart);
      r.totalBids = s.bids[0];
      r.rank1Bids = s.bids[1];
      r.rank2Bids = s.bids[2];
      r.rank3Bids = s.bids[3];
      r.totalBidders = s.bidders.get(0).size();
      r.rank1Bidders = s.bidders.get(1).size();
      r.rank2Bidders = s.bidders.get(2).size();
      r.rank3Bidders = s.bidders.get(3).size();
      r.totalAuctions = s.auctions.get(0).size();
      r.rank1Auctions = s.auctions.get(1).size();
      r.rank2Auctions = s.auctions.get(2).size();
      r.rank3Auctions = s.auctions.get(3).size();
      r.created = s.created;
      return r;
    }

    @Override
    public long created() {
      return created;
    }
  }

  /** Q17 accumulator: one auction's bids in one day. */
  public static class AuctionDay {
    public long total;
    public long[] ranks = new long[3];
    public long min = Long.MAX_VALUE;
    public long max = Long.MIN_VALUE;
    public long sum;
    public long created;

    public AuctionDay() {}

    public AuctionDay add(Bid b) {
      total++;
      ranks[Nexmark.priceRank(b.price)]++;
      if (b.price < min) min = b.price;
      if (b.price > max) max = b.price;
      sum += b.price;
      if (b.created > created) created = b.created;
      return this;
    }
  }

  /** Q17: an auction's statistics for a day. */
  public static class Q17Row implements Stamped {
    public long auction;
    public String day;
    public long totalBids;
    public long rank1Bids;
    public long rank2Bids;
    public long rank3Bids;
    public long minPrice;
    public long maxPrice;
    public double avgPrice;
    public long sumPrice;
    public long created;

    public Q17Row() {}

    public static Q17Row of(long auction, long windowStart, AuctionDay s) {
      Q17Row r = new Q17Row();
      r.auction = auction;
      r.day = Nexmark.utcDay(windowStart);
      r.totalBids = s.total;
      r.rank1Bids = s.ranks[0];
      r.rank2Bids = s.ranks[1];
      r.rank3Bids = s.ranks[2];
      r.minPrice = s.min;
      r.maxPrice = s.max;
      r.avgPrice = (double) s.sum / s.total;
      r.sumPrice = s.sum;
      r.created = s.created;
      return r;
    }

    @Override
    public long created() {
      return created;
    }
  }

  /** Q19: a bid and its rank (1 = highest) in its auction. */
  public static class Q19Row implements Stamped {
    public long auction;
    public long bidder;
    public long price;
    public String channel;
    public String url;
    public long dateTime;
    public String extra;
    public long rankNumber;
    public long created;

    public Q19Row() {}

    public static Q19Row of(Bid b, long rank, long created) {
      Q19Row r = new Q19Row();
      r.auction = b.auction;
      r.bidder = b.bidder;
      r.price = b.price;
      r.channel = b.channel;
      r.url = b.url;
      r.dateTime = b.dateTime;
      r.extra = b.extra;
      r.rankNumber = rank;
      r.created = created;
      return r;
    }

    @Override
    public long created() {
      return created;
    }
  }

  /** Q19 state: an auction's top bids, best first. */
  public static class TopBids {
    public List<Bid> bids = new ArrayList<>();

    public TopBids() {}

    /** Inserts {@code b}; returns its rank index (0-based), or -1 when it is not in the top. */
    public int insert(Bid b) {
      int r = bids.size();
      while (r > 0 && Nexmark.ranksAbove(b, bids.get(r - 1))) r--;
      if (r >= Nexmark.Q19_TOP) return -1;
      bids.add(r, b);
      if (bids.size() > Nexmark.Q19_TOP) bids.remove(bids.size() - 1);
      return r;
    }
  }

  /** Q20: a bid with its category-10 auction. */
  public static class Q20Row implements Stamped {
    public long auction;
    public long bidder;
    public long price;
    public String channel;
    public String url;
    public long bidDateTime;
    public String bidExtra;
    public String itemName;
    public String description;
    public long initialBid;
    public long reserve;
    public long auctionDateTime;
    public long expires;
    public long seller;
    public long category;
    public String auctionExtra;
    public long created;

    public Q20Row() {}

    public static Q20Row of(Bid b, Auction a) {
      Q20Row r = new Q20Row();
      r.auction = b.auction;
      r.bidder = b.bidder;
      r.price = b.price;
      r.channel = b.channel;
      r.url = b.url;
      r.bidDateTime = b.dateTime;
      r.bidExtra = b.extra;
      r.itemName = a.itemName;
      r.description = a.description;
      r.initialBid = a.initialBid;
      r.reserve = a.reserve;
      r.auctionDateTime = a.dateTime;
      r.expires = a.expires;
      r.seller = a.seller;
      r.category = a.category;
      r.auctionExtra = a.extra;
      r.created = Math.max(a.created, b.created);
      return r;
    }

    @Override
    public long created() {
      return created;
    }
  }

  /** Q21: a bid with its channel id. */
  public static class Q21Row implements Stamped {
    public long auction;
    public long bidder;
    public long price;
    public String channel;
    public String channelId;
    public long created;

    public Q21Row() {}

    /** The row, or null when the bid has no channel id. */
    public static Q21Row of(Bid b) {
      String id = Nexmark.channelIdOf(b.channel, b.url);
      if (id == null) return null;
      Q21Row r = new Q21Row();
      r.auction = b.auction;
      r.bidder = b.bidder;
      r.price = b.price;
      r.channel = b.channel;
      r.channelId = id;
      r.created = b.created;
      return r;
    }

    @Override
    public long created() {
      return created;
    }
  }

  /** Q22: a bid with the 3rd, 4th and 5th parts of its URL. */
  public static class Q22Row implements Stamped {
    public long auction;
    public long bidder;
    public long price;
    public String channel;
    public String dir1;
    public String dir2;
    public String dir3;
    public long created;

    public Q22Row() {}

    public static Q22Row of(Bid b) {
      String[] parts = b.url == null ? new String[0] : b.url.split("/", -1);
      Q22Row r = new Q22Row();
      r.auction = b.auction;
      r.bidder = b.bidder;
      r.price = b.price;
      r.channel = b.channel;
      r.dir1 = Nexmark.urlPart(parts, 3);
      r.dir2 = Nexmark.urlPart(parts, 4);
      r.dir3 = Nexmark.urlPart(parts, 5);
      r.created = b.created;
      return r;
    }

    @Override
    public long created() {
      return created;
    }
  }

  /** A change of an auction's highest bid so far (q4r): {@code before} is the one it replaces, if {@code replaces}. */
  public static final class MaxChange implements Stamped {
    public long category;
    public boolean replaces;
    public long before;
    public long after;
    public long created;

    public MaxChange() {}

    public MaxChange(long category, boolean replaces, long before, long after, long created) {
      this.category = category;
      this.replaces = replaces;
      this.before = before;
      this.after = after;
      this.created = created;
    }

    @Override
    public long created() {
      return created;
    }
  }
}
