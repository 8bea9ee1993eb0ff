-- THE daily close per coin and UTC day, one definition for history and live data: the rate of the last tick at or before 12:00:00.000 UTC of that day (history wins a tie; at the same ts within a series, the highest rate); always finite and > 0.
CREATE VIEW IF NOT EXISTS crypto.daily_close AS
SELECT
    code,
    day,
    argMax(candidate_close, (candidate_ts, source_priority)) AS close,
    max(candidate_ts) AS close_ts,
    argMax(candidate_source, (candidate_ts, source_priority)) AS close_source
FROM
(
    SELECT
        code,
        toDate(ts) AS day,
        argMax(rate, crypto_tick_order(toUnixTimestamp64Milli(ts), rate)) AS candidate_close,
        max(ts) AS candidate_ts,
        'history' AS candidate_source,
        1 AS source_priority
    FROM crypto.coins_history
    -- ingestion stores only finite rates > 0 (001); rows stored otherwise never become a close
    WHERE toUnixTimestamp64Milli(ts) % 86400000 <= 43200000 AND rate > 0 AND isFinite(rate)
    GROUP BY code, day
    UNION ALL
    SELECT
        code,
        day,
        noon.1 AS candidate_close,
        noon.2 AS candidate_ts,
        'live' AS candidate_source,
        0 AS source_priority
    FROM
    (
        SELECT code, day, argMaxIfMerge(noon_close) AS noon
        FROM crypto.rollup_ohlc_day
        GROUP BY code, day
    )
    -- a day whose live ticks all came after 12:00 UTC has no live close
    WHERE toDate(noon.2) = day AND noon.1 > 0 AND isFinite(noon.1)
)
GROUP BY code, day;
