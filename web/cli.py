"""The `quizhub` command.

Every flag has a ``QUIZHUB_*`` environment twin (see ``hub.settings``); a flag beats the environment. Errors a user
can fix (a busy port, a duplicate credential) print one line saying what to do and exit with status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from broker.credentials import CredentialExistsError, CredentialStore, Role
from broker.errors import BrokerStartError, PortInUseError
from hub.logs import configure_logging
from hub.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Sequence

__all__ = ["main"]

EXIT_USAGE = 2


def _add_common(parser: argparse.ArgumentParser) -> None:
    sup = argparse.SUPPRESS
    parser.add_argument("--data-dir", type=Path, default=sup, help="data folder (QUIZHUB_DATA_DIR)")
    parser.add_argument("--log-format", choices=["text", "console", "json"], default=sup,
                        help="log lines as text (console: the same) or one JSON object each (QUIZHUB_LOG_FORMAT)")
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], default=sup)


def _add_broker_flags(parser: argparse.ArgumentParser) -> None:
    sup = argparse.SUPPRESS
    parser.add_argument("--host", default=sup, help="bind address, default 0.0.0.0 (QUIZHUB_HOST)")
    parser.add_argument("--mqtt-port", type=int, default=sup, help="MQTT TCP port, default 1883 (QUIZHUB_MQTT_PORT)")
    parser.add_argument(
        "--mqtt-ws-port", type=int, default=sup, help="MQTT WebSocket port, default 9001 (QUIZHUB_MQTT_WS_PORT)"
    )
    parser.add_argument("--topic-root", default=sup, help="MQTT topic root, default quizhub")
    parser.add_argument(
        "--allow-anonymous", action="store_true", default=sup, help="let MQTT clients in without credentials"
    )


def _add_web_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sup = argparse.SUPPRESS
    web = sub.add_parser("web", help="run the web app alone against a broker, a database and a fan-out (scale-out)")
    _add_common(web)
    web.add_argument("--host", default=sup, help="bind address, default 0.0.0.0 (QUIZHUB_HOST)")
    web.add_argument("--port", "--http-port", dest="http_port", type=int, default=sup,
                     help="web port, default 8000 (QUIZHUB_HTTP_PORT)")
    web.add_argument("--broker-url", default=sup,
                     help="broker mqtt://user:pass@host:port with a service login; prefer QUIZHUB_BROKER_URL, "
                          "which keeps the password out of `ps`")
    web.add_argument("--db-url", default=sup, help="database URL; empty = SQLite in the data dir (QUIZHUB_DB_URL)")
    web.add_argument("--fanout-url", default=sup, help="memory:// or redis://host:port/db (QUIZHUB_FANOUT_URL)")
    web.add_argument("--topic-root", default=sup, help="MQTT topic root, default quizhub")


def _parser() -> argparse.ArgumentParser:  # noqa: PLR0915 - one flat list of subcommands and flags
    parser = argparse.ArgumentParser(prog="quizhub", description="Live quiz hub for buzzers, screens and phones.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sup = argparse.SUPPRESS

    serve = sub.add_parser("serve", help="run broker, hub and web in one process (the bar default)")
    _add_common(serve)
    _add_broker_flags(serve)
    serve.add_argument("--http-port", type=int, default=sup, help="web port, default 8000 (QUIZHUB_HTTP_PORT)")
    serve.add_argument("--db-url", default=sup, help="database URL; empty = SQLite in the data dir (QUIZHUB_DB_URL)")
    serve.add_argument(
        "--broker-url", default=sup,
        help="external broker mqtt://user:pass@host:port; empty = embedded (QUIZHUB_BROKER_URL keeps it out of `ps`)"
    )
    serve.add_argument("--demo", action="store_true", default=sup, help="load the demo quiz and simulated buzzers")

    broker = sub.add_parser("broker", help="run the embedded MQTT broker alone")
    _add_common(broker)
    _add_broker_flags(broker)

    hub = sub.add_parser("hub", help="run the hub alone against a broker and a database (scale-out)")
    _add_common(hub)
    hub.add_argument("--db-url", default=sup, help="database URL; empty = SQLite in the data dir (QUIZHUB_DB_URL)")
    hub.add_argument("--broker-url", default=sup, required=False,
                     help="broker mqtt://user:pass@host:port with a service login; prefer QUIZHUB_BROKER_URL, "
                          "which keeps the password out of `ps`")
    hub.add_argument("--topic-root", default=sup, help="MQTT topic root, default quizhub")
    hub.add_argument("--client-id", default="quizhub-hub", help="MQTT client id (one per hub)")
    hub.add_argument("--lease-url", default=sup,
                     help="redis://host:6379/0 to run several hubs with failover (QUIZHUB_LEASE_URL); empty = one hub")
    hub.add_argument("--lease-ms", type=int, default=sup,
                     help="game lease in ms, default 3000: a dead hub's games move within it (QUIZHUB_LEASE_MS)")
    hub.add_argument("--metrics-port", type=int, default=sup,
                     help="serve Prometheus /metrics on this port (QUIZHUB_METRICS_PORT); default none")
    hub.add_argument("--metrics-host", default=sup,
                     help="bind address of --metrics-port, default 127.0.0.1 (QUIZHUB_METRICS_HOST)")

    _add_web_parser(sub)

    user = sub.add_parser("user", help="local accounts for the host console (offline bars)")
    user_sub = user.add_subparsers(dest="action", required=True, metavar="ACTION")
    uadd = user_sub.add_parser("add", help="create a local account; the password is read from stdin or a prompt")
    uadd.add_argument("name")
    uadd.add_argument("--role", required=True, choices=["admin", "quizmaster"])
    uadd.add_argument("--db-url", default=sup, help="database URL; empty = SQLite in the data dir")
    _add_common(uadd)

    creds = sub.add_parser("credentials", help="manage MQTT logins for buzzers, integrators and services")
    creds_sub = creds.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = creds_sub.add_parser("add", help="create a login and print its password once")
    add.add_argument("name", help="login name; for a device, its device id")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    _add_common(add)
    lst = creds_sub.add_parser("list", help="list logins (never their passwords)")
    _add_common(lst)
    rm = creds_sub.add_parser("remove", help="delete a login")
    rm.add_argument("name")
    _add_common(rm)
    mcfg = sub.add_parser("mosquitto-config", help="write mosquitto.conf, passwd and acl for an external Mosquitto")
    mcfg.add_argument("dir", type=Path, help="output folder (DIR/mosquitto.conf, DIR/passwd, DIR/acl)")
    mcfg.add_argument("--port", type=int, default=1883, help="MQTT listener port (default 1883)")
    mcfg.add_argument("--bind", default=None, help="listen address (default: all)")
    mcfg.add_argument("--ws-port", type=int, default=None, help="also an MQTT-over-WebSocket listener on this port")
    mcfg.add_argument("--files-dir", default=None, help="DIR as the broker sees it, e.g. /mosquitto/config")
    mcfg.add_argument("--persistence-dir", default=None, help="broker's data folder (default FILES_DIR/data)")
    mcfg.add_argument("--topic-root", default=sup, help="MQTT topic root, default quizhub")
    _add_common(mcfg)
    sim = sub.add_parser("simulate", help="virtual ESP32 buzzers that play against a running hub")
    _add_common(sim)
    sim.add_argument("--devices", type=int, default=16, help="how many buzzers (default 16)")
    sim.add_argument("--mode", choices=["keys", "random", "script", "none"], default="keys",
                     help="keys: type a buzzer number; random: armed buzzers press like people; script: --script")
    sim.add_argument("--script", type=Path, help="lines '<ms after arm> <buzzer number>'")
    sim.add_argument("--jitter-ms", type=float, default=2.0, help="extra uplink delay, exponential with mean N ms")
    sim.add_argument("--drift-ppm", type=float, default=100.0, help="clock drift, uniform ±N ppm")
    sim.add_argument("--loss", type=float, default=0.0, help="fraction of sync replies lost")
    sim.add_argument("--seed", type=int, default=None)
    sim.add_argument("--prefix", default="sim", help="device id prefix (ids are PREFIX-01 …)")
    sim.add_argument("--broker-url", default=sup,
                     help="broker to use (QUIZHUB_BROKER_URL); default the local embedded one")
    sim.add_argument("--mqtt-port", type=int, default=sup)
    sim.add_argument("--topic-root", default=sup)
    return parser


_SETTING_KEYS = (
    "data_dir", "log_format", "log_level", "host", "mqtt_port", "mqtt_ws_port", "topic_root",
    "allow_anonymous", "http_port", "db_url", "broker_url", "demo", "fanout_url",
    "lease_url", "lease_ms", "metrics_port", "metrics_host",
)


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {k: getattr(args, k) for k in _SETTING_KEYS if hasattr(args, k)}
    return Settings(**overrides)


def _run_until_stopped(
    coro: Coroutine[Any, Any, object],
    *,
    usage: tuple[type[Exception], ...] = (),
    failure: tuple[type[Exception], ...] = (),
) -> int:
    """Run a long-lived command's coroutine; its exit status. Ctrl-C ends it with 0. An error of `usage` (one the
    user can fix: a busy port, a bad option) prints its sentence and gives 2; one of `failure` prints it and gives 1.
    """
    try:
        asyncio.run(coro)
    except usage as exc:
        print(f"quizhub: {exc}", file=sys.stderr)  # noqa: T201
        return EXIT_USAGE
    except failure as exc:
        print(f"quizhub: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from web.serve import HttpPortInUseError, run_serve  # noqa: PLC0415 - keep `credentials` fast to start

    settings = _settings(args)
    configure_logging(settings.log_format, settings.log_level)
    return _run_until_stopped(run_serve(settings), usage=(PortInUseError, HttpPortInUseError, BrokerStartError))


def _cmd_broker(args: argparse.Namespace) -> int:
    from web.broker_only import run_broker  # noqa: PLC0415

    settings = _settings(args)
    configure_logging(settings.log_format, settings.log_level)
    return _run_until_stopped(run_broker(settings), usage=(PortInUseError,))


def _cmd_hub(args: argparse.Namespace) -> int:
    from hub.lease import LeaseError  # noqa: PLC0415
    from hub.metrics import MetricsPortInUseError, serve_metrics  # noqa: PLC0415
    from hub.mqttclient import BrokerUrlError, parse_broker_url  # noqa: PLC0415
    from hub.runner import run_hub  # noqa: PLC0415

    settings = _settings(args)
    configure_logging(settings.log_format, settings.log_level)
    if not settings.broker_url:
        print("quizhub: `quizhub hub` needs QUIZHUB_BROKER_URL=mqtt://user:pass@host:port (a service login) in "  # noqa: T201
              "its environment, or --broker-url (which shows the password in `ps`)", file=sys.stderr)
        return EXIT_USAGE
    try:
        address = parse_broker_url(settings.broker_url)
        if settings.metrics_port is not None:
            serve_metrics(settings.metrics_host, settings.metrics_port)
    except (BrokerUrlError, MetricsPortInUseError) as exc:
        print(f"quizhub: {exc}", file=sys.stderr)  # noqa: T201
        return EXIT_USAGE
    hub = run_hub(settings, address, client_id=args.client_id, lease_url=settings.lease_url, lease_ms=settings.lease_ms)
    return _run_until_stopped(hub, usage=(LeaseError,), failure=(ConnectionError,))


def _cmd_web(args: argparse.Namespace) -> int:
    from web.serve import HttpPortInUseError  # noqa: PLC0415
    from web.web_only import WebStartError, run_web  # noqa: PLC0415

    settings = _settings(args)
    configure_logging(settings.log_format, settings.log_level)
    return _run_until_stopped(run_web(settings), usage=(HttpPortInUseError, ValueError), failure=(WebStartError,))


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise ValueError("the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\n")  # scripts pipe it in; never a flag (it would sit in shell history)


def _cmd_user(args: argparse.Namespace) -> int:
    from hub.db.errors import AlreadyExistsError  # noqa: PLC0415
    from web.auth.users import add_user  # noqa: PLC0415

    settings = _settings(args)
    configure_logging(settings.log_format, settings.log_level)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        password = _read_password()
        created = asyncio.run(add_user(settings, args.name, args.role, password))
    except AlreadyExistsError:
        print(f"quizhub: a user named {args.name!r} exists already", file=sys.stderr)  # noqa: T201
        return EXIT_USAGE
    except ValueError as exc:
        print(f"quizhub: {exc}", file=sys.stderr)  # noqa: T201
        return EXIT_USAGE
    print(f"Created {created.role} {created.name!r}. Log in at the host console.")  # noqa: T201
    return 0


def _cmd_credentials(args: argparse.Namespace) -> int:
    settings = _settings(args)
    configure_logging(settings.log_format, settings.log_level)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = CredentialStore(settings.data_dir / "credentials.json")
    if args.action == "add":
        try:
            secret = store.add(args.name, Role(args.role))
        except CredentialExistsError:
            print(f"quizhub: a login named {args.name!r} exists; remove it first to issue a new password",  # noqa: T201
                  file=sys.stderr)
            return EXIT_USAGE
        except ValueError as exc:
            print(f"quizhub: {exc}", file=sys.stderr)  # noqa: T201
            return EXIT_USAGE
        print(f"Created {args.role} login {args.name!r}. Its password is shown only this once:")  # noqa: T201
        print(secret)  # noqa: T201
        return 0
    if args.action == "list":
        for info in store.list():
            print(f"{info.name}\t{info.role}\t{info.created_at}")  # noqa: T201
        return 0
    if store.remove(args.name):
        print(f"Removed login {args.name!r}.")  # noqa: T201
        return 0
    print(f"quizhub: no login named {args.name!r}; see `quizhub credentials list`", file=sys.stderr)  # noqa: T201
    return EXIT_USAGE


def _cmd_mosquitto_config(args: argparse.Namespace) -> int:
    from broker.mosquitto_config import MosquittoOptions, export  # noqa: PLC0415

    settings = _settings(args)
    configure_logging(settings.log_format, settings.log_level)
    store = CredentialStore(settings.data_dir / "credentials.json")
    try:
        options = MosquittoOptions(port=args.port, bind=args.bind, ws_port=args.ws_port, topic_root=settings.topic_root,
                                   files_dir=args.files_dir, persistence_dir=args.persistence_dir)
        files = export(store.hashed_logins(), args.dir, options)
    except (ValueError, OSError) as exc:
        print(f"quizhub: {exc}", file=sys.stderr)  # noqa: T201
        return EXIT_USAGE
    written = files.passwd.count("\n")
    out = args.dir
    print(f"Wrote {out / 'mosquitto.conf'}, {out / 'passwd'} and {out / 'acl'} ({written} logins). "  # noqa: T201
          f"Run `mosquitto -c {out / 'mosquitto.conf'}`; after `quizhub credentials` changes, run this again "
          "and send Mosquitto SIGHUP.")
    for skipped in files.skipped:
        print(f"quizhub: left out {skipped.reason}", file=sys.stderr)  # noqa: T201
    return 1 if files.skipped else 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from hub.mqttclient import BrokerUrlError, parse_broker_url  # noqa: PLC0415
    from hub.simrun import PressMode, SimulationConfig, device_ids, device_passwords, run_simulation  # noqa: PLC0415

    settings = _settings(args)
    configure_logging(settings.log_format, settings.log_level)
    if args.mode == "script" and args.script is None:
        print("quizhub: --mode script needs --script FILE", file=sys.stderr)  # noqa: T201
        return EXIT_USAGE
    config = SimulationConfig(
        devices=args.devices, prefix=args.prefix, root=settings.topic_root, jitter_ms=args.jitter_ms,
        drift_ppm=args.drift_ppm, loss=args.loss, mode=PressMode(args.mode), script=args.script, seed=args.seed,
    )
    try:
        address = parse_broker_url(settings.broker_url or f"mqtt://127.0.0.1:{settings.mqtt_port}")
    except BrokerUrlError as exc:
        print(f"quizhub: {exc}", file=sys.stderr)  # noqa: T201
        return EXIT_USAGE
    passwords = None
    if address.username is None:  # no shared login given: each buzzer gets its own device login
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        passwords = device_passwords(settings.data_dir, device_ids(config))
    print(f"Simulating {config.devices} buzzers against {address} ({config.mode} mode)", flush=True)  # noqa: T201
    try:
        asyncio.run(run_simulation(config, address, passwords))
    except (KeyboardInterrupt, asyncio.CancelledError):
        return 0
    return 0


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "simulate": _cmd_simulate,
    "serve": _cmd_serve,
    "hub": _cmd_hub,
    "web": _cmd_web,
    "user": _cmd_user,
    "broker": _cmd_broker,
    "credentials": _cmd_credentials,
    "mosquitto-config": _cmd_mosquitto_config,
}


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `quizhub` console script."""
    # authlib announces a future rename of its httpx integration on import; users cannot act on it.
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    args = _parser().parse_args(argv)
    try:
        code = _COMMANDS[args.command](args)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        print(f"quizhub: invalid setting {field}: {first['msg']}", file=sys.stderr)  # noqa: T201
        code = EXIT_USAGE
    raise SystemExit(code)
