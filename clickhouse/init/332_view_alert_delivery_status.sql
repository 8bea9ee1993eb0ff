-- Delivery outcomes per webhook and status: how many, attempts on average, the newest one's time, HTTP status and reason.
CREATE VIEW IF NOT EXISTS crypto.alert_delivery_status AS
SELECT
    webhook,
    any(webhook_kind) AS webhook_kind,
    status,
    count() AS deliveries,
    avg(attempts) AS average_attempts,
    max(finished_at) AS last_finished_at,
    argMax(http_status, finished_at) AS last_http_status,
    argMax(reason, finished_at) AS last_reason
FROM crypto.alert_deliveries FINAL
GROUP BY webhook, status;
