-- EMA 12 / EMA 26 of the daily close and MACD (12, 26, 9): classic recursive EMAs (alpha = 2 / (N + 1)) seeded with the SMA of the first N values.
-- E(k) = alpha * x(k) + (1 - alpha) * E(k-1) from E(N-1) = mean of x(0..N-1) unrolls to
-- E(k) = (1 - alpha)^(k-N+1) * seed + sum over i in [N, k] of alpha * (1 - alpha)^(k-i) * x(i); the sum is
-- exponentialMovingAverage(h)(x, i) with half-life h = -1 / log2(1 - alpha), fed zeros before i = N.
CREATE VIEW IF NOT EXISTS crypto.ema_macd_daily AS
SELECT
    code,
    day,
    close,
    ema_12,
    ema_26,
    macd,
    macd_signal,
    macd - macd_signal AS macd_histogram
FROM
(
    SELECT
        code,
        day,
        close,
        ema_12,
        ema_26,
        macd,
        -- signal = EMA 9 of the MACD line, whose first value is at k = 25: seed = mean of k 25..33
        if(k < 33, NULL,
           pow(1 - 2 / 10, k - 33) * avgIf(macd, k >= 25 AND k < 34) OVER whole
           + exponentialMovingAverage(-1 / log2(1 - 2 / 10))(if(k >= 34, assumeNotNull(macd), 0), k) OVER running
        ) AS macd_signal
    FROM
    (
        SELECT
            code,
            day,
            close,
            k,
            if(k < 11, NULL,
               pow(1 - 2 / 13, k - 11) * avgIf(close, k < 12) OVER whole
               + exponentialMovingAverage(-1 / log2(1 - 2 / 13))(if(k >= 12, close, 0), k) OVER running
            ) AS ema_12,
            if(k < 25, NULL,
               pow(1 - 2 / 27, k - 25) * avgIf(close, k < 26) OVER whole
               + exponentialMovingAverage(-1 / log2(1 - 2 / 27))(if(k >= 26, close, 0), k) OVER running
            ) AS ema_26,
            ema_12 - ema_26 AS macd
        FROM
        (
            SELECT code, day, close, toInt64(row_number() OVER (PARTITION BY code ORDER BY day)) - 1 AS k
            FROM crypto.daily_close
        )
        WINDOW
            running AS (PARTITION BY code ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW),
            whole AS (PARTITION BY code)
    )
    WINDOW
        running AS (PARTITION BY code ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW),
        whole AS (PARTITION BY code)
);
