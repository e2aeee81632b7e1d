"""docker-compose.yml and the Dockerfile checked against what the project provides
(no Docker engine here: the file is parsed and each service compared with the CLI,
the settings and the house rules)."""

from __future__ import annotations

import re
from typing import Any

import click
import pytest
import yaml
from services import ROOT

from newsclf.cli import COMMANDS, LazyGroup, cli
from newsclf.settings import Settings

COMPOSE = ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def resolve(command: list[str]) -> click.Command:
    """The click command that ``newsclf <command...>`` runs; fails on unknown commands or options."""
    ctx = click.Context(cli)
    group: click.Command = cli
    args = list(command)
    while isinstance(group, click.Group) and args and not args[0].startswith("-"):
        name = args.pop(0)
        sub = group.get_command(ctx, name)
        assert sub is not None, f"newsclf has no command {name!r}"
        group = sub
    group.make_context(group.name or "newsclf", list(args), resilient_parsing=False)
    return group


def test_the_services_a_deployment_needs_are_all_there(compose: dict[str, Any]) -> None:
    assert {"redis", "postgres", "migrate", "trainer", "worker", "beat"} <= set(compose["services"])
    assert "train" in compose["services"]["trainer"]["profiles"]


def test_every_newsclf_service_runs_a_real_command_with_valid_options(
    compose: dict[str, Any],
) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["newsclf"]' in dockerfile
    newsclf_services = [
        s for s in compose["services"].values() if s.get("image") == "newsclf:latest"
    ]
    assert len(newsclf_services) >= 5
    for service in newsclf_services:
        command = service["command"]
        assert command[0] in COMMANDS, command
        resolve(command)


def test_compose_environment_names_only_real_settings(compose: dict[str, Any]) -> None:
    fields = {f"NEWSCLF_{name.upper()}" for name in Settings.model_fields}
    named = 0
    for name, service in compose["services"].items():
        for key in service.get("environment") or {}:
            if key.startswith("NEWSCLF_"):
                assert key in fields, f"{name}: {key} is not a setting"
                named += 1
    assert named, "compose sets no NEWSCLF_ setting at all: nothing was checked"
    for name in ("worker", "beat", "migrate"):
        environment = compose["services"][name].get("environment") or {}
        assert {"NEWSCLF_DATABASE_URL", "NEWSCLF_BROKER_URL"} <= set(environment), name


def test_ports_are_bound_to_loopback_and_secrets_are_required(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
            # The host port is configurable, for hosts that already run PostgreSQL or Redis.
            assert re.fullmatch(r"127\.0\.0\.1:\$\{NEWSCLF_\w+_PORT:-\d+\}:\d+", str(port)), (
                f"{name}: host port of {port} is not ${{NEWSCLF_..._PORT:-default}}"
            )
        for key, value in (service.get("environment") or {}).items():
            if "PASSWORD" in key:
                assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", str(value)), (
                    f"{name}: {key} is not ${{VAR:?}}"
                )
            if key == "NEWSCLF_DATABASE_URL":
                assert re.search(r"://\w+:\$\{\w+:\?[^}]*\}@", value), (
                    f"{name}: password not from env"
                )


def test_services_wait_for_healthy_dependencies(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert "healthcheck" in services["redis"] and "healthcheck" in services["postgres"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("worker", "beat"):
        deps = services[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully"
        assert deps["redis"]["condition"] == "service_healthy"


def test_redis_keeps_messages_on_disk_and_never_evicts_them(compose: dict[str, Any]) -> None:
    command = " ".join(compose["services"]["redis"]["command"])
    assert "--appendonly yes" in command and "--maxmemory-policy noeviction" in command


def test_the_worker_is_scalable_and_the_image_runs_as_a_user(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    assert "container_name" not in worker and "ports" not in worker  # --scale worker=N works
    assert re.search(r"^USER (?!root)\w+", (ROOT / "Dockerfile").read_text(), flags=re.M)


def test_the_lazy_cli_lists_only_importable_commands() -> None:
    ctx = click.Context(cli)
    group = cli
    assert isinstance(group, LazyGroup)
    for name in group.list_commands(ctx):
        assert group.get_command(ctx, name) is not None


def test_the_app_connects_as_its_own_role_and_the_superuser_is_for_postgres_only(
    compose: dict[str, Any],
) -> None:
    postgres = compose["services"]["postgres"]
    env = postgres["environment"]
    assert env["POSTGRES_USER"] == "postgres"
    assert re.fullmatch(r"\$\{NEWSCLF_DB_PASSWORD:\?[^}]*\}", env["APP_DB_PASSWORD"])
    assert "./deploy/postgres-init:/docker-entrypoint-initdb.d:ro" in postgres["volumes"]
    assert (ROOT / "deploy" / "postgres-init" / "10-newsclf-app-role.sh").stat().st_mode & 0o111
    for name, service in compose["services"].items():
        url = (service.get("environment") or {}).get("NEWSCLF_DATABASE_URL")
        if url:
            assert url.startswith("postgresql://newsclf:${NEWSCLF_DB_PASSWORD:?"), name
            assert "POSTGRES_PASSWORD" not in url, f"{name} connects as the superuser"


def test_redis_requires_a_password_from_the_environment_and_every_client_gives_it(
    compose: dict[str, Any],
) -> None:
    redis = compose["services"]["redis"]
    command = redis["command"]
    assert command[command.index("--requirepass") + 1].startswith("${REDIS_PASSWORD:?")
    assert redis["environment"]["REDISCLI_AUTH"].startswith("${REDIS_PASSWORD:?")  # healthcheck
    urls = {
        name: value
        for name, service in compose["services"].items()
        for key, value in (service.get("environment") or {}).items()
        if key in ("NEWSCLF_BROKER_URL", "CELERY_BROKER_URL")
    }
    assert {"worker", "beat", "flower"} <= set(urls)
    for name, url in urls.items():
        assert url.startswith("redis://:${REDIS_PASSWORD:?"), f"{name}: {url}"
    for name, service in compose["services"].items():  # never a secret in a command line
        assert "redis://" not in " ".join(map(str, service.get("command") or [])), name


def test_flower_refuses_to_start_without_basic_auth(compose: dict[str, Any]) -> None:
    import subprocess

    flower = compose["services"]["flower"]
    assert flower["environment"]["FLOWER_BASIC_AUTH"] == "${FLOWER_BASIC_AUTH:-}"
    shell, flag, script = flower["command"]
    assert (shell, flag) == ("sh", "-c") and script.endswith("exec celery flower --port=5555")
    check = script.replace("$$", "$").split("; exec ")[0]  # compose turns $$ into $
    refused = subprocess.run(["sh", "-c", check], env={"FLOWER_BASIC_AUTH": ""},
                             capture_output=True, text=True)  # fmt: skip
    assert refused.returncode == 2 and "set FLOWER_BASIC_AUTH" in refused.stderr
    allowed = subprocess.run(["sh", "-c", check], env={"FLOWER_BASIC_AUTH": "u:p"})
    assert allowed.returncode == 0


def test_the_init_script_makes_a_role_that_owns_the_database_and_nothing_more(
    pg_url: str, tmp_path: Any
) -> None:
    import os
    import subprocess
    import uuid

    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    from newsclf.schema.db import upgrade

    server = make_url(pg_url)
    role = "newsclf_app_" + uuid.uuid4().hex[:8]
    env = {**os.environ, "POSTGRES_USER": server.username or "postgres",
           "POSTGRES_DB": server.database or "", "APP_DB_USER": role,
           "APP_DB_PASSWORD": "s3cret'--", "PGHOST": server.host or "127.0.0.1",
           "PGPORT": str(server.port or 5432)}  # fmt: skip
    try:
        made = subprocess.run(["sh", str(ROOT / "deploy/postgres-init/10-newsclf-app-role.sh")],
                              env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
        assert made.returncode == 0, made.stderr
        with psycopg.connect(pg_url, autocommit=True) as conn:
            flags = conn.execute(
                "SELECT rolsuper, rolcreaterole, rolcreatedb, rolcanlogin FROM pg_roles"
                " WHERE rolname = %s", [role],
            ).fetchone()  # fmt: skip
            owner = conn.execute(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s",
                [server.database],
            ).fetchone()
        assert flags == (False, False, False, True) and owner == (role,)
        app_url = server.set(username=role, password=None).render_as_string(hide_password=False)
        upgrade(app_url)  # the app's role migrates its own database
        with psycopg.connect(pg_url) as conn:
            tables = conn.execute(
                "SELECT count(*) FROM pg_tables WHERE tableowner = %s", [role]
            ).fetchone()
        assert tables[0] >= 5
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
                ident = sql.Identifier(role)
                conn.execute(sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(ident))
                conn.execute(sql.SQL("DROP OWNED BY {}").format(ident))
                conn.execute(sql.SQL("DROP ROLE {}").format(ident))


def test_worker_and_beat_are_healthy_only_when_their_readyz_says_so(
    compose: dict[str, Any],
) -> None:
    from newsclf.settings import DEFAULT_METRICS_PORT

    for name in ("worker", "beat"):
        service = compose["services"][name]
        port = int((service.get("environment") or {}).get("NEWSCLF_METRICS_PORT", DEFAULT_METRICS_PORT))
        assert port, f"{name}: NEWSCLF_METRICS_PORT=0 turns off the port its healthcheck asks"
        check = service["healthcheck"]["test"]
        assert check[0] == "CMD", name
        assert f"http://127.0.0.1:{port}/readyz" in " ".join(check), name
        # urlopen raises on a 503, so the check fails while the worker is not ready.
        assert "urlopen(" in " ".join(check), name
