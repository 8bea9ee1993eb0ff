"""Docker only: the real Metabase of the compose stack, provisioned by the one-shot job.

Logs in with the admin from the environment, finds the five dashboards, runs every card
through the API, and checks that a second provisioning run against the real instance finds
nothing to change (the idempotency the unit tests prove against the fake).

The stack is the session's `compose_stack` (tests/stack/conftest.py: `docker compose up
--wait`, which returns once metabase-provision is healthy, i.e. done); with METABASE_URL set,
an already running stack is used instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from provisioning.metabase.client import MetabaseClient
from provisioning.metabase.definitions import load_definitions
from provisioning.metabase.provisioner import Provisioner
from provisioning.metabase.settings import MetabaseSettings
from tests.support.metabase_columns import referenced_columns
from tests.support.waiting import eventually

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFINITIONS = load_definitions(REPO_ROOT / "metabase")
STARTUP_DEADLINE_SECONDS = 900
POLL_SECONDS = 5


@pytest.fixture(scope="module")
def metabase_url(request: pytest.FixtureRequest) -> str:
    """METABASE_URL (a stack already running), else the session's compose stack."""
    url = os.environ.get("METABASE_URL")
    if url:
        return url
    stack = request.getfixturevalue("compose_stack")
    return str(stack.url("METABASE_HOST_PORT"))


def poll(description: str, attempt: Any) -> Any:
    """Call `attempt` until it returns something truthy, or fail at the deadline."""
    return eventually(
        attempt,
        within=STARTUP_DEADLINE_SECONDS,
        what=description,
        interval=POLL_SECONDS,
        retrying=(httpx.HTTPError, KeyError, StopIteration),
    )


@pytest.fixture(scope="module")
def settings(metabase_url: str) -> MetabaseSettings:
    return MetabaseSettings(url=metabase_url, retry_wait_seconds=2)


@pytest.fixture(scope="module")
def session(settings: MetabaseSettings) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=settings.url, timeout=120) as http:
        poll("GET /api/health", lambda: http.get("/api/health").status_code == 200)

        def log_in() -> str:
            answer = http.post(
                "/api/session",
                json={
                    "username": settings.admin_email,
                    "password": settings.admin_password.get_secret_value(),
                },
            )
            return str(answer.json()["id"]) if answer.status_code == 200 else ""

        http.headers["X-Metabase-Session"] = poll("admin login (provisioning job)", log_in)
        yield http


@pytest.fixture(scope="module")
def dashboards(session: httpx.Client) -> dict[str, int]:
    def find() -> dict[str, int]:
        collections = session.get("/api/collection").json()
        home = next(c for c in collections if c.get("name") == "Crypto stream")
        items = session.get(
            f"/api/collection/{home['id']}/items", params={"models": "dashboard"}
        ).json()
        found = {i["name"]: i["id"] for i in items.get("data", items)}
        wanted = {d.name for d in DEFINITIONS.dashboards}
        return found if wanted <= set(found) else {}

    return dict(poll("the five provisioned dashboards", find))


def test_the_five_dashboards_exist_with_every_card(
    session: httpx.Client, dashboards: dict[str, int]
) -> None:
    for definition in DEFINITIONS.dashboards:
        stored = session.get(f"/api/dashboard/{dashboards[definition.name]}").json()
        assert len(stored["dashcards"]) == len(definition.cards), definition.name


def test_every_card_runs_without_error_and_returns_its_chart_columns(
    session: httpx.Client, dashboards: dict[str, int]
) -> None:
    problems: list[str] = []
    for name, dashboard_id in dashboards.items():
        stored = session.get(f"/api/dashboard/{dashboard_id}").json()
        for dashcard in stored["dashcards"]:
            card_id = dashcard.get("card_id")
            if card_id is None:
                continue
            answer = session.post(f"/api/card/{card_id}/query")
            body = answer.json()
            card_name = dashcard["card"]["name"]
            if answer.status_code >= 400 or body.get("status") != "completed":
                problems.append(f"{name} / {card_name}: {answer.status_code} {body.get('error')}")
                continue
            columns = {col["name"] for col in body["data"]["cols"]}
            settings = DEFINITIONS.question(card_name).visualization_settings
            missing = referenced_columns(settings) - columns
            if missing:
                problems.append(f"{name} / {card_name}: missing columns {missing}")
    assert problems == []


def test_a_second_provisioning_run_changes_nothing(settings: MetabaseSettings) -> None:
    with MetabaseClient(settings.url, retry_wait_seconds=2) as client:
        report = Provisioner(client, settings, DEFINITIONS).run()
    assert report.created == []
    assert report.updated == []
