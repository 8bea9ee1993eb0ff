-- Alerts of the last 30 days, one row per alert, with their delivery status: delivered (every webhook that got it), dead_letter (some webhook gave up), none (no webhook configured, or still being delivered).
CREATE VIEW IF NOT EXISTS crypto.alerts_recent AS
WITH deliveries AS
(
    SELECT
        alert_id,
        countIf(status = 'delivered') AS webhooks_delivered,
        countIf(status = 'dead_letter') AS webhooks_failed
    FROM crypto.alert_deliveries FINAL
    GROUP BY alert_id
)
SELECT
    alert.event_time AS event_time,
    alert.fired_at AS fired_at,
    alert.rule_id AS rule_id,
    alert.rule_kind AS rule_kind,
    alert.coin AS coin,
    alert.summary AS summary,
    alert.source AS source,
    alert.rules_version AS rules_version,
    alert.alert_id AS alert_id,
    delivery.webhooks_delivered AS webhooks_delivered,
    delivery.webhooks_failed AS webhooks_failed,
    multiIf(delivery.webhooks_failed > 0, 'dead_letter', delivery.webhooks_delivered > 0, 'delivered', 'none') AS delivery_status
FROM crypto.alerts AS alert FINAL
LEFT JOIN deliveries AS delivery ON delivery.alert_id = alert.alert_id
WHERE alert.event_time >= now64(3, 'UTC') - INTERVAL 30 DAY;
