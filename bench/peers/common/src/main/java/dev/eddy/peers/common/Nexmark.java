package dev.eddy.peers.common;

import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

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

  public static final int Q6_LAST_AUCTIONS = 10;
  public static final long Q12_WINDOW_MS = 10_000;
  public static final long Q13_KEY_MODULUS = 10_000;
  public static final long DAY_MS = 86_400_000L;
  public static final long HOUR_MS = 3_600_000L;
  public static final int Q19_TOP = 10;
  public static final long Q20_CATEGORY = 10;

  /** Whether bid {@code b} beats {@code best}: a higher price, or the same price earlier (q4, q6, q9). */
  public static boolean beats(Bid b, Bid best) {
    return best == null || b.price > best.price || (b.price == best.price && b.dateTime < best.dateTime);
  }

  /** Q19's order: a higher price, or the same price earlier. */
  public static boolean ranksAbove(Bid b, Bid other) {
    return b.price > other.price || (b.price == other.price && b.dateTime < other.dateTime);
  }

  /** Q14's class of the hour of day (UTC): 8-18 day, 0-6 and 20-23 night, 7 and 19 other. */
  public static String bidTimeType(long time) {
    long hour = Math.floorMod(time, DAY_MS) / HOUR_MS;
    if (hour >= 8 && hour <= 18) return "dayTime";
    if (hour <= 6 || hour >= 20) return "nightTime";
    return "otherTime";
  }

  /** nexmark/nexmark's count_char UDF. */
  public static long countChar(String s, char c) {
    if (s == null) return 0;
    long n = 0;
    for (int i = 0; i < s.length(); i++) if (s.charAt(i) == c) n++;
    return n;
  }

  /** Price bands of q15-q17 (cents): below $100, below $10,000, above. */
  public static int priceRank(long price) {
    return price < 10_000 ? 0 : price < 1_000_000 ? 1 : 2;
  }

  private static final DateTimeFormatter DAY = DateTimeFormatter.ofPattern("yyyy-MM-dd").withZone(ZoneOffset.UTC);
  private static final DateTimeFormatter MINUTE = DateTimeFormatter.ofPattern("HH:mm").withZone(ZoneOffset.UTC);

  /** {@code DATE_FORMAT(t, 'yyyy-MM-dd')} in UTC. */
  public static String utcDay(long time) {
    return DAY.format(Instant.ofEpochMilli(time));
  }

  /** {@code DATE_FORMAT(t, 'HH:mm')} in UTC. */
  public static String utcMinute(long time) {
    return MINUTE.format(Instant.ofEpochMilli(time));
  }

  private static final Map<String, String> HOT_CHANNEL_IDS =
      Map.of("apple", "0", "google", "1", "facebook", "2", "baidu", "3");
  private static final Pattern CHANNEL_ID = Pattern.compile("(?:&|^)channel_id=([^&]*)");

  /** Q21: 0-3 for the hot channels (any case), else the URL's channel_id parameter, else null. */
  public static String channelIdOf(String channel, String url) {
    if (channel != null) {
      String hot = HOT_CHANNEL_IDS.get(channel.toLowerCase(java.util.Locale.ROOT));
      if (hot != null) return hot;
    }
    if (url == null) return null;
    Matcher m = CHANNEL_ID.matcher(url);
    return m.find() ? m.group(1) : null;
  }

  /** Q22: the {@code i}-th (0-based) {@code /}-separated part of {@code url}, or null (JavaScript's split). */
  public static String urlPart(String[] parts, int i) {
    return i < parts.length ? parts[i] : null;
  }

  /** A 64-bit FNV-1a hash, to key strings (channels) where keys are longs. */
  public static long hash64(String s) {
    long h = 0xcbf29ce484222325L;
    for (int i = 0; i < s.length(); i++) {
      h ^= s.charAt(i);
      h *= 0x100000001b3L;
    }
    return h == Long.MIN_VALUE ? 0 : h;
  }
}
