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
    for name, service in compose["services"].items():
        for key in service.get("environment") or {}:
            if key.startswith("NEWSCLF_"):
                assert key in fields, f"{name}: {key} is not a setting"


def test_ports_are_bound_to_loopback_and_secrets_are_required(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
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
