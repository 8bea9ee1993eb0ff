-- The latest row of change_by_day for each coin (1 d / 7 d change of the most recent daily close).
CREATE VIEW IF NOT EXISTS crypto.change_latest AS
SELECT code, day, close, close_1d_ago, close_7d_ago, change_1d_pct, change_7d_pct
FROM crypto.change_by_day
ORDER BY code, day DESC
LIMIT 1 BY code;
