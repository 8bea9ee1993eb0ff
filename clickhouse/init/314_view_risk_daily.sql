-- Risk per coin and day: log return versus the previous calendar day, 30-day volatility (sample std of 30 daily log returns x sqrt(365)), drawdown from the running high.
CREATE VIEW IF NOT EXISTS crypto.risk_daily AS
SELECT
    code,
    day,
    close,
    log_return,
    -- stddevSamp over a window holding ±inf returns 0, not NaN: the returns are guarded below, and so is this
    if(returns_in_window = 30 AND isFinite(return_std), return_std * sqrt(365) * 100, NULL) AS volatility_30d_pct,
    returns_in_window,
    running_high,
    drawdown_pct,
    min(drawdown_pct) OVER (PARTITION BY code ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS max_drawdown_pct
FROM
(
    SELECT
        code,
        day,
        close,
        log_return,
        count(log_return) OVER last_30_days AS returns_in_window,
        stddevSamp(log_return) OVER last_30_days AS return_std,
        running_high,
        if(running_high > 0 AND close > 0, (close / running_high - 1) * 100, NULL) AS drawdown_pct
    FROM
    (
        SELECT
            code,
            day,
            day_number,
            close,
            anyOrNull(close) OVER (PARTITION BY code ORDER BY day_number RANGE BETWEEN 1 PRECEDING AND 1 PRECEDING) AS previous_close,
            -- NULL, never ±inf/NaN: a log return needs two closes > 0
            if(close > 0 AND previous_close > 0, log(close / previous_close), NULL) AS log_return,
            max(close) OVER (PARTITION BY code ORDER BY day_number ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running_high
        FROM (SELECT code, day, close, toInt64(toRelativeDayNum(day)) AS day_number FROM crypto.daily_close)
    )
    WINDOW last_30_days AS (PARTITION BY code ORDER BY day_number RANGE BETWEEN 29 PRECEDING AND CURRENT ROW)
);
