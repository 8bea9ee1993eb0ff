-- Per portfolio at its latest valued close: time-weighted return over 7, 30, 90 days, YTD and since start (ratio of growth indexes; NULL when the reference day has no value), annualised volatility of daily log returns (30 d, 90 d, since start) and maximum drawdown.
CREATE VIEW IF NOT EXISTS crypto.portfolio_performance AS
SELECT
    portfolio,
    first_day,
    latest_day,
    latest_value,
    (latest_index / index_7d_ago - 1) * 100 AS twr_7d_pct,
    (latest_index / index_30d_ago - 1) * 100 AS twr_30d_pct,
    (latest_index / index_90d_ago - 1) * 100 AS twr_90d_pct,
    -- a portfolio started this year: YTD is since its start
    (latest_index / if(first_day <= previous_year_end, index_previous_year_end, 1) - 1) * 100 AS twr_ytd_pct,
    (latest_index - 1) * 100 AS twr_since_start_pct,
    if(returns_30d = 30, std_30d * sqrt(365) * 100, NULL) AS volatility_30d_pct,
    if(returns_90d = 90, std_90d * sqrt(365) * 100, NULL) AS volatility_90d_pct,
    if(returns_since_start >= 2, std_since_start * sqrt(365) * 100, NULL) AS volatility_since_start_pct,
    max_drawdown_pct
FROM
(
    SELECT
        portfolio,
        any(first_valued_day) AS first_day,
        any(latest_valued_day) AS latest_day,
        any(year_end_before_latest) AS previous_year_end,
        anyIf(value, day = latest_valued_day) AS latest_value,
        anyIf(growth_index, day = latest_valued_day) AS latest_index,
        if(countIf(day = latest_valued_day - 7) = 0, NULL, anyIf(growth_index, day = latest_valued_day - 7)) AS index_7d_ago,
        if(countIf(day = latest_valued_day - 30) = 0, NULL, anyIf(growth_index, day = latest_valued_day - 30)) AS index_30d_ago,
        if(countIf(day = latest_valued_day - 90) = 0, NULL, anyIf(growth_index, day = latest_valued_day - 90)) AS index_90d_ago,
        if(countIf(day = year_end_before_latest) = 0, NULL, anyIf(growth_index, day = year_end_before_latest)) AS index_previous_year_end,
        -- a return counts in a window of N days when its day and the day before are both in it
        countIf(log_return IS NOT NULL AND previous_day = day - 1 AND day > latest_valued_day - 30) AS returns_30d,
        stddevSampIf(log_return, log_return IS NOT NULL AND previous_day = day - 1 AND day > latest_valued_day - 30) AS std_30d,
        countIf(log_return IS NOT NULL AND previous_day = day - 1 AND day > latest_valued_day - 90) AS returns_90d,
        stddevSampIf(log_return, log_return IS NOT NULL AND previous_day = day - 1 AND day > latest_valued_day - 90) AS std_90d,
        count(log_return) AS returns_since_start,
        stddevSamp(log_return) AS std_since_start,
        min(drawdown_pct) AS max_drawdown_pct
    FROM
    (
        SELECT
            *,
            max(day) OVER (PARTITION BY portfolio) AS latest_valued_day,
            min(day) OVER (PARTITION BY portfolio) AS first_valued_day,
            toStartOfYear(latest_valued_day) - 1 AS year_end_before_latest
        FROM crypto.portfolio_returns_daily
    )
    GROUP BY portfolio
);
