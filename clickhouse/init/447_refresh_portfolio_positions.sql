-- Every minute, recomputes the view portfolio_positions and atomically replaces the contents of portfolio_positions_snapshot with the result, after refresh_portfolio_transactions_priced has refreshed the priced transactions its view reads (DEPENDS ON).
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.refresh_portfolio_positions
REFRESH EVERY 1 MINUTE
DEPENDS ON crypto.refresh_portfolio_transactions_priced
TO crypto.portfolio_positions_snapshot
AS SELECT portfolio, code, transactions, quantity, cost_basis, average_cost, realized_pnl, fees_paid, price, market_value, unrealized_pnl, total_pnl
FROM crypto.portfolio_positions;
