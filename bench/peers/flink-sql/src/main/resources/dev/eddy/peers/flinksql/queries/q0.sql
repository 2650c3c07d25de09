-- From nexmark/nexmark (Apache License 2.0), nexmark-flink/src/main/resources/queries/q0.sql at
-- commit 6b3646c3baec701f1fa74baf938d235f742e5d3c. FlinkSqlNexmark runs it as nexmark's QueryRunner
-- does: ${NEXMARK_TABLE} is the events file's table, and the sink's 'blackhole' connector is
-- replaced with 'eddy-count' (CountingSinkFactory). Changes to the text are marked "eddy:".

-- -------------------------------------------------------------------------------------------------
-- Query 0: Pass through (Not in original suite)
-- -------------------------------------------------------------------------------------------------
-- This measures the monitoring overhead of the Flink SQL implementation including the source generator.
-- Using `bid` events here, as they are most numerous with default configuration.
-- -------------------------------------------------------------------------------------------------

CREATE TABLE nexmark_q0 (
  auction  BIGINT,
  bidder  BIGINT,
  price  BIGINT,
  `dateTime`  TIMESTAMP(3),
  extra  VARCHAR
) WITH (
  'connector' = 'blackhole'
);

INSERT INTO nexmark_q0
SELECT auction, bidder, price, `dateTime`, extra FROM bid;
