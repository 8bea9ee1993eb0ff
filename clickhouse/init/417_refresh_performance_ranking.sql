-- Every minute, recomputes the view performance_ranking and atomically replaces the contents of performance_ranking_snapshot with the result.
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.refresh_performance_ranking
REFRESH EVERY 1 MINUTE
TO crypto.performance_ranking_snapshot
AS SELECT period, code, return_pct, rank_best, rank_worst
FROM crypto.performance_ranking;
