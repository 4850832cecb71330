"""Reading evidence.xml the way another system does: ElementTree and EN 319 522-3 paths only."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET

NS = {
    "etsi": "http://uri.etsi.org/19522/v1#",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "lre": "urn:lre-gateway:evidence:2",
}
GATEWAY = "etsi:Extensions/etsi:Extension/lre:GatewayDetails"


def texts(xml: bytes, path: str) -> list[str]:
    """The texts of the elements at `path` (prefixes as in NS) below the Evidence root."""
    root = ET.fromstring(xml)  # noqa: S314 - the gateway's own output in tests
    return [element.text or "" for element in root.findall(path, NS)]


def content_digests(xml: bytes) -> list[str]:
    """The SHA-256 (hex) of each UserContentInfo part: the message first, then attachments."""
    path = "etsi:UserContentInfo/etsi:PartsInfo/etsi:PartInfo/ds:DigestValue"
    return [base64.b64decode(value).hex() for value in texts(xml, path)]
