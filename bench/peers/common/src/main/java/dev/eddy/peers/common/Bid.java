package dev.eddy.peers.common;

/**
 * A Nexmark bid. {@code channel} and {@code url} are read when the events file has them
 * (nexmark/nexmark's later queries use them); otherwise they stay null.
 */
public class Bid implements Stamped {
  public long auction;
  public long bidder;
  /** In cents. */
  public long price;
  /** Epoch ms. */
  public long dateTime;
  public String channel;
  public String url;
  public String extra;
  /** Scheduled creation time (System.nanoTime) in rate mode, else 0: what latency is measured from. */
  public long created;

  public Bid() {}

  @Override
  public long created() {
    return created;
  }
}
