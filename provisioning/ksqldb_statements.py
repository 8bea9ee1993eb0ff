"""The ksqlDB statements of ``ksqldb/``: files in name order, each split into statements.

The files name their topics by variable (``KAFKA_TOPIC = '${COINS_TOPIC_CURRENT}'``): the
applier sends each statement as written with the topic settings as ksqlDB session variables,
and ksqlDB substitutes them (see :func:`substitute`). What this module reads from a statement
(its source and sink topics, its checksum) is read from the substituted text, the one ksqlDB
runs.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

_CREATE_WITH_TOPIC = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:SOURCE\s+)?(?:STREAM|TABLE)\b", re.IGNORECASE
)
_AS_SELECT = re.compile(r"\bAS\s+SELECT\b", re.IGNORECASE)
_CREATED_OBJECT = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:SOURCE\s+)?(?P<kind>STREAM|TABLE)\s+"
    r"(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>`[^`]+`|\w+)",
    re.IGNORECASE,
)
_WINDOW_RETENTION = re.compile(
    r"\bWINDOW\s+\w+\s*\([^)]*\bRETENTION\s+(?P<amount>\d+)\s+(?P<unit>[A-Z]+)", re.IGNORECASE
)
_WINDOW = re.compile(r"\bWINDOW\s+(?:TUMBLING|HOPPING|SESSION)\b", re.IGNORECASE)
_UNIT_MS = {
    "MILLISECOND": 1,
    "SECOND": 1000,
    "MINUTE": 60_000,
    "HOUR": 3_600_000,
    "DAY": 86_400_000,
}
_WITH_PROPERTY = r"\b{name}\s*=\s*'(?P<value>(?:[^']|'')*)'"
# ``${name}``, and ``$${`` which ksqlDB reads as a literal ``${`` (commons-text StringSubstitutor's
# escape character, the default of ksqlDB's VariableSubstitutor).
_VARIABLE = re.compile(r"(?P<escaped>\$)?\$\{(?P<name>[^}]*)\}")


def substitute(text: str, variables: Mapping[str, str]) -> str:
    """``text`` with every ``${name}`` replaced, as ksqlDB does with session variables.

    ksqlDB (confluentinc/ksql): ``POST /ksql`` takes ``sessionVariables``
    (``rest/entity/KsqlRequest.java``; docs/developer-guide/ksqldb-rest-api/ksql-endpoint.md),
    kept case-insensitively (``rest/SessionProperties.java``: a ``CASE_INSENSITIVE_ORDER``
    map), and ``RequestHandler.execute`` -> ``EngineContext.prepare`` replaces each reference
    before parsing (``parser/VariableSubstitutor.java``, commons-text ``StringSubstitutor``;
    docs/how-to-guides/substitute-variables.md). Where ksqlDB leaves an unknown reference in a
    string literal as is (a topic literally named ``${...}``), this refuses it: a statement
    that names a variable no setting defines is an error before anything is sent.
    """
    folded = {name.lower(): value for name, value in variables.items()}

    def replace(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return match.group(0)[1:]
        name = match.group("name")
        if name.lower() not in folded:
            known = ", ".join(sorted(variables)) or "none"
            raise ValueError(f"${{{name}}} is not a setting (known: {known})")
        return folded[name.lower()]

    return _VARIABLE.sub(replace, text)


@dataclass(frozen=True)
class KsqlStatement:
    """One statement as written (``text``), the variables it is sent with, and where it came
    from so an error can name the file. ``resolved`` is the text ksqlDB runs."""

    source: Path
    index: int
    text: str
    variables: Mapping[str, str] = field(default_factory=dict)

    @property
    def location(self) -> str:
        return f"{self.source.name} statement {self.index}"

    @property
    def resolved(self) -> str:
        """The statement with its ``${...}`` substituted, as ksqlDB runs it."""
        try:
            return substitute(self.text, self.variables)
        except ValueError as error:
            raise ValueError(f"{self.location}: {error}") from error

    @property
    def created_object(self) -> tuple[str, str] | None:
        """``(kind, NAME)`` of the stream or table a CREATE makes, as ksqlDB names it.

        An unquoted name is upper-cased by ksqlDB; a backtick-quoted one keeps its case.
        """
        match = _CREATED_OBJECT.match(strip_comments(self.resolved))
        if match is None:
            return None
        name = match.group("name")
        name = name[1:-1] if name.startswith("`") else name.upper()
        return match.group("kind").lower(), name

    @property
    def runs_a_query(self) -> bool:
        """True for CREATE ... AS SELECT: ksqlDB runs a persistent query for it."""
        return bool(_AS_SELECT.search(strip_comments(self.resolved)))

    @property
    def sink_topic(self) -> str | None:
        """The topic a CREATE ... AS SELECT writes (``KAFKA_TOPIC``, else the object's name)."""
        created = self.created_object
        if created is None or not self.runs_a_query:
            return None
        return with_property(strip_comments(self.resolved), "KAFKA_TOPIC") or created[1]

    @property
    def sink_topic_config(self) -> dict[str, str]:
        """The topic configuration ksqlDB gives the sink topic of this statement.

        From ``TopicCreateInjector`` (confluentinc/ksql): a windowed table's topic is
        ``compact,delete`` with ``retention.ms`` = the window's RETENTION (which ksqlDB then
        validates on an existing topic, ``TopicValidationUtil``); other tables are
        ``compact``, streams ``delete``.
        """
        created = self.created_object
        if created is None or not self.runs_a_query:
            return {}
        code = strip_comments(self.resolved)
        if created[0] == "stream":
            return {"cleanup.policy": "delete"}
        if not _WINDOW.search(code):
            return {"cleanup.policy": "compact"}
        config = {"cleanup.policy": "compact,delete"}
        retention = _WINDOW_RETENTION.search(code)
        if retention:
            unit = retention.group("unit").upper().rstrip("S")
            config["retention.ms"] = str(int(retention.group("amount")) * _UNIT_MS[unit])
        return config

    @property
    def checksum(self) -> str:
        """SHA-256 of the statement ksqlDB runs, whitespace collapsed: changes when the SQL
        does, and when a topic setting it reads does (the running query reads the old topic)."""
        normalized = " ".join(strip_comments(self.resolved).split())
        return hashlib.sha256(normalized.encode("utf-8")).hexdigest()

    @property
    def source_topic(self) -> str | None:
        """The existing topic a plain CREATE STREAM/TABLE reads (None for CREATE ... AS SELECT).

        ksqlDB refuses such a statement while its topic is missing, and the topic is created by
        the producer, so the applier waits for it instead of failing on a start-up race.
        """
        code = strip_comments(self.resolved)
        if not _CREATE_WITH_TOPIC.match(code) or _AS_SELECT.search(code):
            return None
        if with_property(code, "PARTITIONS") is not None:
            return None  # ksqlDB creates the topic itself
        return with_property(code, "KAFKA_TOPIC")


def with_property(statement: str, name: str) -> str | None:
    """The value of a quoted ``NAME = 'value'`` property, or a bare number, in a statement."""
    quoted = re.search(_WITH_PROPERTY.format(name=name), statement, re.IGNORECASE)
    if quoted:
        return quoted.group("value").replace("''", "'")
    bare = re.search(rf"\b{name}\s*=\s*(?P<value>\d+)", statement, re.IGNORECASE)
    return bare.group("value") if bare else None


def strip_comments(sql: str) -> str:
    """The SQL with ``--`` and ``/* */`` comments removed (quoted text left intact)."""
    return "".join(_scan(sql, keep_comments=False))


def split_statements(sql: str) -> list[str]:
    """Statements separated by top-level semicolons, each ending with ``;``, comments dropped.

    Semicolons inside single-quoted strings, backtick- or double-quoted identifiers and comments
    do not split; a trailing statement without a semicolon is an error (ksqlDB rejects it too).
    """
    statements: list[str] = []
    current: list[str] = []
    for piece in _scan(sql, keep_comments=False):
        if piece == ";":
            text = "".join(current).strip()
            if text:
                statements.append(text + ";")
            current = []
        else:
            current.append(piece)
    rest = "".join(current).strip()
    if rest:
        raise ValueError(f"statement not terminated by ';': {rest[:80]!r}")
    return statements


def load_statements(directory: Path, variables: Mapping[str, str]) -> list[KsqlStatement]:
    """Every statement of every ``*.sql`` file in ``directory``, files in name order, to be
    sent with ``variables`` (the topic settings, ``producers.kafka.topics.topic_variables``).

    A ``${name}`` that ``variables`` lacks is an error here, naming the file.
    """
    files = sorted(path for path in directory.glob("*.sql") if path.is_file())
    if not files:
        raise FileNotFoundError(f"no *.sql files in {directory}")
    statements: list[KsqlStatement] = []
    for path in files:
        try:
            texts = split_statements(path.read_text(encoding="utf-8"))
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from error
        statements.extend(
            KsqlStatement(source=path, index=number, text=text, variables=dict(variables))
            for number, text in enumerate(texts, start=1)
        )
    for statement in statements:
        _ = statement.resolved  # every reference defined, or the error names the file
    return statements


def _scan(sql: str, *, keep_comments: bool) -> list[str]:
    """Pieces of ``sql``: each top-level ``;`` alone, everything else in runs of text."""
    pieces: list[str] = []
    position = 0
    length = len(sql)
    run_start = 0

    def flush(until: int) -> None:
        if until > run_start:
            pieces.append(sql[run_start:until])

    while position < length:
        char = sql[position]
        if char in "'`\"":
            end = _closing_quote(sql, position, char)
            position = end + 1
        elif sql.startswith("--", position):
            end = sql.find("\n", position)
            end = length if end == -1 else end
            flush(position)
            if keep_comments:
                pieces.append(sql[position:end])
            position = end
            run_start = position
        elif sql.startswith("/*", position):
            end = sql.find("*/", position + 2)
            if end == -1:
                raise ValueError("unterminated /* comment")
            flush(position)
            if keep_comments:
                pieces.append(sql[position : end + 2])
            # a comment separates tokens, so keep a space in its place
            pieces.append(" ")
            position = end + 2
            run_start = position
        elif char == ";":
            flush(position)
            pieces.append(";")
            position += 1
            run_start = position
        else:
            position += 1
    flush(length)
    return pieces


def _closing_quote(sql: str, start: int, quote: str) -> int:
    """Index of the quote closing the one at ``start``; a doubled quote is an escaped one."""
    position = start + 1
    while True:
        end = sql.find(quote, position)
        if end == -1:
            raise ValueError(f"unterminated {quote} quote starting at offset {start}")
        if sql.startswith(quote * 2, end):
            position = end + 2
            continue
        return end
