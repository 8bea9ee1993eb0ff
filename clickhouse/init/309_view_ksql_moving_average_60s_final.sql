-- ksqlDB 60 s hopping average with one final row per window: the update with the highest tick_count (ties: highest Kafka offset), before or after merges.
CREATE VIEW IF NOT EXISTS crypto.ksql_moving_average_60s_final AS
SELECT
    code,
    window_start,
    latest.1 AS window_end,
    latest.2 AS moving_average,
    latest.3 AS tick_count
FROM
(
    SELECT
        code,
        window_start,
        argMax((window_end, moving_average, tick_count), (tick_count, kafka_offset)) AS latest
    FROM crypto.ksql_moving_average_60s
    GROUP BY code, window_start
);
