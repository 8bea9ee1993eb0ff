-- 1 d and 7 d change of the daily close per coin and day, against the close exactly 1 and 7 calendar days earlier (NULL when that day is missing).
CREATE VIEW IF NOT EXISTS crypto.change_by_day AS
SELECT
    code,
    day,
    close,
    close_1d_ago,
    close_7d_ago,
    if(close_1d_ago > 0, (close / close_1d_ago - 1) * 100, NULL) AS change_1d_pct,
    if(close_7d_ago > 0, (close / close_7d_ago - 1) * 100, NULL) AS change_7d_pct
FROM
(
    SELECT
        code,
        day,
        close,
        anyOrNull(close) OVER (PARTITION BY code ORDER BY day_number RANGE BETWEEN 1 PRECEDING AND 1 PRECEDING) AS close_1d_ago,
        anyOrNull(close) OVER (PARTITION BY code ORDER BY day_number RANGE BETWEEN 7 PRECEDING AND 7 PRECEDING) AS close_7d_ago
    FROM (SELECT code, day, close, toInt64(toRelativeDayNum(day)) AS day_number FROM crypto.daily_close)
);
