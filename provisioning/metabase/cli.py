"""`coins-metabase`: provision Metabase from the files, validate them, or export a dashboard.

    coins-metabase provision [--force-database-update] [--keep-running READY_FILE]
                                                          (the default command)
    coins-metabase validate
    coins-metabase export "Market now"
    coins-metabase schema

Exit status 0 on success, 1 on any provisioning or definition error (the message names the
failing call, its status and Metabase's answer), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import httpx

from producers.env_settings import env_name
from producers.logs import console_script, hide_secrets, secret_values
from producers.reachability import UnreachableError, require_url
from provisioning.metabase.client import MetabaseClient
from provisioning.metabase.definitions import DefinitionError, load_definitions, read_yaml
from provisioning.metabase.errors import MetabaseError
from provisioning.metabase.export import DashboardExporter
from provisioning.metabase.provisioner import Provisioner
from provisioning.metabase.schema import json_schemas, write_schemas
from provisioning.metabase.settings import MetabaseSettings
from provisioning.ready_file import (
    add_keep_running_option,
    clear_ready_file,
    idle_until_stopped,
)

log = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coins-metabase", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--definitions",
        type=Path,
        default=None,
        help="definitions directory (default: METABASE_DEFINITIONS_DIR or ./metabase)",
    )
    parser.set_defaults(force_database_update=False, keep_running=None)
    commands = parser.add_subparsers(dest="command")
    provision = commands.add_parser("provision", help="create or update everything (default)")
    provision.add_argument(
        "--force-database-update",
        action="store_true",
        help="rewrite the ClickHouse connection even if unchanged (e.g. a new password)",
    )
    add_keep_running_option(provision)
    commands.add_parser("validate", help="check the files against the schema, offline")
    export = commands.add_parser("export", help="write a dashboard edited in the UI to files")
    export.add_argument("dashboard", help="the dashboard's name")
    commands.add_parser("schema", help="regenerate the JSON Schemas under <definitions>/schema")
    return parser


def make_client(
    settings: MetabaseSettings, transport: httpx.BaseTransport | None = None
) -> MetabaseClient:
    return MetabaseClient(
        settings.url,
        timeout_seconds=settings.http_timeout_seconds,
        attempts=settings.http_attempts,
        retry_wait_seconds=settings.retry_wait_seconds,
        secrets=secret_values(settings),
        transport=transport,
    )


def validate_files(definitions_dir: Path) -> int:
    """Schema-check every file, then cross-check them; returns the number of files."""
    import jsonschema  # a development dependency: the app image validates with the models only

    schemas = json_schemas()
    count = 0
    for kind, schema in schemas.items():
        validator = jsonschema.Draft202012Validator(schema)
        for path in sorted((definitions_dir / kind).rglob("*.yaml")):
            errors = sorted(validator.iter_errors(read_yaml(path)), key=str)
            if errors:
                where = "/".join(str(p) for p in errors[0].absolute_path) or "(top level)"
                raise DefinitionError(f"{path}: {where}: {errors[0].message}")
            count += 1
    load_definitions(definitions_dir)
    return count


def run(
    argv: Sequence[str] | None = None,
    *,
    settings: MetabaseSettings | None = None,
    transport: httpx.BaseTransport | None = None,
) -> int:
    arguments = _parser().parse_args(argv)
    settings = settings or MetabaseSettings()
    hide_secrets(settings)
    definitions_dir = arguments.definitions or settings.definitions_dir
    command = arguments.command or "provision"
    try:
        if command == "validate":
            count = validate_files(definitions_dir)
            log.info("%d definition files are valid", count)
        elif command == "schema":
            for path in write_schemas(definitions_dir):
                log.info("wrote %s", path)
        elif command == "export":
            with make_client(settings, transport) as client:
                provisioner = Provisioner(client, settings, load_definitions(definitions_dir))
                provisioner.wait_until_healthy()
                provisioner.authenticate()
                written = DashboardExporter(client, definitions_dir).export(arguments.dashboard)
            log.info("export done: %d files changed", len(written))
        else:
            definitions = load_definitions(definitions_dir)
            clear_ready_file(arguments.keep_running)
            with make_client(settings, transport) as client:
                report = Provisioner(client, settings, definitions).run(
                    force_database_update=arguments.force_database_update
                )
            log.info(
                "provisioning done: %d created, %d updated, %d unchanged",
                len(report.created),
                len(report.updated),
                len(report.unchanged),
            )
            for name, link in report.dashboard_links.items():
                log.info("dashboard %r: %s", name, link)
            if arguments.keep_running is not None:
                idle_until_stopped(arguments.keep_running)
    except MetabaseError as error:
        problem: Exception = error
        if transport is None:  # a real network: say the usual cause, with the setting
            try:
                require_url(settings.url, "Metabase", env_name(MetabaseSettings, "url"))
            except UnreachableError as unreachable:
                problem = unreachable
        log.error("%s failed: %s", command, problem)
        return 1
    except DefinitionError as error:
        log.error("%s failed: %s", command, error)
        return 1
    return 0


@console_script
def main(argv: Sequence[str] | None = None) -> int:
    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
