-- Snapshot of the view performance_returns (returns per coin (1 d to since first)) for the dashboards, same columns; rewritten every minute by refresh_performance_returns.
CREATE TABLE IF NOT EXISTS crypto.performance_returns_snapshot
(
    code                   LowCardinality(String),
    first_day              Date,
    latest_day             Date,
    latest_close           Float64,
    return_1d_pct          Nullable(Float64),
    return_7d_pct          Nullable(Float64),
    return_30d_pct         Nullable(Float64),
    return_90d_pct         Nullable(Float64),
    return_ytd_pct         Nullable(Float64),
    return_since_first_pct Nullable(Float64)
)
ENGINE = MergeTree
ORDER BY code;
