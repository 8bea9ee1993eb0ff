-- Ordering key of a price observation: its time, then its rate, as one UInt128 (a tuple key made the rollups 18x slower); the highest rate is the tick when two share a time.
-- argMax(x, crypto_tick_order(time_ms, rate)) takes the last observation, argMax(x, crypto_tick_order(-time_ms, rate)) the first;
-- at a shared time both take the highest rate, so the result never depends on insert or merge order.
-- The bits of a double > 0 sort like the double (IEEE 754); time is shifted by 2^63 so negative times sort too.
CREATE FUNCTION IF NOT EXISTS crypto_tick_order AS (time_ms, rate) -> bitOr(
    bitShiftLeft(toUInt128(toInt128(time_ms) + 9223372036854775808), 64),
    toUInt128(reinterpretAsUInt64(toFloat64(rate)))
);
