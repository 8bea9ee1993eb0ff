-- Live value of each portfolio now: sum of quantity x latest price over the coins held (NULL while a held coin has no price), the number of coins held and the oldest price used.
CREATE VIEW IF NOT EXISTS crypto.portfolio_live_value AS
SELECT
    portfolio,
    if(countIf(price IS NULL) > 0, NULL, sum(value)) AS value,
    toUInt32(count()) AS coins_held,
    toUInt32(countIf(price IS NULL)) AS coins_without_price,
    min(price_at) AS oldest_price_at
FROM crypto.portfolio_allocation
GROUP BY portfolio;
