-- Simple moving averages of the daily close over 10, 30, 50 and 200 CALENDAR days; NULL unless every day of the window has a close (days_in_sma_* says how many do).
CREATE VIEW IF NOT EXISTS crypto.moving_averages_daily AS
SELECT
    code,
    day,
    close,
    if(days_in_sma_10 = 10, avg_10, NULL) AS sma_10,
    if(days_in_sma_30 = 30, avg_30, NULL) AS sma_30,
    if(days_in_sma_50 = 50, avg_50, NULL) AS sma_50,
    if(days_in_sma_200 = 200, avg_200, NULL) AS sma_200,
    days_in_sma_10,
    days_in_sma_30,
    days_in_sma_50,
    days_in_sma_200
FROM
(
    SELECT
        code,
        day,
        close,
        avg(close) OVER (PARTITION BY code ORDER BY day_number RANGE BETWEEN 9 PRECEDING AND CURRENT ROW) AS avg_10,
        count() OVER (PARTITION BY code ORDER BY day_number RANGE BETWEEN 9 PRECEDING AND CURRENT ROW) AS days_in_sma_10,
        avg(close) OVER (PARTITION BY code ORDER BY day_number RANGE BETWEEN 29 PRECEDING AND CURRENT ROW) AS avg_30,
        count() OVER (PARTITION BY code ORDER BY day_number RANGE BETWEEN 29 PRECEDING AND CURRENT ROW) AS days_in_sma_30,
        avg(close) OVER (PARTITION BY code ORDER BY day_number RANGE BETWEEN 49 PRECEDING AND CURRENT ROW) AS avg_50,
        count() OVER (PARTITION BY code ORDER BY day_number RANGE BETWEEN 49 PRECEDING AND CURRENT ROW) AS days_in_sma_50,
        avg(close) OVER (PARTITION BY code ORDER BY day_number RANGE BETWEEN 199 PRECEDING AND CURRENT ROW) AS avg_200,
        count() OVER (PARTITION BY code ORDER BY day_number RANGE BETWEEN 199 PRECEDING AND CURRENT ROW) AS days_in_sma_200
    FROM (SELECT code, day, close, toInt64(toRelativeDayNum(day)) AS day_number FROM crypto.daily_close)
);
