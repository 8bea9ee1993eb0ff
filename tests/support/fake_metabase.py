"""An in-memory Metabase (v0.56 API contract) for `httpx.MockTransport`.

The routes, request validation and answer shapes follow the Metabase API reference for
v0.56 (MBQL 4): `/api/session/properties` publishes `setup-token` and `has-user-setup`;
`/api/setup` only works while no user exists; listings are wrapped as `{"data": [...]}`
where Metabase wraps them (databases, collection items); passwords come back masked;
`PUT /api/dashboard/:id` replaces the dashcards, creating those with negative ids and
deleting the ones left out. Every request is recorded so tests can assert the exact call
sequence, and faults (status codes, once or several times) can be queued per route.

Behaviours that make the real server less kind than a naive fake, each from Metabase's source
(github.com/metabase/metabase, v0.56 line):

- Visualization settings are migrated when a card or dashcard is saved and when it is read
  (`:visualization-settings` in src/metabase/models/interface.clj, versioning by
  src/metabase/models/json_migration.clj): `{pie.show_legend: true}` comes back as
  `{pie.show_legend: true, pie.percent_visibility: "inside", version: 2}`.
- `POST /api/card/:id/query` answers 202 with the result in the body (`status` "completed" or
  "failed" with `error`), and a native query returns at most 2,000 rows: the userland
  constraints (query_processor/middleware/constraints.clj: max-results 10,000,
  max-results-bare-rows 2,000) and the limit middleware (limit.clj, add_rows_truncated.clj)
  cap every query without an MBQL aggregation at max-results-bare-rows, setting
  `data.rows_truncated`.
- A second `POST /api/setup` answers 403 (api/setup: only while no user exists).
- `PUT /api/dashboard/:id` on a dashboard that has tabs, with dashcards without
  `dashboard_tab_id`, answers 400 "This dashboard has tab, makes sure every card has a tab"
  (`update-dashboard!`, src/metabase/dashboards_rest/api.clj).
- Archived (trashed) cards and dashboards leave `GET /api/collection/:id/items` and are listed
  only with `archived=true` (docs/api/collection.md); `PUT` with `archived: false` restores
  them with their id.
- A POST can be carried out and its answer lost (a read timeout): `fail(..., commit=True)`.

Only the stack test (Docker) checks these shapes against a real Metabase.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

MASKED_PASSWORD = "**MetabasePass**"
GRID_COLUMNS = 24
KNOWN_ENGINES = {"clickhouse", "postgres", "h2"}
READ_METHODS = {"GET", "HEAD"}
MAX_RESULTS_BARE_ROWS = 2000
TABS_REFUSAL = "This dashboard has tab, makes sure every card has a tab"

# Runs a native SQL text (template variables already substituted): column names and rows.
QueryRunner = Callable[[str], tuple[list[str], list[list[Any]]]]

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    params: dict[str, list[str]]
    body: Any
    headers: dict[str, str]


@dataclass
class _Fault:
    method: str
    path: re.Pattern[str]
    statuses: list[int]
    body: str
    commit: bool = False
    timeout: bool = False


def migrate_visualization_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Metabase's `migrate-viz-settings` (interface.clj), written here from its source."""
    if (settings.get("version") or 1) == 2:
        return dict(settings)
    migrated = dict(settings)
    if settings.get("pie.show_legend"):
        migrated["pie.percent_visibility"] = "inside"
    elif settings.get("pie.show_legend_perecent"):  # [sic], as in Metabase
        migrated["pie.percent_visibility"] = "legend"
    if migrated != settings:
        migrated["version"] = 2
    return migrated


def substitute_template_tags(sql: str, values: dict[str, Any]) -> str:
    """Metabase's native parameter substitution for text and number variables: a text value
    becomes a quoted literal, a number is inlined, and an optional `[[ ... ]]` clause is kept
    only when every variable in it has a value."""

    def literal(name: str) -> str:
        value = values[name]
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"

    def optional(match: re.Match[str]) -> str:
        names = re.findall(r"\{\{\s*(\w+)\s*\}\}", match.group(1))
        return match.group(1) if all(values.get(n) is not None for n in names) else ""

    sql = re.sub(r"\[\[(.*?)\]\]", optional, sql, flags=re.DOTALL)
    missing = [n for n in re.findall(r"\{\{\s*(\w+)\s*\}\}", sql) if values.get(n) is None]
    if missing:
        raise ValueError(
            f"You'll need to pick a value for '{missing[0]}' before this query can run."
        )
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: literal(m.group(1)), sql)


@dataclass
class FakeMetabase:
    """State of one fake instance; `transport()` serves it."""

    publish_setup_token: bool = True
    unhealthy_polls: int = 0
    clickhouse_reachable: bool = True
    version_tag: str = "v0.56.8"
    # Runs the cards' SQL for POST /api/card/:id/query (e.g. on chDB); None answers no rows.
    query_runner: QueryRunner | None = None
    setup_token: str = field(default_factory=lambda: str(uuid.uuid4()))
    users: dict[str, JsonObject] = field(default_factory=dict)
    sessions: dict[str, str] = field(default_factory=dict)
    databases: dict[int, JsonObject] = field(default_factory=dict)
    collections: dict[int, JsonObject] = field(default_factory=dict)
    cards: dict[int, JsonObject] = field(default_factory=dict)
    dashboards: dict[int, JsonObject] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    syncs: list[int] = field(default_factory=list)
    _faults: list[_Fault] = field(default_factory=list)
    _next_id: int = 1

    # -- test controls ---------------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def fail(
        self,
        method: str,
        path_regex: str,
        statuses: list[int],
        body: str = "",
        *,
        commit: bool = False,
        timeout: bool = False,
    ) -> None:
        """Answer the next len(statuses) matching requests with these statuses.

        `commit=True` carries the request out first (the answer is what gets lost);
        `timeout=True` raises httpx.ReadTimeout instead of answering.
        """
        self._faults.append(
            _Fault(method, re.compile(path_regex), list(statuses), body, commit, timeout)
        )

    def archive(self, kind: str, name: str) -> int:
        """Move a card or dashboard to the trash, as the UI does."""
        table = self.cards if kind == "card" else self.dashboards
        object_id = next(i for i, o in table.items() if o["name"] == name and not o["archived"])
        table[object_id]["archived"] = True
        return object_id

    def add_tab(self, dashboard_name: str, tab_name: str = "Tab 1") -> None:
        """Give a dashboard a tab and put its cards on it, as the UI does."""
        dashboard = self.dashboard_named(dashboard_name)
        tab_id = self._id()
        dashboard["tabs"].append({"id": tab_id, "name": tab_name, "position": 0})
        for dashcard in dashboard["dashcards"]:
            dashcard["dashboard_tab_id"] = tab_id

    def writes(self) -> list[tuple[str, str]]:
        return [(r.method, r.path) for r in self.requests if r.method not in READ_METHODS]

    def calls(self) -> list[tuple[str, str]]:
        return [(r.method, r.path) for r in self.requests]

    def reset_log(self) -> None:
        self.requests.clear()

    def card_id(self, name: str) -> int:
        return next(i for i, c in self.cards.items() if c["name"] == name and not c["archived"])

    def card_named(self, name: str) -> JsonObject:
        """The stored card itself (mutating it simulates an edit in the UI)."""
        return self.cards[self.card_id(name)]

    def dashboard_named(self, name: str) -> JsonObject:
        return next(d for d in self.dashboards.values() if d["name"] == name)

    # -- plumbing --------------------------------------------------------------------------

    def _id(self) -> int:
        value = self._next_id
        self._next_id += 1
        return value

    def _handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        params: dict[str, list[str]] = {}
        for key, value in request.url.params.multi_items():
            params.setdefault(key, []).append(value)
        self.requests.append(
            RecordedRequest(request.method, request.url.path, params, body, dict(request.headers))
        )
        for fault in self._faults:
            if (
                fault.statuses
                and fault.method == request.method
                and fault.path.fullmatch(request.url.path)
            ):
                status = fault.statuses.pop(0)
                if fault.commit:
                    self._route_or_error(request, body, params)
                if fault.timeout:
                    raise httpx.ReadTimeout("timed out", request=request)
                return httpx.Response(status, text=fault.body)
        return self._route_or_error(request, body, params)

    def _route_or_error(
        self, request: httpx.Request, body: Any, params: dict[str, list[str]]
    ) -> httpx.Response:
        try:
            return self._route(request, body, params)
        except _ApiError as error:
            return httpx.Response(error.status, json=error.payload)

    def _route(
        self, request: httpx.Request, body: Any, params: dict[str, list[str]]
    ) -> httpx.Response:
        method, path = request.method, request.url.path.rstrip("/")
        if (method, path) == ("GET", "/api/health"):
            if self.unhealthy_polls > 0:
                self.unhealthy_polls -= 1
                return httpx.Response(503, json={"status": "initializing", "progress": 0.3})
            return httpx.Response(200, json={"status": "ok"})
        if (method, path) == ("GET", "/api/session/properties"):
            return _ok(self._properties())
        if (method, path) == ("POST", "/api/setup"):
            return _ok(self._setup(body))
        if (method, path) == ("POST", "/api/session"):
            return _ok(self._login(body))
        self._authenticate(request)
        for pattern, handler in self._routes():
            match = re.fullmatch(pattern, f"{method} {path}")
            if match:
                answer = handler(body, params, *[int(g) for g in match.groups()])
                if isinstance(answer, httpx.Response):
                    return answer
                return _ok(answer)
        raise _ApiError(404, {"message": "API endpoint does not exist."})

    def _routes(self) -> list[tuple[str, Any]]:
        return [
            (r"GET /api/database", self._list_databases),
            (r"POST /api/database", self._create_database),
            (r"GET /api/database/(\d+)", self._get_database),
            (r"PUT /api/database/(\d+)", self._update_database),
            (r"POST /api/database/(\d+)/sync_schema", self._sync_schema),
            (r"GET /api/collection", self._list_collections),
            (r"POST /api/collection", self._create_collection),
            (r"PUT /api/collection/(\d+)", self._update_collection),
            (r"GET /api/collection/(\d+)/items", self._collection_items),
            (r"POST /api/card", self._create_card),
            (r"POST /api/card/(\d+)/query", self._query_card),
            (r"GET /api/card/(\d+)", self._get_card),
            (r"PUT /api/card/(\d+)", self._update_card),
            (r"POST /api/dashboard", self._create_dashboard),
            (r"GET /api/dashboard/(\d+)", self._get_dashboard),
            (r"PUT /api/dashboard/(\d+)", self._update_dashboard),
        ]

    # -- setup and sessions ----------------------------------------------------------------

    def _properties(self) -> JsonObject:
        # Metabase keeps publishing the setup token after the setup (POST /api/setup then
        # rejects it): only has-user-setup tells whether an admin exists.
        token = self.setup_token if self.publish_setup_token else None
        return {
            "has-user-setup": bool(self.users),
            "setup-token": token,
            "version": {"tag": self.version_tag},
            "site-name": "Metabase",
            "engines": {engine: {"driver-name": engine} for engine in sorted(KNOWN_ENGINES)},
        }

    def _setup(self, body: Any) -> JsonObject:
        if self.users:
            raise _ApiError(
                403,
                {
                    "message": "The /api/setup route can only be used to create the first "
                    "user, however a user currently exists."
                },
            )
        if not isinstance(body, dict) or body.get("token") != self.setup_token:
            raise _ApiError(400, {"errors": {"token": "Token does not match the setup token."}})
        user = body.get("user") or {}
        if "@" not in str(user.get("email", "")):
            raise _ApiError(400, {"errors": {"email": "value must be a valid email address."}})
        if len(str(user.get("password", ""))) < 6:
            raise _ApiError(400, {"errors": {"password": "password is too common."}})
        self.users[user["email"]] = {"id": len(self.users) + 1, **user}
        self.collections[self._id()] = {
            "name": f"{user.get('first_name', '')} {user.get('last_name', '')}'s Personal "
            "Collection",
            "location": "/",
            "personal_owner_id": self.users[user["email"]]["id"],
            "archived": False,
            "description": None,
        }
        return {"id": self._new_session(user["email"])}

    def _login(self, body: Any) -> JsonObject:
        body = body or {}
        user = self.users.get(str(body.get("username")))
        if user is None or user["password"] != body.get("password"):
            raise _ApiError(401, {"errors": {"password": "did not match stored password"}})
        return {"id": self._new_session(user["email"])}

    def _new_session(self, email: str) -> str:
        session = str(uuid.uuid4())
        self.sessions[session] = email
        return session

    def _authenticate(self, request: httpx.Request) -> None:
        if request.headers.get("X-Metabase-Session") not in self.sessions:
            raise _ApiError(401, {"message": "Unauthenticated"})

    # -- databases -------------------------------------------------------------------------

    def _public_database(self, database_id: int) -> JsonObject:
        stored = copy.deepcopy(self.databases[database_id])
        if "password" in stored["details"]:
            stored["details"]["password"] = MASKED_PASSWORD
        return {"id": database_id, **stored}

    def _list_databases(self, _body: Any, _params: Any) -> JsonObject:
        # Listings leave out the connection details; GET /api/database/:id has them.
        data = [
            {k: v for k, v in self._public_database(i).items() if k != "details"}
            for i in sorted(self.databases)
        ]
        return {"data": data, "total": len(data)}

    def _get_database(self, _body: Any, _params: Any, database_id: int) -> JsonObject:
        self._require(self.databases, database_id)
        return self._public_database(database_id)

    def _validate_database(self, body: Any) -> JsonObject:
        if not isinstance(body, dict) or not body.get("name"):
            raise _ApiError(400, {"errors": {"name": "value must be a non-blank string."}})
        if body.get("engine") not in KNOWN_ENGINES:
            raise _ApiError(400, {"errors": {"engine": "value must be a valid database engine."}})
        details = body.get("details")
        if not isinstance(details, dict) or not {"host", "port", "user"} <= set(details):
            raise _ApiError(400, {"errors": {"details": "value must be a map."}})
        if not self.clickhouse_reachable:
            raise _ApiError(
                400,
                {"message": "Connection refused", "errors": {"host": "Check your host"}},
            )
        return body

    def _create_database(self, body: Any, _params: Any) -> JsonObject:
        body = self._validate_database(body)
        database_id = self._id()
        self.databases[database_id] = {
            "name": body["name"],
            "engine": body["engine"],
            "details": copy.deepcopy(body["details"]),
            "is_full_sync": body.get("is_full_sync", True),
            "initial_sync_status": "incomplete",
        }
        return self._public_database(database_id)

    def _update_database(self, body: Any, _params: Any, database_id: int) -> JsonObject:
        self._require(self.databases, database_id)
        body = self._validate_database(body)
        stored = self.databases[database_id]
        stored.update(name=body["name"], engine=body["engine"])
        stored["details"] = copy.deepcopy(body["details"])
        return self._public_database(database_id)

    def _sync_schema(self, _body: Any, _params: Any, database_id: int) -> JsonObject:
        self._require(self.databases, database_id)
        self.syncs.append(database_id)
        self.databases[database_id]["initial_sync_status"] = "complete"
        return {"status": "ok"}

    # -- collections -----------------------------------------------------------------------

    def _list_collections(self, _body: Any, _params: Any) -> list[JsonObject]:
        root = {"id": "root", "name": "Our analytics", "location": None, "can_write": True}
        return [root] + [{"id": i, **copy.deepcopy(c)} for i, c in sorted(self.collections.items())]

    def _create_collection(self, body: Any, _params: Any) -> JsonObject:
        if not isinstance(body, dict) or not body.get("name"):
            raise _ApiError(400, {"errors": {"name": "value must be a non-blank string."}})
        parent_id = body.get("parent_id")
        location = "/"
        if parent_id is not None:
            parent = self._require(self.collections, parent_id)
            location = f"{parent['location']}{parent_id}/"
        collection_id = self._id()
        self.collections[collection_id] = {
            "name": body["name"],
            "description": body.get("description"),
            "location": location,
            "personal_owner_id": None,
            "archived": False,
        }
        return {"id": collection_id, **self.collections[collection_id]}

    def _update_collection(self, body: Any, _params: Any, collection_id: int) -> JsonObject:
        stored = self._require(self.collections, collection_id)
        stored.update({k: v for k, v in (body or {}).items() if k in {"name", "description"}})
        return {"id": collection_id, **stored}

    def _collection_items(
        self, _body: Any, params: dict[str, list[str]], collection_id: int
    ) -> JsonObject:
        self._require(self.collections, collection_id)
        models = set(params.get("models", ["card", "dashboard", "collection"]))
        archived = params.get("archived", ["false"])[-1] == "true"
        data: list[JsonObject] = []
        if "card" in models:
            data += [
                {"id": i, "name": c["name"], "model": "card", "description": c["description"]}
                for i, c in sorted(self.cards.items())
                if c["collection_id"] == collection_id and c["archived"] == archived
            ]
        if "dashboard" in models:
            data += [
                {"id": i, "name": d["name"], "model": "dashboard", "description": d["description"]}
                for i, d in sorted(self.dashboards.items())
                if d["collection_id"] == collection_id and d["archived"] == archived
            ]
        return {"data": data, "total": len(data), "models": sorted(models)}

    # -- cards -----------------------------------------------------------------------------

    def _validate_card(self, card: JsonObject) -> None:
        for key in ("name", "display"):
            if not card.get(key):
                raise _ApiError(400, {"errors": {key: "value must be a non-blank string."}})
        if not isinstance(card.get("visualization_settings"), dict):
            raise _ApiError(400, {"errors": {"visualization_settings": "value must be a map."}})
        query = card.get("dataset_query")
        if not isinstance(query, dict) or query.get("database") not in self.databases:
            raise _ApiError(400, {"errors": {"dataset_query": "unknown database"}})
        if query.get("type") == "native":
            native = query.get("native") or {}
            if not native.get("query"):
                raise _ApiError(400, {"errors": {"dataset_query": "native query is empty"}})
            for name, tag in (native.get("template-tags") or {}).items():
                if not {"id", "name", "display-name", "type"} <= set(tag) or tag["name"] != name:
                    raise _ApiError(
                        400, {"errors": {"dataset_query": f"invalid template tag {name!r}"}}
                    )
        collection_id = card.get("collection_id")
        if collection_id is not None:
            self._require(self.collections, collection_id)

    def _create_card(self, body: Any, _params: Any) -> JsonObject:
        card = {
            "description": None,
            "collection_id": None,
            "parameters": [],
            **copy.deepcopy(body or {}),
            "archived": False,
            "query_type": "native",
            "type": "question",
        }
        self._validate_card(card)
        card["visualization_settings"] = migrate_visualization_settings(
            card["visualization_settings"]
        )
        card_id = self._id()
        self.cards[card_id] = card
        return self._get_card(None, None, card_id)

    def _get_card(self, _body: Any, _params: Any, card_id: int) -> JsonObject:
        card = copy.deepcopy(self._require(self.cards, card_id))
        card["visualization_settings"] = migrate_visualization_settings(
            card.get("visualization_settings") or {}
        )
        return {"id": card_id, **card}

    def _update_card(self, body: Any, _params: Any, card_id: int) -> JsonObject:
        stored = self._require(self.cards, card_id)
        updated = {**stored, **copy.deepcopy(body or {})}
        self._validate_card(updated)
        updated["visualization_settings"] = migrate_visualization_settings(
            updated["visualization_settings"]
        )
        self.cards[card_id] = updated
        return self._get_card(None, None, card_id)

    def _query_card(self, _body: Any, _params: Any, card_id: int) -> httpx.Response:
        card = self._require(self.cards, card_id)
        native = card["dataset_query"].get("native") or {}
        tags = native.get("template-tags") or {}
        values = {name: tag.get("default") for name, tag in tags.items()}
        for name, tag in tags.items():
            if tag.get("type") == "number" and values[name] is not None:
                values[name] = (
                    float(values[name]) if "." in str(values[name]) else int(values[name])
                )
        base = {
            "json_query": {
                "constraints": {
                    "max-results": 10000,
                    "max-results-bare-rows": MAX_RESULTS_BARE_ROWS,
                }
            },
            "context": "question",
        }
        try:
            sql = substitute_template_tags(native.get("query", ""), values)
            columns, rows = self.query_runner(sql) if self.query_runner else ([], [])
        except Exception as error:  # Metabase reports the driver's message in the body
            failed = {
                **base,
                "status": "failed",
                "error": str(error),
                "row_count": 0,
                "data": {"rows": [], "cols": []},
            }
            return httpx.Response(202, json=failed)
        data: JsonObject = {
            "rows": [list(row) for row in rows[:MAX_RESULTS_BARE_ROWS]],
            "cols": [{"name": name, "display_name": name, "source": "native"} for name in columns],
        }
        if len(rows) >= MAX_RESULTS_BARE_ROWS:
            data["rows_truncated"] = MAX_RESULTS_BARE_ROWS
        completed = {**base, "status": "completed", "row_count": len(data["rows"]), "data": data}
        return httpx.Response(202, json=json.loads(json.dumps(completed, default=str)))

    # -- dashboards ------------------------------------------------------------------------

    def _create_dashboard(self, body: Any, _params: Any) -> JsonObject:
        if not isinstance(body, dict) or not body.get("name"):
            raise _ApiError(400, {"errors": {"name": "value must be a non-blank string."}})
        if body.get("collection_id") is not None:
            self._require(self.collections, body["collection_id"])
        dashboard_id = self._id()
        self.dashboards[dashboard_id] = {
            "name": body["name"],
            "description": body.get("description"),
            "collection_id": body.get("collection_id"),
            "parameters": copy.deepcopy(body.get("parameters") or []),
            "archived": False,
            "dashcards": [],
            "tabs": [],
        }
        return self._get_dashboard(None, None, dashboard_id)

    def _get_dashboard(self, _body: Any, _params: Any, dashboard_id: int) -> JsonObject:
        stored = copy.deepcopy(self._require(self.dashboards, dashboard_id))
        for dashcard in stored["dashcards"]:
            card_id = dashcard.get("card_id")
            dashcard["card"] = (
                {"id": card_id, **copy.deepcopy(self.cards[card_id])}
                if card_id is not None
                else None
            )
            dashcard["dashboard_id"] = dashboard_id
        return {"id": dashboard_id, **stored}

    def _update_dashboard(self, body: Any, _params: Any, dashboard_id: int) -> JsonObject:
        stored = self._require(self.dashboards, dashboard_id)
        body = body or {}
        for key in ("name", "description", "collection_id", "parameters", "archived"):
            if key in body:
                stored[key] = copy.deepcopy(body[key])
        if "dashcards" in body:
            stored["dashcards"] = self._replace_dashcards(stored, body["dashcards"])
        return self._get_dashboard(None, None, dashboard_id)

    def _replace_dashcards(self, dashboard: JsonObject, wanted: Any) -> list[JsonObject]:
        if not isinstance(wanted, list):
            raise _ApiError(400, {"errors": {"dashcards": "value must be a sequence."}})
        existing_ids = {d["id"] for d in dashboard["dashcards"]}
        parameter_ids = {p["id"] for p in dashboard["parameters"]}
        if dashboard["tabs"] and not all(d.get("dashboard_tab_id") for d in wanted):
            raise _ApiError(400, {"message": TABS_REFUSAL})
        result: list[JsonObject] = []
        for dashcard in wanted:
            for key in ("row", "col", "size_x", "size_y"):
                if not isinstance(dashcard.get(key), int) or dashcard[key] < 0:
                    raise _ApiError(400, {"errors": {"dashcards": f"invalid {key}"}})
            if dashcard["col"] + dashcard["size_x"] > GRID_COLUMNS:
                raise _ApiError(400, {"errors": {"dashcards": "card overflows the grid"}})
            card_id = dashcard.get("card_id")
            settings = dashcard.get("visualization_settings") or {}
            if card_id is None and "virtual_card" not in settings:
                raise _ApiError(400, {"errors": {"dashcards": "card_id or virtual_card needed"}})
            if card_id is not None:
                self._require(self.cards, card_id)
            for mapping in dashcard.get("parameter_mappings") or []:
                if mapping.get("parameter_id") not in parameter_ids:
                    raise _ApiError(
                        400,
                        {"message": f"unknown parameter {mapping.get('parameter_id')!r}"},
                    )
            dashcard_id = dashcard.get("id")
            if not isinstance(dashcard_id, int):
                raise _ApiError(400, {"errors": {"dashcards": "id must be an integer"}})
            if dashcard_id >= 0 and dashcard_id not in existing_ids:
                raise _ApiError(404, {"message": f"dashcard {dashcard_id} not found"})
            new_id = self._id() if dashcard_id < 0 else dashcard_id
            stored = {**copy.deepcopy(dashcard), "id": new_id}
            stored["visualization_settings"] = migrate_visualization_settings(settings)
            result.append(stored)
        return result

    def _require(self, table: dict[int, JsonObject], object_id: Any) -> JsonObject:
        if object_id not in table:
            raise _ApiError(404, {"message": "Not found."})
        return table[object_id]


class _ApiError(Exception):
    def __init__(self, status: int, payload: JsonObject) -> None:
        super().__init__(status)
        self.status = status
        self.payload = payload


def _ok(payload: Any) -> httpx.Response:
    return httpx.Response(200, json=payload)
