-- Snapshot of the view performance_ranking (winners and losers per period) for the dashboards, same columns; rewritten every minute by refresh_performance_ranking.
CREATE TABLE IF NOT EXISTS crypto.performance_ranking_snapshot
(
    period     String,
    code       LowCardinality(String),
    return_pct Nullable(Float64),
    rank_best  UInt64,
    rank_worst UInt64
)
ENGINE = MergeTree
ORDER BY (period, code);
