-- From nexmark/nexmark (Apache License 2.0), nexmark-flink/src/main/resources/queries/q3.sql at
-- commit 6b3646c3baec701f1fa74baf938d235f742e5d3c. FlinkSqlNexmark runs it as nexmark's QueryRunner
-- does: ${NEXMARK_TABLE} is the events file's table, and the sink's 'blackhole' connector is
-- replaced with 'eddy-count' (CountingSinkFactory). Changes to the text are marked "eddy:".

-- -------------------------------------------------------------------------------------------------
-- Query 3: Local Item Suggestion
-- -------------------------------------------------------------------------------------------------
-- Who is selling in OR, ID or CA in category 10, and for what auction ids?
-- Illustrates an incremental join (using per-key state and timer) and filter.
-- -------------------------------------------------------------------------------------------------

CREATE TABLE nexmark_q3 (
  name  VARCHAR,
  city  VARCHAR,
  state  VARCHAR,
  id  BIGINT,
  -- eddy: the later of the auction's and the person's time, for the progress lines' newest output
  -- event time (not in nexmark's q3).
  `dateTime`  TIMESTAMP(3)
) WITH (
  'connector' = 'blackhole'
);

INSERT INTO nexmark_q3
SELECT
    P.name, P.city, P.state, A.id,
    GREATEST(A.`dateTime`, P.`dateTime`) -- eddy: added
FROM
    auction AS A INNER JOIN person AS P on A.seller = P.id
WHERE
    A.category = 10 and (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA');
