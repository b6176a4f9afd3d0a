"""The serial ports the config flow lists: USB adapters first, by their stable
/dev/serial/by-id names, with description and serial number. Everything here is blocking
(file system, sysfs): the flow runs it in the executor."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Final

import serialx

from .reader.transport import normalize_url, url_scheme

SERIAL_BY_ID: Final = "/dev/serial/by-id"


@dataclass(frozen=True, slots=True)
class SerialPort:
    """A serial port as the port list shows it."""

    path: str  # its stable /dev/serial/by-id name when it has one
    label: str
    usb: bool  # a USB adapter (not a built-in UART)


def _by_id_links() -> dict[str, str]:
    """The /dev/serial/by-id names, by the device they point to. Blocking (file system)."""
    by_id: dict[str, str] = {}
    if os.path.isdir(SERIAL_BY_ID):
        for name in sorted(os.listdir(SERIAL_BY_ID)):
            path = os.path.join(SERIAL_BY_ID, name)
            by_id.setdefault(os.path.realpath(path), path)
    return by_id


def scan_serial_ports() -> list[SerialPort]:
    """Serial ports, USB adapters first by their stable /dev/serial/by-id names, each with
    its description and serial number. Blocking (file system and sysfs): run it in the
    executor."""
    by_id = _by_id_links()
    ports: dict[str, SerialPort] = {}
    for port in serialx.list_serial_ports():
        device = str(port.device)
        stable = by_id.get(os.path.realpath(device), device)
        # serialx names the USB product; other port listings have a description only.
        product = port.product if hasattr(port, "product") else getattr(port, "description", None)
        manufacturer = getattr(port, "manufacturer", None)
        if manufacturer and product and manufacturer.lower() not in product.lower():
            product = f"{manufacturer} {product}"
        details = ", ".join(
            str(part) for part in (product, getattr(port, "serial_number", None)) if part
        )
        label = f"{stable} ({details})" if details else stable
        usb = getattr(port, "vid", None) is not None or stable != device
        ports[stable] = SerialPort(stable, label, usb)
    for path in by_id.values():
        ports.setdefault(path, SerialPort(path, path, True))
    return sorted(ports.values(), key=lambda port: (not port.usb, port.path))


def stable_path(device: str) -> str:
    """The /dev/serial/by-id name of a device, if it has one. Blocking (file system)."""
    return _by_id_links().get(os.path.realpath(device), device)


def same_device(url: str, others: list[str]) -> bool:
    """Whether a local device path names the same device as one of ``others`` (a by-id
    link and the device it points to). Blocking (file system)."""
    if url_scheme(normalize_url(url)) is not None:
        return False
    real = os.path.realpath(url)
    return any(
        url_scheme(normalize_url(other)) is None and os.path.realpath(other) == real
        for other in others
    )
