-- Snapshot of the view risk_summary (latest risk figures per coin) for the dashboards, same columns; rewritten every minute by refresh_risk_summary.
CREATE TABLE IF NOT EXISTS crypto.risk_summary_snapshot
(
    code                 LowCardinality(String),
    day                  Date,
    close                Float64,
    volatility_30d_pct   Nullable(Float64),
    running_high         Float64,
    current_drawdown_pct Nullable(Float64),
    max_drawdown_pct     Nullable(Float64)
)
ENGINE = MergeTree
ORDER BY code;
