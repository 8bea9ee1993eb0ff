-- Alert counts per rule and coin: all kept, last 24 hours, and the newest alert's time and text.
CREATE VIEW IF NOT EXISTS crypto.alerts_by_rule_coin AS
SELECT
    rule_id,
    coin,
    any(rule_kind) AS rule_kind,
    count() AS alerts_total,
    countIf(event_time >= now64(3, 'UTC') - INTERVAL 1 DAY) AS alerts_last_24h,
    max(event_time) AS last_alert_at,
    argMax(summary, event_time) AS last_summary
FROM crypto.alerts FINAL
GROUP BY rule_id, coin;
