-- Every minute, recomputes the view portfolio_vs_btc and atomically replaces the contents of portfolio_vs_btc_snapshot with the result, after refresh_portfolio_transactions_priced has refreshed the priced transactions its view reads (DEPENDS ON).
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.refresh_portfolio_vs_btc
REFRESH EVERY 1 MINUTE
DEPENDS ON crypto.refresh_portfolio_transactions_priced
TO crypto.portfolio_vs_btc_snapshot
AS SELECT portfolio, day, value, btc_only_value, growth_index, btc_index
FROM crypto.portfolio_vs_btc;
