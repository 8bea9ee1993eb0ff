"""Provision Metabase from the definition files: setup, connection, sync, then content by name.

The run is idempotent: every object is looked up by name, compared with its definition, and
written only when it differs, so a second run against an unchanged instance only reads
(its one write-shaped call is the login, POST /api/session).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from producers.retry import Deadline, NotReadyError, RetryPolicy, retry_sync
from provisioning.metabase.client import JsonObject, MetabaseClient
from provisioning.metabase.definitions import CollectionDefinition, Definitions
from provisioning.metabase.errors import (
    ContractError,
    MetabaseApiError,
    MetabaseError,
    MetabaseUnreachableError,
    SetupTokenMissingError,
)
from provisioning.metabase.payloads import (
    card_differences,
    card_payload,
    dashboard_differences,
    dashboard_payload,
    dashcards_payload,
)
from provisioning.metabase.settings import MetabaseSettings

log = logging.getLogger(__name__)

HEALTH_POLL_SECONDS = 2.0
CLICKHOUSE_ENGINE = "clickhouse"
# Connection details compared with what Metabase holds; the password is write-only (the API
# returns it masked), so it is only sent when the connection is created or updated.
_COMPARED_DETAILS = ("host", "port", "user", "dbname", "ssl")


@dataclass
class ProvisionReport:
    """What a run did, object by object ("kind 'name'")."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    dashboard_links: dict[str, str] = field(default_factory=dict)

    @property
    def changed_anything(self) -> bool:
        return bool(self.created or self.updated)


class Provisioner:
    """One provisioning run against one Metabase instance."""

    def __init__(
        self,
        client: MetabaseClient,
        settings: MetabaseSettings,
        definitions: Definitions,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._settings = settings
        self._definitions = definitions
        self._sleep = sleep
        self._monotonic = monotonic
        self.report = ProvisionReport()

    def run(self, *, force_database_update: bool = False) -> ProvisionReport:
        self.wait_until_healthy()
        self.authenticate()
        database_id = self.ensure_database(force_update=force_database_update)
        collection_ids = self.ensure_collections()
        card_ids = self.ensure_questions(database_id, collection_ids)
        self.ensure_dashboards(collection_ids, card_ids)
        return self.report

    # -- readiness and identity -------------------------------------------------------------

    def wait_until_healthy(self) -> None:
        """Poll GET /api/health until it answers 200; Metabase's first boot takes minutes."""

        def healthy() -> None:
            status = self._client.probe("/api/health")
            if status != 200:
                log.info("waiting for metabase: GET /api/health -> %s", status)
                raise NotReadyError(f"last status: {status}")

        timeout = self._settings.health_timeout_seconds
        try:
            retry_sync(
                healthy,
                RetryPolicy.every(HEALTH_POLL_SECONDS),
                deadline=Deadline.after(timeout, self._monotonic),
                sleep=self._sleep,
            )
        except NotReadyError as error:
            raise MetabaseError(
                f"GET /api/health did not answer 200 within {timeout:.0f} s ({error})"
            ) from None

    def authenticate(self) -> None:
        """Create the admin on first run (POST /api/setup), otherwise log in."""
        properties = self._client.get_object("/api/session/properties")
        has_admin = properties.get("has-user-setup")
        token = properties.get("setup-token") or properties.get("setup_token")
        if has_admin is True or (has_admin is None and not token):
            self.log_in()
            return
        if not token:
            raise SetupTokenMissingError(
                "GET /api/session/properties: Metabase has no admin yet but published no "
                "setup-token; finish the setup in the browser or reset the application database"
            )
        try:
            answer = self._post_setup(token)
        except (MetabaseUnreachableError, MetabaseApiError) as error:
            if not _maybe_processed(error):
                raise
            # The setup may have happened although its answer was lost: look, then log in.
            if self._client.get_object("/api/session/properties").get("has-user-setup") is True:
                log.warning("POST /api/setup got no answer but the admin exists; logging in")
                self.log_in()
                self.report.created.append(f"admin {self._settings.admin_email!r}")
                return
            raise
        self._client.use_session(_session_id(answer, "POST /api/setup"))
        log.info("metabase setup done: admin %s created", self._settings.admin_email)
        self.report.created.append(f"admin {self._settings.admin_email!r}")

    def _post_setup(self, token: str) -> Any:
        return self._client.post(
            "/api/setup",
            {
                "token": token,
                "user": {
                    "email": self._settings.admin_email,
                    "password": self._settings.admin_password.get_secret_value(),
                    "first_name": self._settings.admin_first_name,
                    "last_name": self._settings.admin_last_name,
                    "site_name": self._settings.site_name,
                },
                "prefs": {"site_name": self._settings.site_name, "allow_tracking": False},
            },
        )

    def log_in(self) -> None:
        """Log in as the admin of the settings (an existing instance)."""
        try:
            answer = self._client.post(
                "/api/session",
                {
                    "username": self._settings.admin_email,
                    "password": self._settings.admin_password.get_secret_value(),
                },
            )
        except MetabaseApiError as error:
            if error.status in (400, 401):
                raise MetabaseError(
                    f"{error}. Metabase already has an admin and rejected "
                    f"{self._settings.admin_email!r} with METABASE_ADMIN_PASSWORD"
                ) from error
            raise
        self._client.use_session(_session_id(answer, "POST /api/session"))
        log.info("logged in to metabase as %s", self._settings.admin_email)

    # -- the ClickHouse connection ----------------------------------------------------------

    def _desired_details(self) -> JsonObject:
        s = self._settings
        return {
            "host": s.clickhouse_host,
            "port": s.clickhouse_port,
            "user": s.clickhouse_user,
            "password": s.clickhouse_password.get_secret_value(),
            "dbname": s.clickhouse_database,
            "ssl": s.clickhouse_ssl,
            "scan-all-databases": False,
        }

    def ensure_database(self, *, force_update: bool = False) -> int:
        """The ClickHouse connection (read-only user), created or corrected, then synced."""
        name = self._settings.database_name
        label = f"database {name!r}"
        details = self._desired_details()
        body: JsonObject = {
            "name": name,
            "engine": CLICKHOUSE_ENGINE,
            "details": details,
            "is_full_sync": True,
            "auto_run_queries": True,
        }
        existing = next(
            (db for db in self._client.get_list("/api/database") if db.get("name") == name), None
        )
        if existing is None:
            created = self._client.post("/api/database", body)
            database_id = _object_id(created, "POST /api/database")
            self.report.created.append(label)
            log.info("%s: created (id %d)", label, database_id)
        else:
            database_id = _object_id(existing, "GET /api/database")
            # The listing may leave details out; the single database always has them.
            stored = self._client.get_object(f"/api/database/{database_id}").get("details") or {}
            drift = [key for key in _COMPARED_DETAILS if stored.get(key) != details[key]]
            if existing.get("engine") != CLICKHOUSE_ENGINE:
                drift.append("engine")
            if not drift and not force_update:
                self.report.unchanged.append(label)
                log.info("%s: unchanged (id %d)", label, database_id)
                return database_id
            self._client.put(f"/api/database/{database_id}", body)
            self.report.updated.append(label)
            log.info("%s: updated %s", label, drift or ["password (forced)"])
        self._client.post(f"/api/database/{database_id}/sync_schema")
        log.info("%s: schema sync started", label)
        return database_id

    # -- collections, questions, dashboards -------------------------------------------------

    def ensure_collections(self) -> dict[str, int]:
        stored = [
            c
            for c in self._client.get_list("/api/collection")
            if isinstance(c.get("id"), int)
            and not c.get("archived")
            and c.get("personal_owner_id") is None
        ]
        ids: dict[str, int] = {}
        # Metabase's `location` of a collection is the path of its ancestors' ids: "/" at the
        # top, "/12/" inside collection 12, "/3/12/" one level deeper.
        child_locations: dict[str, str] = {}
        for definition in self._definitions.collections_parents_first():
            location = "/" if definition.parent is None else child_locations[definition.parent]
            ids[definition.name] = self._ensure_collection(definition, location, stored)
            child_locations[definition.name] = f"{location}{ids[definition.name]}/"
        return ids

    def _ensure_collection(
        self, definition: CollectionDefinition, location: str, stored: list[JsonObject]
    ) -> int:
        label = f"collection {definition.name!r}"
        match = next(
            (
                c
                for c in stored
                if c.get("name") == definition.name and (c.get("location") or "/") == location
            ),
            None,
        )
        description = definition.description or None
        if match is None:
            parent_id = int(location.rstrip("/").rsplit("/", 1)[-1]) if location != "/" else None

            def find() -> int | None:
                for collection in self._client.get_list("/api/collection"):
                    if (
                        collection.get("name") == definition.name
                        and (collection.get("location") or "/") == location
                        and isinstance(collection.get("id"), int)
                    ):
                        return int(collection["id"])
                return None

            collection_id = self._create(
                "/api/collection",
                {"name": definition.name, "description": description, "parent_id": parent_id},
                find,
            )
            self.report.created.append(label)
            log.info("%s: created (id %d)", label, collection_id)
            return collection_id
        collection_id = _object_id(match, "GET /api/collection")
        if (match.get("description") or None) != description:
            self._client.put(f"/api/collection/{collection_id}", {"description": description})
            self.report.updated.append(label)
            log.info("%s: updated ['description']", label)
        else:
            self.report.unchanged.append(label)
        return collection_id

    def _index(self, collection_ids: dict[str, int], model: str) -> dict[str, int]:
        """Name -> id of the existing `model` objects in the managed collections (first wins)."""
        index: dict[str, int] = {}
        for collection_id in collection_ids.values():
            items = self._client.get_list(
                f"/api/collection/{collection_id}/items", {"models": model}
            )
            for item in items:
                name, item_id = item.get("name"), item.get("id")
                if item.get("model", model) != model or not isinstance(name, str):
                    continue
                if not isinstance(item_id, int):
                    raise ContractError(f"collection {collection_id} item {name!r} has no id")
                if name in index:
                    log.warning("two %ss named %r; managing id %d", model, name, index[name])
                    continue
                index[name] = item_id
        return index

    def _archived_index(self, collection_ids: dict[str, int], model: str) -> dict[str, int]:
        """Name -> id of the `model` objects of the managed collections that are in the trash.

        Trashed (archived) items leave the normal listing but keep their collection
        (`GET /api/collection/:id/items?archived=true`); restoring one keeps its id, its
        links and its history instead of creating a look-alike.
        """
        index: dict[str, int] = {}
        for collection_id in collection_ids.values():
            items = self._client.get_list(
                f"/api/collection/{collection_id}/items", {"models": model, "archived": "true"}
            )
            for item in items:
                name, item_id = item.get("name"), item.get("id")
                if isinstance(name, str) and isinstance(item_id, int):
                    index.setdefault(name, item_id)
        return index

    def _create(self, path: str, body: JsonObject, find: Callable[[], int | None]) -> int:
        """POST a new object; when the answer is lost, look for it before posting again.

        A POST that timed out (or got a 500/502/504) may have created the object: posting
        again would make a duplicate, so the object is looked up by name first.
        """
        try:
            return _object_id(self._client.post(path, body), f"POST {path}")
        except (MetabaseUnreachableError, MetabaseApiError) as error:
            if not _maybe_processed(error):
                raise
            found = find()
            if found is not None:
                log.warning("POST %s got no answer but the object exists (id %d)", path, found)
                return found
            log.warning("POST %s got no answer and created nothing; posting again", path)
            return _object_id(self._client.post(path, body), f"POST {path}")

    def _find_in_collection(self, collection_id: int, model: str, name: str) -> int | None:
        for item in self._client.get_list(
            f"/api/collection/{collection_id}/items", {"models": model}
        ):
            if item.get("name") == name and isinstance(item.get("id"), int):
                return int(item["id"])
        return None

    def ensure_questions(self, database_id: int, collection_ids: dict[str, int]) -> dict[str, int]:
        existing = self._index(collection_ids, "card")
        if any(q.name not in existing for q in self._definitions.questions):
            trashed = self._archived_index(collection_ids, "card")
            for name, card_id in trashed.items():
                if name not in existing:
                    log.info("question %r: found in the trash (id %d), restoring it", name, card_id)
                    existing[name] = card_id
        card_ids: dict[str, int] = {}
        for question in self._definitions.questions:
            label = f"question {question.name!r}"
            payload = card_payload(
                question,
                database_id=database_id,
                collection_id=collection_ids[question.collection],
            )
            found = existing.get(question.name)
            if found is None:
                card_ids[question.name] = self._create(
                    "/api/card",
                    payload,
                    partial(
                        self._find_in_collection,
                        collection_ids[question.collection],
                        "card",
                        question.name,
                    ),
                )
                self.report.created.append(label)
                log.info("%s: created (id %d)", label, card_ids[question.name])
                continue
            card_ids[question.name] = found
            stored = self._client.get_object(f"/api/card/{found}")
            differences = card_differences(payload, stored)
            if not differences:
                self.report.unchanged.append(label)
                continue
            self._client.put(f"/api/card/{found}", {**payload, "archived": False})
            self.report.updated.append(label)
            log.info("%s: updated %s", label, differences)
        return card_ids

    def ensure_dashboards(self, collection_ids: dict[str, int], card_ids: dict[str, int]) -> None:
        existing = self._index(collection_ids, "dashboard")
        if any(d.name not in existing for d in self._definitions.dashboards):
            trashed = self._archived_index(collection_ids, "dashboard")
            for name, dashboard_id in trashed.items():
                if name not in existing:
                    log.info(
                        "dashboard %r: found in the trash (id %d), restoring", name, dashboard_id
                    )
                    existing[name] = dashboard_id
        for dashboard in self._definitions.dashboards:
            label = f"dashboard {dashboard.name!r}"
            payload = dashboard_payload(
                dashboard, collection_id=collection_ids[dashboard.collection]
            )
            dashcards = dashcards_payload(dashboard, card_ids)
            found = existing.get(dashboard.name)
            if found is None:
                dashboard_id = self._create(
                    "/api/dashboard",
                    payload,
                    partial(
                        self._find_in_collection,
                        collection_ids[dashboard.collection],
                        "dashboard",
                        dashboard.name,
                    ),
                )
                self._client.put(
                    f"/api/dashboard/{dashboard_id}", {**payload, "dashcards": dashcards}
                )
                self.report.created.append(label)
                log.info("%s: created (id %d)", label, dashboard_id)
            else:
                dashboard_id = found
                stored = self._client.get_object(f"/api/dashboard/{dashboard_id}")
                differences = dashboard_differences(payload, dashcards, stored)
                if differences:
                    if stored.get("tabs"):
                        raise DashboardTabsError(_tabs_advice(dashboard.name, dashboard_id))
                    try:
                        self._client.put(
                            f"/api/dashboard/{dashboard_id}",
                            {**payload, "archived": False, "dashcards": dashcards},
                        )
                    except MetabaseApiError as error:
                        if error.status == 400 and TABS_REFUSAL in error.body:
                            raise DashboardTabsError(
                                f"{error}. {_tabs_advice(dashboard.name, dashboard_id)}"
                            ) from error
                        raise
                    self.report.updated.append(label)
                    log.info("%s: updated %s", label, differences)
                else:
                    self.report.unchanged.append(label)
            link = f"{self._settings.public_url.rstrip('/')}/dashboard/{dashboard_id}"
            if dashboard.auto_refresh_seconds:
                link += f"#refresh={dashboard.auto_refresh_seconds}"
            self.report.dashboard_links[dashboard.name] = link


# Metabase's answer to a PUT /api/dashboard/:id whose dashcards have no tab while the dashboard
# has tabs (`update-dashboard!` in src/metabase/dashboards_rest/api.clj).
TABS_REFUSAL = "This dashboard has tab, makes sure every card has a tab"


class DashboardTabsError(MetabaseError):
    """A dashboard was given tabs in the UI; the files describe one page of cards."""


def _tabs_advice(name: str, dashboard_id: int) -> str:
    return (
        f"dashboard {name!r} (id {dashboard_id}) has tabs, added in the Metabase UI; the files "
        "in metabase/dashboards describe one page of cards, so it cannot be updated from them. "
        "Either remove the tabs in the UI (edit the dashboard, open each tab's menu, Delete) "
        "and provision again, or keep the UI version: rename or move that dashboard out of the "
        "managed collection, and the next run creates a fresh one from the files"
    )


def _maybe_processed(error: MetabaseError) -> bool:
    """True when a failed POST may still have been carried out by Metabase."""
    if isinstance(error, MetabaseUnreachableError):
        return True
    return isinstance(error, MetabaseApiError) and error.status in (500, 502, 504)


def _object_id(answer: Any, call: str) -> int:
    if isinstance(answer, dict) and isinstance(answer.get("id"), int):
        return int(answer["id"])
    raise ContractError(f"{call}: the answer has no integer 'id'")


def _session_id(answer: Any, call: str) -> str:
    if isinstance(answer, dict) and isinstance(answer.get("id"), str) and answer["id"]:
        return str(answer["id"])
    raise ContractError(f"{call}: the answer has no session 'id'")
