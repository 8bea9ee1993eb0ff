-- 1-minute tumbling OHLC per coin, written as JSON to COINS_TOPIC_OHLC_MINUTE (one update per
-- change).
-- open/close are the first/last tick of the window in partition-offset order, which equals
-- event-time order because one producer publishes each coin's ticks in time order on one
-- partition (key = code); see ksqldb/README.md for the out-of-order case.
-- The value carries everything ClickHouse reads: backtick-quoted lower-case names, the code
-- copied out of the key with AS_VALUE, window bounds in epoch milliseconds.
CREATE TABLE IF NOT EXISTS ohlc_by_minute
WITH (
    KAFKA_TOPIC = '${COINS_TOPIC_OHLC_MINUTE}',
    KEY_FORMAT = 'KAFKA',
    VALUE_FORMAT = 'JSON'
) AS
SELECT
    code,
    AS_VALUE(code) AS `code`,
    WINDOWSTART AS `window_start_ms`,
    WINDOWEND AS `window_end_ms`,
    EARLIEST_BY_OFFSET(rate) AS `open`,
    MAX(rate) AS `high`,
    MIN(rate) AS `low`,
    LATEST_BY_OFFSET(rate) AS `close`,
    COUNT(*) AS `tick_count`
FROM coins_current_full_stream
WINDOW TUMBLING (SIZE 1 MINUTE, RETENTION 1 DAY, GRACE PERIOD 1 MINUTE)
WHERE rate IS NOT NULL
GROUP BY code
EMIT CHANGES;
