package dev.eddy.peers.common;

/** A Nexmark auction; it accepts bids in {@code [dateTime, expires]}. */
public class Auction implements Stamped {
  public long id;
  public String itemName;
  public String description;
  public long initialBid;
  public long reserve;
  /** Epoch ms. */
  public long dateTime;
  /** Epoch ms. */
  public long expires;
  public long seller;
  public long category;
  public String extra;
  /** Scheduled creation time (System.nanoTime) in rate mode, else 0. */
  public long created;

  public Auction() {}

  @Override
  public long created() {
    return created;
  }
}
