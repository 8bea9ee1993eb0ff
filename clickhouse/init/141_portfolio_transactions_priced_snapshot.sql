-- Snapshot of the view portfolio_transactions_priced (every current transaction with its market price resolved, cash flow and BTC price), same columns; rewritten every minute by refresh_portfolio_transactions_priced, first in the portfolio's refresh cycle: the portfolio views read it, so the transactions are priced once a minute instead of once per snapshot refresh.
CREATE TABLE IF NOT EXISTS crypto.portfolio_transactions_priced_snapshot
(
    portfolio       LowCardinality(String),
    transaction_id  String,
    kind            String,
    code            String,
    ts              DateTime64(3, 'UTC'),
    effective_day   Date,
    quantity        Decimal(38, 18),
    signed_quantity Decimal(38, 18),
    fee             Float64,
    price_source    String,
    resolved_price  Nullable(Float64),
    cash_flow       Nullable(Float64),
    btc_price       Nullable(Float64)
)
ENGINE = MergeTree
ORDER BY (portfolio, code, ts, transaction_id);
