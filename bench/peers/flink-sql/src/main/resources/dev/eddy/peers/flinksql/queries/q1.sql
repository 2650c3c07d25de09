-- From nexmark/nexmark (Apache License 2.0), nexmark-flink/src/main/resources/queries/q1.sql at
-- commit 6b3646c3baec701f1fa74baf938d235f742e5d3c. FlinkSqlNexmark runs it as nexmark's QueryRunner
-- does: ${NEXMARK_TABLE} is the events file's table, and the sink's 'blackhole' connector is
-- replaced with 'eddy-count' (CountingSinkFactory). Changes to the text are marked "eddy:".

-- -------------------------------------------------------------------------------------------------
-- Query1: Currency conversion
-- -------------------------------------------------------------------------------------------------
-- Convert each bid value from dollars to euros. Illustrates a simple transformation.
-- -------------------------------------------------------------------------------------------------

CREATE TABLE nexmark_q1 (
  auction  BIGINT,
  bidder  BIGINT,
  price  DECIMAL(23, 3),
  `dateTime`  TIMESTAMP(3),
  extra  VARCHAR
) WITH (
  'connector' = 'blackhole'
);

INSERT INTO nexmark_q1
SELECT
    auction,
    bidder,
    0.908 * price as price, -- convert dollar to euro
    `dateTime`,
    extra
FROM bid;
