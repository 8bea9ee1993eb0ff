-- Why an ingested price row is rejected ('' = valid): the one rule every ingest path (live ticks, history, both ksqlDB outputs) uses to store a row or route it to ingest_errors.
-- time_ms: the row's epoch milliseconds; plausible means 2009-01-03 (the first Bitcoin block) <= t < 2100-01-01 UTC,
-- which rejects seconds sent as milliseconds (1970) and the values DateTime64 would clamp to 2299.
-- price_names / prices: every price of the row (rate; open/high/low/close; moving_average) and its field name, each
-- present, finite and > 0 (a 0 or negative price makes log returns ±inf and drawdowns -100 %).
-- tick_count: ticks behind a ksqlDB window (> 0); live ticks and history points pass 1.
-- multiIf evaluates a reason only for the rows that need it: a valid row costs a few comparisons.
CREATE FUNCTION IF NOT EXISTS crypto_ingest_rejection AS (code, time_ms, price_names, prices, tick_count) -> multiIf(
    code = '', 'rejected: code is missing',
    NOT (time_ms >= 1230940800000 AND time_ms < 4102444800000),
        concat('rejected: time ', toString(time_ms), ' is not epoch milliseconds between 2009-01-03 and 2100-01-01 UTC'),
    arrayExists(price -> NOT ifNull(isFinite(price) AND price > 0, 0), prices),
        concat('rejected: prices must be finite numbers > 0: ', arrayStringConcat(
            arrayMap((name, price) -> concat(name, ' = ', ifNull(toString(price), 'null')),
                     arrayFilter((name, price) -> NOT ifNull(isFinite(price) AND price > 0, 0), price_names, prices),
                     arrayFilter(price -> NOT ifNull(isFinite(price) AND price > 0, 0), prices)), ', ')),
    tick_count <= 0, concat('rejected: tick_count ', toString(tick_count), ' is not > 0'),
    ''
);
