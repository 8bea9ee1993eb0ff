-- One row per coin: latest price and metadata, 1 h / 24 h / 7 d change from the API's deltas, all-time high (API or observed) and distance from it.
CREATE VIEW IF NOT EXISTS crypto.coin_overview AS
WITH
    latest AS
    (
        -- the rollup knows each coin's last tick time; a primary-key lookup fetches that one row
        SELECT
            code,
            argMax(tuple(name, symbol, rank, source, rate, delta_hour, delta_day, delta_week, volume, cap, liquidity,
                         circulating_supply, total_supply, max_supply, all_time_high_usd),
                   crypto_tick_order(toUnixTimestamp64Milli(ts), rate)) AS tick,
            max(ts) AS last_tick_at
        FROM crypto.coins_ticks
        WHERE (code, ts) IN (SELECT code, max(last_tick_at) FROM crypto.rollup_ohlc_day GROUP BY code)
        GROUP BY code
    ),
    observed_high AS
    (
        SELECT code, max(high) AS highest_rate
        FROM
        (
            SELECT code, max(high) AS high FROM crypto.rollup_ohlc_day GROUP BY code
            UNION ALL
            SELECT code, max(rate) AS high FROM crypto.coins_history GROUP BY code
        )
        GROUP BY code
    )
SELECT
    latest.code AS code,
    tick.1 AS name,
    tick.2 AS symbol,
    tick.3 AS rank,
    tick.4 AS source,
    last_tick_at,
    tick.5 AS rate,
    (tick.6 - 1) * 100 AS change_1h_pct,
    (tick.7 - 1) * 100 AS change_24h_pct,
    (tick.8 - 1) * 100 AS change_7d_pct,
    tick.9 AS volume_24h,
    tick.10 AS cap,
    tick.11 AS liquidity,
    tick.12 AS circulating_supply,
    tick.13 AS total_supply,
    tick.14 AS max_supply,
    greatest(ifNull(tick.15, 0), ifNull(observed_high.highest_rate, 0), tick.5) AS all_time_high,
    if(all_time_high > 0, (tick.5 / all_time_high - 1) * 100, NULL) AS distance_from_ath_pct
FROM latest
LEFT JOIN observed_high ON observed_high.code = latest.code;
