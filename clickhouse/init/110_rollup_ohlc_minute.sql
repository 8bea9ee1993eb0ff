-- 1-minute OHLC of the live ticks as partial aggregates; every state is idempotent so duplicated ticks change nothing, and ordered by crypto_tick_order (time, then rate) so a tick re-sent with another price gives the same result before and after merges (read with -Merge).
CREATE TABLE IF NOT EXISTS crypto.rollup_ohlc_minute
(
    code LowCardinality(String),
    minute DateTime('UTC'),
    open AggregateFunction(argMax, Float64, UInt128),
    close AggregateFunction(argMax, Float64, UInt128),
    high SimpleAggregateFunction(max, Float64),
    low SimpleAggregateFunction(min, Float64),
    volume_24h AggregateFunction(argMax, Nullable(Float64), UInt128),
    tick_offsets AggregateFunction(groupBitmap, UInt32)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (code, minute);
