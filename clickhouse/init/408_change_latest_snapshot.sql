-- Snapshot of the view change_latest (latest 1 d / 7 d change per coin) for the dashboards, same columns; rewritten every minute by refresh_change_latest.
CREATE TABLE IF NOT EXISTS crypto.change_latest_snapshot
(
    code          LowCardinality(String),
    day           Date,
    close         Float64,
    close_1d_ago  Nullable(Float64),
    close_7d_ago  Nullable(Float64),
    change_1d_pct Nullable(Float64),
    change_7d_pct Nullable(Float64)
)
ENGINE = MergeTree
ORDER BY code;
