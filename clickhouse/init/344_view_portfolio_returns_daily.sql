-- Daily time-weighted return of each portfolio between consecutive valued closes, r = (V(D) - net flows after the previous valued close up to D) / V(previous) - 1, its cumulative growth index (1 at the first valued close; an undefined r counts as 0 %) and drawdown from the index's running high.
CREATE VIEW IF NOT EXISTS crypto.portfolio_returns_daily AS
SELECT
    portfolio,
    day,
    value,
    net_flow,
    previous_day,
    return_pct,
    log_return,
    growth_index,
    (growth_index / running_high - 1) * 100 AS drawdown_pct,
    min((growth_index / running_high - 1) * 100) OVER (PARTITION BY portfolio ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS max_drawdown_pct
FROM
(
    SELECT
        *,
        max(growth_index) OVER (PARTITION BY portfolio ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running_high
    FROM
    (
        SELECT
            *,
            -- product of (1 + r) so far, as exp(sum(log)): 1 + r > 0 always holds for a
            -- portfolio without debt; a non-finite result becomes NULL, never inf/NaN
            if(isFinite(exp(sum(ifNull(log_return, 0)) OVER running)), exp(sum(ifNull(log_return, 0)) OVER running), NULL) AS growth_index
        FROM
        (
            SELECT
                *,
                if(return_ratio > 0, toNullable(log(return_ratio)), NULL) AS log_return,
                (return_ratio - 1) * 100 AS return_pct
            FROM
            (
                SELECT
                    portfolio,
                    day,
                    value,
                    net_flow,
                    if(has_previous = 1, toNullable(previous_day_raw), NULL) AS previous_day,
                    -- flows since the previous valued close: difference of the running sums
                    -- (NULL when a flow in between has no price)
                    if(unknown_flows_total != previous_unknown_flows, NULL, flows_total - previous_flows_total) AS flows_between,
                    if(has_previous = 1 AND previous_value > 0, (value - flows_between) / previous_value, NULL) AS return_ratio
                FROM
                (
                    SELECT
                        *,
                        lagInFrame(toUInt8(1), 1, toUInt8(0)) OVER valued AS has_previous,
                        lagInFrame(day) OVER valued AS previous_day_raw,
                        lagInFrame(value) OVER valued AS previous_value,
                        lagInFrame(flows_total) OVER valued AS previous_flows_total,
                        lagInFrame(unknown_flows_total) OVER valued AS previous_unknown_flows
                    FROM
                    (
                        SELECT
                            portfolio,
                            day,
                            value,
                            net_flow,
                            sum(ifNull(net_flow, 0)) OVER every_day AS flows_total,
                            sum(toUInt32(net_flow IS NULL)) OVER every_day AS unknown_flows_total
                        FROM crypto.portfolio_value_daily
                        WINDOW every_day AS (PARTITION BY portfolio ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
                    )
                    WHERE value IS NOT NULL
                    WINDOW valued AS (PARTITION BY portfolio ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
                )
            )
        )
        WINDOW running AS (PARTITION BY portfolio ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
    )
);
