-- Source stream over the producers' live ticks; event time is the tick's own timestamp_ms.
-- Topic names are settings (producers/settings.py), sent as ksqlDB session variables by the
-- applier: ${COINS_TOPIC_CURRENT} is whatever COINS_TOPIC_CURRENT says.
-- Only the columns the windows need are declared (ksqlDB ignores the other JSON fields).
-- The Kafka key is the coin code (UTF-8), so grouping by it needs no repartition topic.
CREATE STREAM IF NOT EXISTS coins_current_full_stream (
    code VARCHAR KEY,
    rate DOUBLE,
    timestamp_ms BIGINT
) WITH (
    KAFKA_TOPIC = '${COINS_TOPIC_CURRENT}',
    KEY_FORMAT = 'KAFKA',
    VALUE_FORMAT = 'JSON',
    TIMESTAMP = 'timestamp_ms'
);
