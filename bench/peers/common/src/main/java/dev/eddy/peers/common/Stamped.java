package dev.eddy.peers.common;

/**
 * A record that carries the scheduled creation time (System.nanoTime) of the newest input
 * event it derives from; the sinks measure latency from it. 0 when not measuring latency.
 */
public interface Stamped {
  long created();
}
