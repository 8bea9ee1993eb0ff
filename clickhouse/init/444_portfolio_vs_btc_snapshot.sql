-- Snapshot of the view portfolio_vs_btc (the portfolio against holding BTC only) for the dashboards, same columns; rewritten every minute by refresh_portfolio_vs_btc.
CREATE TABLE IF NOT EXISTS crypto.portfolio_vs_btc_snapshot
(
    portfolio      LowCardinality(String),
    day            Date,
    value          Nullable(Float64),
    btc_only_value Nullable(Float64),
    growth_index   Nullable(Float64),
    btc_index      Nullable(Float64)
)
ENGINE = MergeTree
ORDER BY (portfolio, day);
