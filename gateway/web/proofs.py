"""Web routes for proofs beyond the recipient's pages: /pki/ (trust anchors and the CA's CRL)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from gateway.evidence.crl import CRL_PATH, CrlPublisher
from gateway.evidence.pki import load_certificates
from gateway.web.pages import SITE, render

CRL_KEY = web.AppKey("crl", CrlPublisher)


def add_pki_routes(app: web.Application, crl: CrlPublisher) -> None:
    app[CRL_KEY] = crl
    app.router.add_get(CRL_PATH, _crl)
    app.router.add_get("/pki/", _index)
    app.router.add_get("/pki", _to_index)


async def _crl(request: web.Request) -> web.Response:
    der = await asyncio.to_thread(request.app[CRL_KEY].current)
    return web.Response(
        body=der,
        content_type="application/pkix-crl",
        headers={"Cache-Control": "public, max-age=3600"},
    )


async def _to_index(request: web.Request) -> web.Response:
    raise web.HTTPMovedPermanently(f"{request.app[SITE].root}/pki/")


async def _index(request: web.Request) -> web.Response:
    """What a third party needs to verify proofs without us: the anchors and the CRL."""
    anchors = [_certificate(cert) for cert in load_certificates(request.app[SITE].anchors_pem)]
    der = await asyncio.to_thread(request.app[CRL_KEY].current)
    crl = x509.load_der_x509_crl(der)
    facts = {
        "issuer": crl.issuer.rfc4514_string(),
        "issued": crl.last_update_utc,
        "next": crl.next_update_utc,
        "revoked": len(crl),
    }
    return render(request, "pki.html", anchors=anchors, crl=facts)


def _certificate(cert: x509.Certificate) -> dict[str, Any]:
    return {
        "subject": cert.subject.rfc4514_string(),
        "start": cert.not_valid_before_utc,
        "end": cert.not_valid_after_utc,
        "fingerprint": cert.fingerprint(hashes.SHA256()).hex(":").upper(),
    }
