-- Rejected messages per Kafka topic: distinct messages kept (30-day TTL), first seen in the last hour, and the time of the last one; a redelivered message counts once, before merges too.
CREATE VIEW IF NOT EXISTS crypto.ingestion_errors_by_topic AS
SELECT
    topic,
    count() AS errors_total,
    countIf(first_received_at >= now64(3, 'UTC') - INTERVAL 1 HOUR) AS errors_last_hour,
    max(first_received_at) AS last_error_at
FROM
(
    SELECT topic, kafka_partition, kafka_offset, min(received_at) AS first_received_at
    FROM crypto.ingest_errors
    GROUP BY topic, kafka_partition, kafka_offset
)
GROUP BY topic;
