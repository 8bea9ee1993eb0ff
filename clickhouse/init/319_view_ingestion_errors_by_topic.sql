-- Rejected messages per Kafka topic: total kept (30-day TTL), in the last hour, and the time of the last one.
CREATE VIEW IF NOT EXISTS crypto.ingestion_errors_by_topic AS
SELECT
    topic,
    count() AS errors_total,
    countIf(received_at >= now64(3, 'UTC') - INTERVAL 1 HOUR) AS errors_last_hour,
    max(received_at) AS last_error_at
FROM crypto.ingest_errors
GROUP BY topic;
