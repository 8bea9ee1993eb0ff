-- Value of each portfolio at every daily close (12:00 UTC) since its first transaction: sum of quantity x close, NULL when a held coin has no close that day; net cash flow of the transactions counted in that close (NULL when one has no price).
CREATE VIEW IF NOT EXISTS crypto.portfolio_value_daily AS
WITH
    flows AS
    (
        SELECT
            portfolio,
            effective_day AS day,
            if(countIf(cash_flow IS NULL) > 0, NULL, sum(cash_flow)) AS net_flow,
            count() AS transactions
        FROM crypto.portfolio_transactions_priced_snapshot
        GROUP BY portfolio, effective_day
    )
SELECT
    holdings.portfolio AS portfolio,
    holdings.day AS day,
    if(countIf(holdings.value IS NULL) > 0, NULL, sum(holdings.value)) AS value,
    -- no transaction that day: no flow (a LEFT JOIN without a match leaves defaults)
    if(any(flows.transactions) = 0, toNullable(0.), any(flows.net_flow)) AS net_flow,
    toUInt32(countIf(holdings.quantity != 0)) AS coins_held,
    toUInt32(countIf(holdings.value IS NULL)) AS coins_missing_close
FROM crypto.portfolio_holdings_daily AS holdings
LEFT JOIN flows ON flows.portfolio = holdings.portfolio AND flows.day = holdings.day
GROUP BY holdings.portfolio, holdings.day;
