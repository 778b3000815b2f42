"""Devices (buzzers): list with health, pair to a team, unpair, identify (blink).

Pairing goes through the hub (it configures the device and rules its presses), then the devices table records
it; health (online, last seen, firmware, signal, battery, clock quality) is what the hub last wrote there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Query, status

from hub.db.errors import RepositoryError
from web.api_models import ID_PATTERN, DevicePublic, IdentifyRequest, PairRequest
from web.auth import HostDep, Principal, Role, require_roles
from web.routes.deps import DeviceId, HubDep, RepoDep, refuse, repository_error, send_command

if TYPE_CHECKING:
    from hub.db.models import Device
    from hub.db.repository import Repository

__all__ = ["router"]

router = APIRouter(prefix="/api/devices", tags=["devices"])

DeviceReaderDep = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.QUIZMASTER, Role.INTEGRATOR))]
"""Hosts and integrators read the device list."""


def _public(device: Device) -> DevicePublic:
    return DevicePublic(
        id=device.id,
        name=device.name,
        game_id=device.game_id,
        team_id=device.team_id,
        paired=device.paired,
        online=device.online,
        first_seen_at=device.first_seen_at,
        last_seen_at=device.last_seen_at,
        fw=device.fw,
        rssi=device.rssi,
        battery_mv=device.battery_mv,
        boot=device.boot,
        clock_uncertainty_us=device.clock_uncertainty_us,
        one_way_us=device.one_way_us,
    )


async def _device(repo: Repository, device_id: str) -> Device:
    device = await repo.get_device(device_id)
    if device is None:
        raise refuse(status.HTTP_404_NOT_FOUND, f"No device {device_id!r} has been seen; switch it on first.")
    return device


@router.get("")
async def list_devices(
    _reader: DeviceReaderDep,
    repo: RepoDep,
    game_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> list[DevicePublic]:
    """Every device (or those paired into ``game_id``) with its last reported health."""
    return [_public(d) for d in await repo.list_devices(game_id=game_id)]


@router.get("/{device_id}")
async def get_device(_reader: DeviceReaderDep, repo: RepoDep, device_id: DeviceId) -> DevicePublic:
    """One device with its health."""
    return _public(await _device(repo, device_id))


@router.post("/{device_id}/pair")
async def pair(host: HostDep, hub: HubDep, repo: RepoDep, device_id: DeviceId, data: PairRequest) -> DevicePublic:
    """Pair a device to a team: the hub configures the buzzer, then the pairing is recorded."""
    await _device(repo, device_id)
    team = await repo.get_team(data.team_id)
    if team is None:
        raise refuse(status.HTTP_404_NOT_FOUND, f"There is no team with id {data.team_id!r}.")
    await send_command(hub, team.game_id, {"cmd": "pair", "device": device_id, "team": team.id}, host)
    try:
        device = await repo.pair_device(device_id, team.id, name=data.name)
    except RepositoryError as exc:
        raise repository_error(exc) from None
    return _public(device)


@router.post("/{device_id}/unpair")
async def unpair(host: HostDep, hub: HubDep, repo: RepoDep, device_id: DeviceId) -> DevicePublic:
    """Take a device off its team and game (it keeps its name and health)."""
    device = await _device(repo, device_id)
    if device.game_id is None:
        raise refuse(status.HTTP_409_CONFLICT, f"Device {device_id!r} is not paired.")
    await send_command(hub, device.game_id, {"cmd": "unpair", "device": device_id}, host)
    try:
        device = await repo.unpair_device(device_id)
    except RepositoryError as exc:
        raise repository_error(exc) from None
    return _public(device)


@router.post("/{device_id}/identify", status_code=status.HTTP_202_ACCEPTED)
async def identify(
    host: HostDep, hub: HubDep, repo: RepoDep, device_id: DeviceId, data: IdentifyRequest | None = None
) -> DevicePublic:
    """Make a device blink so a person can find it; an unpaired device needs ``game_id`` (a game on the hub)."""
    device = await _device(repo, device_id)
    game_id = device.game_id or (data.game_id if data else None)
    if game_id is None:
        raise refuse(
            status.HTTP_409_CONFLICT,
            f"Device {device_id!r} is in no game; send the game_id of a running game to blink it through.",
        )
    await send_command(hub, game_id, {"cmd": "identify", "device": device_id}, host)
    return _public(device)
