-- Average-cost basis per portfolio and coin: buys and transfers in add quantity x price + fee to the cost; sells and transfers out remove quantity x average cost; realized P&L = sale proceeds - fee - average cost of the coins sold (a transfer out realizes only its fee); unrealized P&L = value at the latest price - remaining cost.
CREATE VIEW IF NOT EXISTS crypto.portfolio_positions AS
WITH
    folded AS
    (
        SELECT
            portfolio,
            code,
            count() AS transactions,
            -- transactions in time order (then id); state = (quantity, cost, realized, fees)
            arrayFold(
                (state, t) -> if(
                    t.1 IN ('buy', 'transfer_in'),
                    (state.1 + t.2, state.2 + toFloat64(t.2) * t.3 + t.4, state.3, state.4 + t.4),
                    (
                        state.1 - t.2,
                        -- the average cost per coin does not change on a sale; selling all leaves 0
                        if(state.1 = 0, 0., state.2 / toFloat64(state.1) * toFloat64(state.1 - t.2)),
                        state.3 + if(t.1 = 'sell', toFloat64(t.2) * t.3, 0.) - t.4
                            - if(state.1 = 0, 0., state.2 / toFloat64(state.1) * toFloat64(t.2)) * (t.1 = 'sell'),
                        state.4 + t.4
                    )
                ),
                arrayMap(x -> (x.3, x.4, x.5, x.6), arraySort(x -> (x.1, x.2), groupArray((ts, transaction_id, kind, quantity, ifNull(resolved_price, nan), fee)))),
                (toDecimal128(0, 18), toFloat64(0), toFloat64(0), toFloat64(0))
            ) AS state
        FROM crypto.portfolio_transactions_priced_snapshot
        GROUP BY portfolio, code
    )
SELECT
    folded.portfolio AS portfolio,
    folded.code AS code,
    folded.transactions AS transactions,
    state.1 AS quantity,
    if(isFinite(state.2), toNullable(state.2), NULL) AS cost_basis,
    if(state.1 > 0, cost_basis / toFloat64(state.1), NULL) AS average_cost,
    if(isFinite(state.3), toNullable(state.3), NULL) AS realized_pnl,
    state.4 AS fees_paid,
    allocation.price AS price,
    -- the quantity of the same priced transactions, at the latest price
    if(state.1 = 0, toNullable(0.), toFloat64(state.1) * allocation.price) AS market_value,
    market_value - cost_basis AS unrealized_pnl,
    realized_pnl + unrealized_pnl AS total_pnl
FROM folded
LEFT JOIN
(
    SELECT portfolio, code, price FROM crypto.portfolio_allocation
) AS allocation ON allocation.portfolio = folded.portfolio AND allocation.code = folded.code
SETTINGS join_use_nulls = 1;
