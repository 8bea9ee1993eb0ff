-- Why a message read by a Kafka table goes to ingest_errors: the engine's own error (engine_error, its _error column), else
-- 'unparsable: not valid JSON' when its text is no JSON document (crypto_parse_* then return only defaults), else the topic's rule
-- (rejection, e.g. 001's); '' when the message is valid. The JSON check runs only for rejected messages (short-circuit multiIf).
CREATE FUNCTION IF NOT EXISTS crypto_message_error AS (engine_error, message, rejection) -> multiIf(
    engine_error != '', engine_error,
    rejection = '', '',
    isValidJSON(crypto_json_document(message)), rejection,
    'unparsable: not valid JSON'
);
