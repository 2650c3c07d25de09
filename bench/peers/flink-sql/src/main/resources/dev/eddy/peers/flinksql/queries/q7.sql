-- From nexmark/nexmark (Apache License 2.0), nexmark-flink/src/main/resources/queries/q7.sql at
-- commit 6b3646c3baec701f1fa74baf938d235f742e5d3c. FlinkSqlNexmark runs it as nexmark's QueryRunner
-- does: ${NEXMARK_TABLE} is the events file's table, and the sink's 'blackhole' connector is
-- replaced with 'eddy-count' (CountingSinkFactory). Changes to the text are marked "eddy:".
--
-- eddy: SqlQueries runs this text under two names, q7 and q7r. Its semantics are eddy's q7r's (and
-- the DataStream and Kafka Streams peers' q7r): the BETWEEN below is inclusive at both ends, so a
-- bid at exactly a window's end (the next window's first millisecond) is also joined with that
-- window's maximum. eddy's q7 takes a window's own bids only; the counts agree unless such a bid
-- ties the previous window's maximum. Compare systems under q7r.

-- -------------------------------------------------------------------------------------------------
-- Query 7: Highest Bid
-- -------------------------------------------------------------------------------------------------
-- What are the highest bids per period?
-- Deliberately implemented using a side input to illustrate fanout.
--
-- The original Nexmark Query7 calculate the highest bids in the last minute.
-- We will use a shorter window (10 seconds) to help make testing easier.
-- -------------------------------------------------------------------------------------------------

CREATE TABLE nexmark_q7 (
  auction  BIGINT,
  bidder  BIGINT,
  price  BIGINT,
  `dateTime`  TIMESTAMP(3),
  extra  VARCHAR,
  -- eddy: the end of the window, for the progress lines' newest output event time (not in nexmark's
  -- q7).
  window_end  TIMESTAMP(3)
) WITH (
  'connector' = 'blackhole'
);

INSERT INTO nexmark_q7
SELECT B.auction, B.price, B.bidder, B.`dateTime`, B.extra,
    B1.`dateTime` -- eddy: added
from bid B
JOIN (
  SELECT MAX(price) AS maxprice, window_end as `dateTime`
  FROM TABLE(
          TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '10' SECOND))
  GROUP BY window_start, window_end
) B1
ON B.price = B1.maxprice
WHERE B.`dateTime` BETWEEN B1.`dateTime`  - INTERVAL '10' SECOND AND B1.`dateTime`;
