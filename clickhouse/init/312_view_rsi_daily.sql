-- RSI 14 of the daily close with Wilder's smoothing (alpha = 1/14, averages seeded with the mean gain and loss of the first 14 changes).
-- A(k) = (13/14)^(k-14) * seed + sum over i in [15, k] of (1/14) * (13/14)^(k-i) * x(i), the sum being
-- exponentialMovingAverage(h)(x, i) with half-life h = -1 / log2(13/14), fed zeros before i = 15.
CREATE VIEW IF NOT EXISTS crypto.rsi_daily AS
SELECT
    code,
    day,
    close,
    avg_gain_14,
    avg_loss_14,
    multiIf(avg_gain_14 IS NULL, NULL,
            avg_loss_14 = 0 AND avg_gain_14 = 0, 50,
            avg_loss_14 = 0, 100,
            100 - 100 / (1 + avg_gain_14 / avg_loss_14)) AS rsi_14
FROM
(
    SELECT
        code,
        day,
        close,
        if(k < 14, NULL,
           pow(13 / 14, k - 14) * avgIf(gain, k >= 1 AND k <= 14) OVER whole
           + exponentialMovingAverage(-1 / log2(13 / 14))(if(k >= 15, gain, 0), k) OVER running
        ) AS avg_gain_14,
        if(k < 14, NULL,
           pow(13 / 14, k - 14) * avgIf(loss, k >= 1 AND k <= 14) OVER whole
           + exponentialMovingAverage(-1 / log2(13 / 14))(if(k >= 15, loss, 0), k) OVER running
        ) AS avg_loss_14
    FROM
    (
        SELECT
            code,
            day,
            close,
            k,
            if(k = 0, 0, greatest(close - previous_close, 0)) AS gain,
            if(k = 0, 0, greatest(previous_close - close, 0)) AS loss
        FROM
        (
            SELECT
                code,
                day,
                close,
                toInt64(row_number() OVER by_day) - 1 AS k,
                lagInFrame(close) OVER by_day AS previous_close
            FROM crypto.daily_close
            WINDOW by_day AS (PARTITION BY code ORDER BY day ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
        )
    )
    WINDOW
        running AS (PARTITION BY code ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW),
        whole AS (PARTITION BY code)
);
