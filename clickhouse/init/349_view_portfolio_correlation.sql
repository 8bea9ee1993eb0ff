-- Correlation matrix of the daily log returns (risk_daily.log_return) of the coins each portfolio holds now, over the 30 and 90 days ending on its latest valued close; NULL unless both coins have a return on all N days, or when a series is constant.
CREATE VIEW IF NOT EXISTS crypto.portfolio_correlation AS
WITH
    held AS
    (
        SELECT portfolio, code
        FROM crypto.portfolio_transactions_current
        GROUP BY portfolio, code
        HAVING sum(signed_quantity) != 0
    ),
    latest AS
    (
        SELECT portfolio, max(day) AS latest_day
        FROM crypto.portfolio_value_daily
        WHERE value IS NOT NULL
        GROUP BY portfolio
    ),
    returns AS
    (
        SELECT code, day, log_return
        FROM crypto.risk_daily
        WHERE code IN (SELECT code FROM held) AND log_return IS NOT NULL
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
