-- Every minute, recomputes the view portfolio_vs_btc and atomically replaces the contents of portfolio_vs_btc_snapshot with the result.
CREATE MATERIALIZED VIEW IF NOT EXISTS crypto.refresh_portfolio_vs_btc
REFRESH EVERY 1 MINUTE
TO crypto.portfolio_vs_btc_snapshot
AS SELECT portfolio, day, value, btc_only_value, growth_index, btc_index
FROM crypto.portfolio_vs_btc;
