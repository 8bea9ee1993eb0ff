-- Winners and losers: every coin ranked per period by its return (rank_best = 1 is the best performer, rank_worst = 1 the worst).
CREATE VIEW IF NOT EXISTS crypto.performance_ranking AS
SELECT
    period,
    code,
    return_pct,
    rank() OVER (PARTITION BY period ORDER BY return_pct DESC) AS rank_best,
    rank() OVER (PARTITION BY period ORDER BY return_pct ASC) AS rank_worst
FROM
(
    SELECT code, period_return.1 AS period, period_return.2 AS return_pct
    FROM crypto.performance_returns
    ARRAY JOIN
        [('1d', return_1d_pct), ('7d', return_7d_pct), ('30d', return_30d_pct), ('90d', return_90d_pct),
         ('ytd', return_ytd_pct), ('since_first', return_since_first_pct)] AS period_return
)
WHERE return_pct IS NOT NULL;
