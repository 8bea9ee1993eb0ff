-- Returns of the latest daily close per coin versus the close exactly 1, 7, 30 and 90 days earlier, the previous year's last day (YTD) and the first record; NULL when the reference day is missing.
CREATE VIEW IF NOT EXISTS crypto.performance_returns AS
SELECT
    code,
    first_day,
    latest_day,
    latest_close,
    if(close_1d_ago > 0, (latest_close / close_1d_ago - 1) * 100, NULL) AS return_1d_pct,
    if(close_7d_ago > 0, (latest_close / close_7d_ago - 1) * 100, NULL) AS return_7d_pct,
    if(close_30d_ago > 0, (latest_close / close_30d_ago - 1) * 100, NULL) AS return_30d_pct,
    if(close_90d_ago > 0, (latest_close / close_90d_ago - 1) * 100, NULL) AS return_90d_pct,
    if(close_previous_year_end > 0, (latest_close / close_previous_year_end - 1) * 100, NULL) AS return_ytd_pct,
    if(first_close > 0, (latest_close / first_close - 1) * 100, NULL) AS return_since_first_pct
FROM
(
    SELECT
        code,
        any(first_day_of_coin) AS first_day,
        any(latest_day_of_coin) AS latest_day,
        anyIf(close, day = latest_day_of_coin) AS latest_close,
        anyIf(close, day = first_day_of_coin) AS first_close,
        if(countIf(day = latest_day_of_coin - 1) = 0, NULL, anyIf(close, day = latest_day_of_coin - 1)) AS close_1d_ago,
        if(countIf(day = latest_day_of_coin - 7) = 0, NULL, anyIf(close, day = latest_day_of_coin - 7)) AS close_7d_ago,
        if(countIf(day = latest_day_of_coin - 30) = 0, NULL, anyIf(close, day = latest_day_of_coin - 30)) AS close_30d_ago,
        if(countIf(day = latest_day_of_coin - 90) = 0, NULL, anyIf(close, day = latest_day_of_coin - 90)) AS close_90d_ago,
        if(countIf(day = toStartOfYear(latest_day_of_coin) - 1) = 0, NULL,
           anyIf(close, day = toStartOfYear(latest_day_of_coin) - 1)) AS close_previous_year_end
    FROM
    (
        SELECT
            code,
            day,
            close,
            max(day) OVER (PARTITION BY code) AS latest_day_of_coin,
            min(day) OVER (PARTITION BY code) AS first_day_of_coin
        FROM crypto.daily_close
    )
    GROUP BY code
);
