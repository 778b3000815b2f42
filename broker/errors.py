"""Errors the embedded broker raises, each saying whose fault it is and what to do next."""

from __future__ import annotations

__all__ = ["BrokerStartError", "CredentialExistsError", "PortInUseError", "UnknownCredentialError"]


class PortInUseError(OSError):
    """The operator's fault: another process already listens on a port the broker was told to use."""

    def __init__(self, port: int, flag: str) -> None:
        super().__init__(f"port {port} is already in use; stop the other program or pick another port with {flag}")
        self.port = port
        self.flag = flag

    def __str__(self) -> str:
        return str(self.args[0])


class BrokerStartError(RuntimeError):
    """The broker could not start for a reason other than a busy port (bad address, permissions)."""


class CredentialExistsError(ValueError):
    """The operator's fault: a credential with this name already exists."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"a credential named {name!r} already exists; remove it first (quizhub credentials remove {name}) "
            "or choose another name"
        )
        self.name = name


class UnknownCredentialError(KeyError):
    """The operator's fault: no credential with this name exists."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no credential named {name!r}; list them with: quizhub credentials list")
        self.name = name

    def __str__(self) -> str:
        return str(self.args[0])
