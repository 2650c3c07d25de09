package dev.eddy.peers.common;

import java.util.Set;

/** The constants of the queries, as in bench/nexmark/queries.ts. */
public final class Nexmark {
  private Nexmark() {}

  /** Q1's dollar-to-euro factor (nexmark/nexmark). */
  public static final double Q1_EUROS = 0.908;
  /** Q2: bids on auctions whose id is a multiple of this. */
  public static final long Q2_AUCTION_SKIP = 123;
  public static final Set<String> Q3_STATES = Set.of("OR", "ID", "CA");
  public static final long Q3_CATEGORY = 10;
  /** Q3: how far apart (ms) a seller's registration and the auction may be. */
  public static final long Q3_HORIZON_MS = 600_000;
  public static final long Q5_SIZE_MS = 10_000;
  public static final long Q5_SLIDE_MS = 2_000;
  public static final long Q7_SIZE_MS = 10_000;
  public static final long Q8_SIZE_MS = 10_000;
  public static final long Q11_GAP_MS = 10_000;

  /** The start of the window of {@code size} (aligned to 0) that holds {@code time}. */
  public static long windowStart(long time, long size) {
    return time - Math.floorMod(time, size);
  }
}
