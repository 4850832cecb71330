"""The transport each `delivery.mode` names: outbox, smarthost or mx."""

from __future__ import annotations

from pathlib import Path

from gateway.errors import ConfigError
from gateway.resolver import Resolver
from gateway.settings import DeliverySettings
from gateway.smtp_out.mx import MxTransport
from gateway.smtp_out.transport import OutboxTransport, SmarthostTransport, Transport


def make_transport(settings: DeliverySettings, data_dir: Path, *, local_hostname: str) -> Transport:
    """The transport `delivery.mode` asks for."""
    if settings.mode == "outbox":
        return OutboxTransport(data_dir / "outbox")
    if settings.mode == "smarthost":
        return SmarthostTransport(settings, local_hostname=local_hostname)
    if settings.mode == "mx":
        return MxTransport(settings, Resolver(settings.resolver), local_hostname=local_hostname)
    raise ConfigError(f"delivery.mode: {settings.mode} is not available yet")
