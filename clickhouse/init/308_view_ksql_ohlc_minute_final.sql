-- ksqlDB 1-minute OHLC with one final row per window: the update with the highest tick_count (ties: highest Kafka offset), before or after merges.
CREATE VIEW IF NOT EXISTS crypto.ksql_ohlc_minute_final AS
SELECT
    code,
    window_start,
    latest.1 AS window_end,
    latest.2 AS open,
    latest.3 AS high,
    latest.4 AS low,
    latest.5 AS close,
    latest.6 AS tick_count
FROM
(
    SELECT
        code,
        window_start,
        argMax((window_end, open, high, low, close, tick_count), (tick_count, kafka_offset)) AS latest
    FROM crypto.ksql_ohlc_minute
    GROUP BY code, window_start
);
