-- Bollinger bands (20, 2) of the daily close over 20 CALENDAR days with the population standard deviation; NULL unless all 20 days have a close.
CREATE VIEW IF NOT EXISTS crypto.bollinger_daily AS
SELECT
    code,
    day,
    close,
    if(days_in_window = 20, mean_20, NULL) AS middle_20,
    if(days_in_window = 20, std_20, NULL) AS stddev_20,
    middle_20 + 2 * stddev_20 AS upper_20,
    middle_20 - 2 * stddev_20 AS lower_20,
    days_in_window
FROM
(
    SELECT
        code,
        day,
        close,
        avg(close) OVER last_20_days AS mean_20,
        stddevPop(close) OVER last_20_days AS std_20,
        count() OVER last_20_days AS days_in_window
    FROM (SELECT code, day, close, toInt64(toRelativeDayNum(day)) AS day_number FROM crypto.daily_close)
    WINDOW last_20_days AS (PARTITION BY code ORDER BY day_number RANGE BETWEEN 19 PRECEDING AND CURRENT ROW)
);
