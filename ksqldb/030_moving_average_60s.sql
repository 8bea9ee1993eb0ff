-- 60-second moving average per coin, hopping every 30 seconds, written as JSON to
-- COINS_TOPIC_MOVING_AVERAGE_60S (one update per change). Every tick lands in two windows.
CREATE TABLE IF NOT EXISTS moving_average_60s
WITH (
    KAFKA_TOPIC = '${COINS_TOPIC_MOVING_AVERAGE_60S}',
    KEY_FORMAT = 'KAFKA',
    VALUE_FORMAT = 'JSON'
) AS
SELECT
    code,
    AS_VALUE(code) AS `code`,
    WINDOWSTART AS `window_start_ms`,
    WINDOWEND AS `window_end_ms`,
    AVG(rate) AS `moving_average`,
    COUNT(*) AS `tick_count`
FROM coins_current_full_stream
WINDOW HOPPING (SIZE 60 SECONDS, ADVANCE BY 30 SECONDS, RETENTION 1 DAY, GRACE PERIOD 1 MINUTE)
WHERE rate IS NOT NULL
GROUP BY code
EMIT CHANGES;
