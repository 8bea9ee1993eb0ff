-- Every minute, recomputes the view portfolio_transactions_priced and atomically replaces the contents of portfolio_transactions_priced_snapshot with the result; the portfolio snapshots that read it (445, 446, 447, 449) wait for it with DEPENDS ON.
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.refresh_portfolio_transactions_priced
REFRESH EVERY 1 MINUTE
TO crypto.portfolio_transactions_priced_snapshot
AS SELECT portfolio, transaction_id, kind, code, ts, effective_day, quantity, signed_quantity, fee, price_source, resolved_price, cash_flow, btc_price
FROM crypto.portfolio_transactions_priced;
