-- The text the crypto_parse_* functions read for a message (the Kafka tables keep it as it arrived): the message itself, or, when it is
-- not valid JSON because of the bare NaN, Infinity or -Infinity some JSON writers emit (Python's json.dumps does), the message with those
-- tokens quoted. ClickHouse's JSONEachRow read them as floats; JSONExtract's parser (simdjson) follows RFC 8259 and refuses them, but
-- reads the quoted "NaN" / "Infinity" as the same floats, so the ingest rule (001) still names the price. A message without either
-- word costs two substring searches; the message kept in ingest_errors is always the original.
CREATE FUNCTION IF NOT EXISTS crypto_json_document AS (message) -> if(
    (position(message, 'NaN') > 0 OR position(message, 'Infinity') > 0) AND NOT isValidJSON(message),
    replaceRegexpAll(message, '([:,\\[]\\s*)(-?(?:NaN|Infinity))\\b', '\\1"\\2"'),
    message
);
