"""`make local` refuses a data directory it cannot reuse with one clear line, deleting nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from embedded.local import MANIFEST, LocalError, check_data_dir, engine_versions
from embedded.settings import LocalSettings
from terminal.store import StoreUnavailableError, holder_of, open_embedded


def _settings(root: Path) -> LocalSettings:
    return LocalSettings(local_dir=root)


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in root.rglob("*") if p.is_file()}


def test_a_new_directory_records_what_wrote_it(tmp_path: Path) -> None:
    root = tmp_path / ".local"
    check_data_dir(_settings(root))
    recorded = json.loads((root / MANIFEST).read_text())
    assert recorded == engine_versions()
    assert set(recorded) == {"layout", "kafka", "clickhouse", "schema (clickhouse/init)"}
    check_data_dir(_settings(root))  # the same version reuses it


def test_a_directory_from_another_version_is_refused_and_kept(tmp_path: Path) -> None:
    root = tmp_path / ".local"
    (root / "kafka" / "data").mkdir(parents=True)
    (root / "kafka" / "data" / "meta.properties").write_text("cluster.id=abc\n")
    older = {**engine_versions(), "kafka": "3.9.0"}
    (root / MANIFEST).write_text(json.dumps(older))
    before = _tree(root)
    with pytest.raises(LocalError) as raised:
        check_data_dir(_settings(root))
    message = str(raised.value)
    assert "\n" not in message
    assert "kafka 3.9.0 (this version: " in message
    assert "Nothing was deleted" in message
    assert _tree(root) == before


def test_a_directory_made_from_other_init_sql_is_refused_and_kept(tmp_path: Path) -> None:
    root = tmp_path / ".local"
    other = {**engine_versions(), "schema (clickhouse/init)": "0123456789abcdef"}
    root.mkdir()
    (root / MANIFEST).write_text(json.dumps(other))
    with pytest.raises(LocalError, match=r"schema \(clickhouse/init\) 0123456789abcdef"):
        check_data_dir(_settings(root))
    assert json.loads((root / MANIFEST).read_text()) == other


def test_a_foreign_directory_is_refused_and_kept(tmp_path: Path) -> None:
    root = tmp_path / ".local"
    root.mkdir()
    (root / "notes.txt").write_text("mine")
    with pytest.raises(LocalError, match=r"has no local\.json.*Nothing was deleted"):
        check_data_dir(_settings(root))
    assert _tree(root) == {"notes.txt": "mine"}


def test_an_unwritten_embedded_store_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailableError, match="run `make local` first"):
        open_embedded(tmp_path / "clickhouse")


def test_a_held_store_names_its_holder(tmp_path: Path) -> None:
    import fcntl

    (tmp_path / "metadata").mkdir()
    with (tmp_path / "status").open("w") as status:
        status.write("PID: 4242\nStarted at: 2026-11-30 23:00:00\n")
        status.flush()
        fcntl.flock(status, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # flock locks belong to the open file description: a second open is a second holder
        assert holder_of(tmp_path) == "PID: 4242"
        with pytest.raises(StoreUnavailableError, match=r"in use by `make local` \(PID: 4242\)"):
            open_embedded(tmp_path)
    assert holder_of(tmp_path) is None
