-- Latest risk figures per coin: 30-day volatility, running high, current drawdown and the maximum drawdown since the first record.
CREATE VIEW IF NOT EXISTS crypto.risk_summary AS
SELECT
    code,
    latest.1 AS day,
    latest.2 AS close,
    latest.3 AS volatility_30d_pct,
    latest.4 AS running_high,
    latest.5 AS current_drawdown_pct,
    max_drawdown_pct
FROM
(
    SELECT
        code,
        argMax((day, close, volatility_30d_pct, running_high, drawdown_pct), day) AS latest,
        min(drawdown_pct) AS max_drawdown_pct
    FROM crypto.risk_daily
    GROUP BY code
);
