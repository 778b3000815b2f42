"""Every client authenticates (CONNACK 5 otherwise), on the embedded broker and on Mosquitto alike."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from brokertest_raw import RawClient

from broker.credentials import Role


async def test_anonymous_is_refused_with_connack_5(target):
    c = await target.raw()
    _, code = await c.connect("anon-1")
    assert code == 5
    await c.wait_closed()


async def test_wrong_password_and_unknown_user_are_refused(target):
    for user, password in (("svc", "not-the-password"), ("nobody", "whatever"), ("svc", None)):
        c = await target.raw()
        _, code = await c.connect(f"cid-{user}", user, password)
        assert code in (4, 5)
        await c.wait_closed()


async def test_right_password_is_accepted(target):
    c = await target.client("svc")
    await c.ping()
    await c.disconnect()


async def test_anonymous_allowed_only_with_the_flag_and_read_only(start_embedded, topic_root):
    async with start_embedded(allow_anonymous=True) as (b, _):
        anon = await RawClient.open(b.port)
        assert (await anon.connect("viewer"))[1] == 0
        assert await anon.subscribe((f"{topic_root}/games/+/scores", 0), (f"{topic_root}/games/+/commands", 0)) \
            == [0, 0x80]
        await anon.disconnect()


async def test_a_device_must_use_its_name_as_client_id(start_embedded):
    async with start_embedded() as (b, pw):
        c = await RawClient.open(b.port)
        _, code = await c.connect("dev2", "dev1", pw["dev1"])  # dev1's login, dev2's id
        assert code == 2
        await c.wait_closed()


async def test_a_client_id_held_by_another_login_is_refused(start_embedded):
    async with start_embedded() as (b, pw):
        hub = await RawClient.open(b.port)
        assert (await hub.connect("the-hub", "svc", pw["svc"]))[1] == 0
        intruder = await RawClient.open(b.port)
        _, code = await intruder.connect("the-hub", "integ", pw["integ"])
        assert code == 2
        await hub.ping()  # the hub's connection survived
        await hub.disconnect()


async def test_credentials_added_while_running_work_at_once(start_embedded, data_dir):
    from broker.credentials import CredentialStore  # noqa: PLC0415

    async with start_embedded() as (b, _):
        # Another process (the CLI) adds a login to the same file while the broker runs.
        secret = CredentialStore(data_dir / "credentials.json").add("late-buzzer", Role.DEVICE)
        c = await RawClient.open(b.port)
        assert (await c.connect("late-buzzer", "late-buzzer", secret))[1] == 0
        await c.disconnect()


async def test_logins_never_block_the_event_loop(start_embedded):
    """100 logins (from another thread, so the clients' work is not on the broker's loop): the broker thread spends
    well under one amqtt argon2 check (130-175 ms of CPU) per login, and its loop never stalls that long."""
    async with start_embedded() as (b, pw):
        lateness: list[float] = []
        done = asyncio.Event()

        async def probe() -> None:
            while not done.is_set():
                due = time.perf_counter() + 0.005
                await asyncio.sleep(0.005)
                lateness.append(time.perf_counter() - due)

        async def logins() -> None:
            for i in range(100):
                c = await RawClient.open(b.port)
                assert (await c.connect(f"svc-{i}", "svc", pw["svc"]))[1] == 0
                await c.disconnect()

        task = asyncio.create_task(probe())
        cpu = time.thread_time()
        await asyncio.to_thread(asyncio.run, logins())
        cpu_per_login = (time.thread_time() - cpu) / 100
        done.set()
        await task
        assert cpu_per_login < 0.01, f"{cpu_per_login * 1000:.1f} ms of loop CPU per login"
        assert max(lateness) < 0.1, f"event loop stalled {max(lateness) * 1000:.1f} ms during logins"


async def test_a_bare_tcp_probe_logs_no_error(start_embedded, caplog):
    async with start_embedded(ws_port=0) as (b, pw):
        caplog.set_level(logging.DEBUG)
        for port in (b.port, b.ws_port):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
        # The broker has handled the probe once a later client is served (connections are served in order).
        c = await RawClient.open(b.port)
        assert (await c.connect("svc", "svc", pw["svc"]))[1] == 0
        await c.disconnect()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert any(r.getMessage() == "connection closed before CONNECT" for r in caplog.records)


async def test_secrets_never_reach_the_log(start_embedded, caplog):
    caplog.set_level(logging.DEBUG)
    async with start_embedded() as (b, pw):
        c = await RawClient.open(b.port)
        await c.connect("svc", "svc", pw["svc"])
        await c.disconnect()
        bad = await RawClient.open(b.port)
        await bad.connect("svc2", "svc", "wrong-secret-value")
        await bad.wait_closed()
    text = caplog.text + " ".join(str(r.__dict__) for r in caplog.records)
    assert pw["svc"] not in text
    assert "wrong-secret-value" not in text


@pytest.mark.parametrize("flag", ["port", "ws_port"])
async def test_a_busy_port_names_the_port_and_the_flag(start_embedded, flag):
    import socket  # noqa: PLC0415

    from broker.errors import PortInUseError  # noqa: PLC0415

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(PortInUseError) as info:
            async with start_embedded(**{flag: port}):
                pass
    text = str(info.value)
    assert str(port) in text
    assert ("--mqtt-ws-port" if flag == "ws_port" else "--mqtt-port") in text
    assert "\n" not in text


async def test_an_unwritable_data_dir_is_a_sentence_not_a_traceback(tmp_path, topic_root):
    from broker.config import BrokerConfig  # noqa: PLC0415
    from broker.credentials import CredentialStore  # noqa: PLC0415
    from broker.errors import BrokerStartError  # noqa: PLC0415
    from broker.server import EmbeddedBroker  # noqa: PLC0415

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data dir should be")
    config = BrokerConfig(data_dir=blocker / "data", host="127.0.0.1", port=0, ws_port=None)
    with pytest.raises(BrokerStartError, match="--data-dir"):
        async with EmbeddedBroker(config, CredentialStore(tmp_path / "c.json")):
            pass
