"""requirements/*.lock cover pyproject.toml: every dependency pinned, inside its range, hashed.

pyproject.toml keeps open ranges for library users; `make install`, CI and the app image install
the hash-locked files that `make lock` resolves from it. A dependency added to pyproject.toml
without `make lock` would be missing from every install: this test fails first.
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.commands import run_command

ROOT = Path(__file__).resolve().parents[2]
LOCK_DIR = ROOT / "requirements"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)(?:\s*;\s*(?P<marker>[^\\]+?))?\s*\\?$"
)


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    marker: str | None
    hashes: tuple[str, ...]


def read_lock(path: Path) -> list[Pin]:
    pins: list[Pin] = []
    name = version = marker = None
    hashes: list[str] = []
    for line in path.read_text().splitlines():
        match = PIN.match(line)
        if match:
            if name is not None and version is not None:
                pins.append(Pin(name, version, marker, tuple(hashes)))
            name = canonicalize_name(match.group("name"))
            version, marker, hashes = match.group("version"), match.group("marker"), []
        elif line.strip().startswith("--hash=sha256:"):
            hashes.append(line.strip().removeprefix("--hash=sha256:").rstrip(" \\"))
        else:
            assert not line or line.startswith(("#", " ")), f"{path.name}: unexpected {line!r}"
    if name is not None and version is not None:
        pins.append(Pin(name, version, marker, tuple(hashes)))
    return pins


LOCKS = {
    "build": read_lock(LOCK_DIR / "build.lock"),
    "runtime": read_lock(LOCK_DIR / "runtime.lock"),
    "dev": read_lock(LOCK_DIR / "dev.lock"),
}
REQUIRED = {
    "build": PYPROJECT["build-system"]["requires"],
    "runtime": PYPROJECT["project"]["dependencies"],
    "dev": PYPROJECT["project"]["dependencies"]
    + PYPROJECT["project"]["optional-dependencies"]["dev"],
}
PYTHON_311 = {"python_version": "3.11", "python_full_version": "3.11.0"}


def _pins_for_python_311(lock: str) -> dict[str, Pin]:
    """The pins an interpreter of the oldest supported Python (3.11) on Linux installs."""
    environment = {"sys_platform": "linux", "platform_system": "Linux", **PYTHON_311}
    chosen: dict[str, Pin] = {}
    for pin in LOCKS[lock]:
        if pin.marker is None or Marker(pin.marker).evaluate(environment):
            assert pin.name not in chosen, f"{lock}.lock pins {pin.name} twice for Python 3.11"
            chosen[pin.name] = pin
    return chosen


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_pyproject_dependency_is_pinned_inside_its_range(lock: str) -> None:
    pins = _pins_for_python_311(lock)
    for text in REQUIRED[lock]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is in pyproject.toml but not in {lock}.lock: run make lock"
        assert requirement.specifier.contains(pins[name].version, prereleases=True), (
            f"{lock}.lock pins {name}=={pins[name].version}, outside pyproject's {requirement}"
        )


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_pin_is_exact_and_hashed(lock: str) -> None:
    assert LOCKS[lock]
    for pin in LOCKS[lock]:
        assert pin.hashes, f"{lock}.lock: {pin.name} has no hash"
        assert all(re.fullmatch(r"[0-9a-f]{64}", digest) for digest in pin.hashes), pin.name


def test_the_test_engine_is_locked_at_pyprojects_exact_version() -> None:
    (declared,) = [
        Requirement(text)
        for text in PYPROJECT["project"]["optional-dependencies"]["dev"]
        if canonicalize_name(Requirement(text).name) == "chdb-core"
    ]
    (exact,) = [spec for spec in declared.specifier if spec.operator == "=="]
    assert _pins_for_python_311("dev")["chdb-core"].version == exact.version


def test_the_image_runs_the_versions_the_tests_ran() -> None:
    runtime = _pins_for_python_311("runtime")
    dev = _pins_for_python_311("dev")
    assert set(runtime) <= set(dev)
    for name, pin in runtime.items():
        assert (pin.version, pin.hashes) == (dev[name].version, dev[name].hashes), name


def test_every_install_goes_through_the_locks() -> None:
    makefile = (ROOT / "Makefile").read_text()
    dockerfile = (ROOT / "Dockerfile").read_text()
    installs = re.findall(r"pip install ([^\n]+)", makefile + dockerfile)
    assert installs
    for arguments in installs:
        # either everything from a lock with hashes, or only our own package without deps
        assert "--require-hashes" in arguments or "--no-deps" in arguments, arguments
    assert "-r $(LOCK_DIR)/dev.lock" in makefile
    assert "-r requirements/runtime.lock" in dockerfile
    # CI and .ci/run reach pip only through make (install, lint, test)
    workflows = "".join(path.read_text() for path in (ROOT / ".github/workflows").glob("*.yml"))
    ci_script = (ROOT / ".ci" / "run").read_text()
    assert "pip install" not in workflows + ci_script


def test_setuptools_reads_the_project_metadata_without_a_warning() -> None:
    """License as an SPDX expression plus license-files (setuptools >= 77): no deprecation."""
    read = (
        "from setuptools.dist import Distribution\n"
        "from setuptools.config.pyprojecttoml import apply_configuration\n"
        "metadata = apply_configuration(Distribution(), 'pyproject.toml').metadata\n"
        "print(metadata.license_expression, *metadata.license_files)\n"
    )
    result = run_command([sys.executable, "-W", "error", "-c", read], cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["MIT", "LICENSE"]
