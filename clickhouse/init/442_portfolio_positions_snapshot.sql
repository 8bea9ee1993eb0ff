-- Snapshot of the view portfolio_positions (average-cost basis and P&L per portfolio and coin) for the dashboards, same columns; rewritten every minute by refresh_portfolio_positions.
CREATE TABLE IF NOT EXISTS crypto.portfolio_positions_snapshot
(
    portfolio      LowCardinality(String),
    code           String,
    transactions   UInt64,
    quantity       Decimal(38, 18),
    cost_basis     Nullable(Float64),
    average_cost   Nullable(Float64),
    realized_pnl   Nullable(Float64),
    fees_paid      Float64,
    price          Nullable(Float64),
    market_value   Nullable(Float64),
    unrealized_pnl Nullable(Float64),
    total_pnl      Nullable(Float64)
)
ENGINE = MergeTree
ORDER BY (portfolio, code);
