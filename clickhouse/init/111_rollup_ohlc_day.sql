-- 1-day OHLC and the 12:00 UTC close of the live ticks as partial aggregates; every state is idempotent so duplicated ticks change nothing, and ordered by (ts, rate) so a tick re-sent with another price gives the same result before and after merges (read with -Merge).
CREATE TABLE IF NOT EXISTS crypto.rollup_ohlc_day
(
    code LowCardinality(String),
    day Date,
    open AggregateFunction(argMin, Float64, Tuple(DateTime64(3, 'UTC'), Float64)),
    close AggregateFunction(argMax, Float64, Tuple(DateTime64(3, 'UTC'), Float64)),
    high SimpleAggregateFunction(max, Float64),
    low SimpleAggregateFunction(min, Float64),
    volume_24h AggregateFunction(argMax, Nullable(Float64), Tuple(DateTime64(3, 'UTC'), Float64)),
    tick_seconds AggregateFunction(groupBitmap, UInt32),
    last_tick_at SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    noon_close AggregateFunction(argMaxIf, Tuple(Float64, DateTime64(3, 'UTC')), Tuple(DateTime64(3, 'UTC'), Float64), UInt8)
)
ENGINE = AggregatingMergeTree
ORDER BY (code, day);
