-- Every minute, recomputes the view portfolio_positions and atomically replaces the contents of portfolio_positions_snapshot with the result.
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.refresh_portfolio_positions
REFRESH EVERY 1 MINUTE
TO crypto.portfolio_positions_snapshot
AS SELECT portfolio, code, transactions, quantity, cost_basis, average_cost, realized_pnl, fees_paid, price, market_value, unrealized_pnl, total_pnl
FROM crypto.portfolio_positions;
