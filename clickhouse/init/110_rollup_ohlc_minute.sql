-- 1-minute OHLC of the live ticks as partial aggregates; every state is idempotent so duplicated ticks change nothing (read with -Merge).
CREATE TABLE IF NOT EXISTS crypto.rollup_ohlc_minute
(
    code LowCardinality(String),
    minute DateTime('UTC'),
    open AggregateFunction(argMin, Float64, DateTime64(3, 'UTC')),
    close AggregateFunction(argMax, Float64, DateTime64(3, 'UTC')),
    high SimpleAggregateFunction(max, Float64),
    low SimpleAggregateFunction(min, Float64),
    volume_24h AggregateFunction(argMax, Nullable(Float64), DateTime64(3, 'UTC')),
    tick_offsets AggregateFunction(groupBitmap, UInt32)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (code, minute);
