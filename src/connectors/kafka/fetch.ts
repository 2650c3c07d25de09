/**
 * How much one fetch asks for, for every consumer eddy makes: at most 1 MiB
 * per partition and 50 MiB per response, Kafka's own consumer defaults
 * (`max.partition.fetch.bytes`, `fetch.max.bytes`).
 *
 * The per-partition bound matters for speed, not only memory. The client
 * (@platformatic/kafka 2.12) keeps a response as the list of socket chunks
 * it arrived in (64 KiB on loopback) and finds the chunk of every field it
 * reads by walking that list from the start of the partition's records, so
 * decoding costs grow with the square of a partition's share of a fetch.
 * Measured on this machine (the client's `readRecordsBatches` over 100-byte
 * records): 0.8 M records/s from 1 MiB sections, 0.24 M/s from 8 MiB ones
 * and 0.11 M/s from 32 MiB ones. The client's default per partition is its
 * whole 50 MiB response.
 */

/** The most bytes of one partition in one fetch. */
export const PARTITION_FETCH_BYTES = 1024 * 1024;

/** The most bytes of one fetch response. */
export const FETCH_BYTES = 50 * 1024 * 1024;

/** The consumer options that apply both. */
export const FETCH_LIMITS = Object.freeze({
  maxBytes: FETCH_BYTES,
  maxBytesPerPartition: PARTITION_FETCH_BYTES,
});
