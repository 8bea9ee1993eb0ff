-- Per coin, the last close of every 15-minute bucket of the 24 h before the newest minute any coin has (96 points at most, oldest first), from the minute rollup: the sparkline of `coins top`.
CREATE VIEW IF NOT EXISTS crypto.coin_sparkline_24h AS
WITH toStartOfMinute((SELECT max(last_tick_at) FROM crypto.rollup_ohlc_day)) AS newest
SELECT code, groupArray(close) AS closes
FROM
(
    SELECT code, toStartOfInterval(minute, INTERVAL 15 MINUTE) AS bucket, argMaxMerge(close) AS close
    FROM crypto.rollup_ohlc_minute
    WHERE minute > newest - INTERVAL 1 DAY
    GROUP BY code, bucket
    ORDER BY code, bucket
)
GROUP BY code;
