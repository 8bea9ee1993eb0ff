-- 1-day OHLC and the 12:00 UTC close of the live ticks as partial aggregates; every state is idempotent so duplicated ticks change nothing, and ordered by crypto_tick_order (time, then rate) so a tick re-sent with another price gives the same result before and after merges (read with -Merge).
CREATE TABLE IF NOT EXISTS crypto.rollup_ohlc_day
(
    code LowCardinality(String),
    day Date,
    open AggregateFunction(argMax, Float64, UInt128),
    close AggregateFunction(argMax, Float64, UInt128),
    high SimpleAggregateFunction(max, Float64),
    low SimpleAggregateFunction(min, Float64),
    volume_24h AggregateFunction(argMax, Nullable(Float64), UInt128),
    tick_seconds AggregateFunction(groupBitmap, UInt32),
    last_tick_at SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    noon_close AggregateFunction(argMaxIf, Tuple(Float64, DateTime64(3, 'UTC')), UInt128, UInt8)
)
ENGINE = AggregatingMergeTree
ORDER BY (code, day);
