-- Correlation matrix of the daily log returns (as risk_daily.log_return) of the coins each portfolio holds now, over the 30 and 90 days ending on the latest day on which all of them have a close; NULL unless both coins have a return on all N days, or when a series is constant.
CREATE VIEW IF NOT EXISTS crypto.portfolio_correlation AS
WITH
    held AS
    (
        SELECT portfolio, code
        FROM crypto.portfolio_transactions_current
        GROUP BY portfolio, code
        HAVING sum(signed_quantity) != 0
    ),
    closes AS
    (
        SELECT code, day, close
        FROM crypto.daily_close
        WHERE code IN (SELECT code FROM held)
    ),
    latest AS
    (
        -- the latest day on which every coin held now has a close
        SELECT portfolio, max(day) AS latest_day
        FROM
        (
            SELECT held.portfolio AS portfolio, closes.day AS day, count() AS coins_with_close,
                any(coins.held_coins) AS held_coins
            FROM held
            INNER JOIN closes ON closes.code = held.code
            INNER JOIN (SELECT portfolio, count() AS held_coins FROM held GROUP BY portfolio) AS coins
                ON coins.portfolio = held.portfolio
            GROUP BY held.portfolio, closes.day
        )
        WHERE coins_with_close = held_coins
        GROUP BY portfolio
    ),
    returns AS
    (
        -- ln(close / close of the day before), as risk_daily.log_return; NULL rows dropped
        SELECT code, day, log_return
        FROM
        (
            SELECT code, day,
                log(close / anyOrNull(close) OVER (PARTITION BY code ORDER BY day_number RANGE BETWEEN 1 PRECEDING AND 1 PRECEDING)) AS log_return
            FROM (SELECT code, day, close, toInt64(toRelativeDayNum(day)) AS day_number FROM closes)
        )
        WHERE log_return IS NOT NULL
    ),
    pairs AS
    (
        SELECT a.portfolio AS portfolio, a.code AS code_a, b.code AS code_b, latest.latest_day AS latest_day
        FROM held AS a
        INNER JOIN held AS b ON b.portfolio = a.portfolio
        INNER JOIN latest ON latest.portfolio = a.portfolio
    )
SELECT
    pairs.portfolio AS portfolio,
    window_days,
    pairs.code_a AS code_a,
    pairs.code_b AS code_b,
    any(pairs.latest_day) AS latest_day,
    count() AS days_in_window,
    if(days_in_window = window_days AND isFinite(corr(ra.log_return, rb.log_return)),
       toNullable(corr(ra.log_return, rb.log_return)), NULL) AS correlation
FROM pairs
ARRAY JOIN [30, 90] AS window_days
INNER JOIN returns AS ra ON ra.code = pairs.code_a
INNER JOIN returns AS rb ON rb.code = pairs.code_b AND rb.day = ra.day
WHERE ra.day > pairs.latest_day - window_days AND ra.day <= pairs.latest_day
GROUP BY pairs.portfolio, window_days, pairs.code_a, pairs.code_b;
