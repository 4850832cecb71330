"""What the API does, on the registry and the stores; the HTTP side is gateway.api.routes.

A deposit by API passes the same checks as one by SMTP (the parse, the MIME limits, From:
the account's address, recipients' phones and languages) and gives the same evidence; its
sender authentication reads "API token lre_XXXXXXXX" (+ " over HTTPS").
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from email.utils import getaddresses
from functools import partial
from typing import Any

from sqlalchemy.exc import IntegrityError

from gateway.api import problems
from gateway.api.compose import Fields, File, compose
from gateway.api_tokens import NewToken, new_token, token_label
from gateway.core.address import is_mailbox, same_address
from gateway.core.letter import Delivery, Letter
from gateway.core.sender import Account
from gateway.errors import ContentRefused, DepositRefused
from gateway.mime.submission import read_submission
from gateway.registry import Registry, new_id
from gateway.services.deposit import Deposit
from gateway.settings import Settings
from gateway.storage.api_store import (
    ApiStore,
    EndpointRecord,
    LetterFilter,
    TokenRecord,
)
from gateway.storage.pdf_queue import PdfQueue
from gateway.storage.store import AccountRecord, LetterStore, StoredEvidence
from gateway.webhook_destination import refused_url
from gateway.webhook_signing import new_secret

log = logging.getLogger(__name__)

MAX_KEY = 200  # characters of an Idempotency-Key


@dataclass(frozen=True)
class Deposited:
    reference: str
    replayed: bool  # True: an earlier request with the same Idempotency-Key made this letter


@dataclass(frozen=True)
class LetterDetail:
    letter: Letter
    deliveries: list[tuple[Delivery, list[StoredEvidence]]]


def request_digest(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def recipients_of(content: bytes) -> tuple[str, ...]:
    """The To: and Cc: addresses of a message: the letter's recipients (Bcc is refused)."""
    from email.parser import BytesHeaderParser
    from email.policy import compat32

    head = BytesHeaderParser(policy=compat32).parsebytes(content)
    if head.get_all("Bcc"):
        raise problems.invalid("Bcc is not allowed: every recipient gets a registered letter")
    pairs = getaddresses([str(v) for v in (head.get_all("To") or []) + (head.get_all("Cc") or [])])
    found: list[str] = []
    for _, address in pairs:
        if not is_mailbox(address):
            raise problems.invalid(f"the recipient address {address!r} is not valid")
        if not any(same_address(address, known) for known in found):
            found.append(address)
    if not found:
        raise problems.invalid("the message has no recipient in To: or Cc:")
    return tuple(found)


class ApiService:
    def __init__(
        self, *, settings: Settings, registry: Registry, store: LetterStore, pdfs: PdfQueue
    ) -> None:
        self._settings = settings
        self._registry = registry
        self._store = store
        self.api = ApiStore(store.engine)
        self._pdfs = pdfs

    # tokens and accounts (the command line calls the synchronous ones) ------------------

    def create_token(self, account: AccountRecord, label: str, now: datetime) -> NewToken:
        token = new_token()
        self.api.add_token(
            id=new_id(),
            account_id=account.id,
            token_hash=token.hash,
            prefix=token.prefix,
            label=token_label(label, ""),
            now=now,
        )
        return token

    def tokens(self, account: AccountRecord) -> list[TokenRecord]:
        return self.api.tokens(account.id)

    def add_webhook(self, account: AccountRecord, url: str, now: datetime) -> EndpointRecord:
        refused = refused_url(url, allow_private=self._settings.api.webhook_private_hosts)
        if refused == "url":
            raise problems.invalid("url: an http:// or https:// URL is required")
        if refused == "private":
            raise problems.invalid(
                "url: endpoints on loopback or private addresses are refused "
                "(api.webhook_private_hosts)"
            )
        return self.api.add_endpoint(
            id=new_id(), account_id=account.id, url=url, secret=new_secret(), now=now
        )

    async def endpoints(self, account: AccountRecord) -> list[EndpointRecord]:
        return await self._registry.io(self.api.endpoints, account.id)

    async def new_endpoint(self, account: AccountRecord, url: str) -> EndpointRecord:
        return await self._registry.io(self.add_webhook, account, url, self._registry.now())

    async def remove_endpoint(self, account: AccountRecord, which: str) -> bool:
        return await self._registry.io(self.api.remove_endpoint, account.id, which)

    async def enable_endpoint(self, account: AccountRecord, which: str) -> bool:
        return await self._registry.io(self.api.enable_endpoint, account.id, which)

    async def account_by_token(self, token_hash: str) -> AccountRecord | None:
        return await self._registry.io(self.api.account_by_token, token_hash, self._registry.now())

    # deposit ----------------------------------------------------------------------------

    async def deposit_message(
        self,
        account: AccountRecord,
        content: bytes,
        *,
        authentication: str,
        peer: str,
        key: str | None,
    ) -> Deposited:
        """Deposit an RFC 5322 message; its To: and Cc: are the recipients."""
        if b"\r" not in content:
            content = content.replace(b"\n", b"\r\n")  # a file saved with Unix line ends
        digest = request_digest(b"message/rfc822", content)
        return await self._deposit(
            account, digest, key, lambda: content, authentication=authentication, peer=peer
        )

    async def deposit_fields(
        self,
        account: AccountRecord,
        fields: Fields,
        files: list[File],
        raw_json: bytes,
        *,
        authentication: str,
        peer: str,
        key: str | None,
    ) -> Deposited:
        """Deposit a letter given as JSON fields and attachments (the message built here)."""
        parts = [raw_json] + [p for f in files for p in (f.name.encode(), f.data)]
        digest = request_digest(b"multipart/form-data", *parts)
        at = self._registry.now()

        def content() -> bytes:
            return compose(
                fields,
                files,
                sender=account.email,
                sender_name=account.name,
                domain=self._settings.gateway.domain,
                at=at,
                digest=digest,
            )

        return await self._deposit(
            account, digest, key, content, authentication=authentication, peer=peer
        )

    async def _deposit(
        self,
        account: AccountRecord,
        digest: str,
        key: str | None,
        make: Any,
        *,
        authentication: str,
        peer: str,
    ) -> Deposited:
        if key is not None:
            if not key or len(key) > MAX_KEY or not key.isprintable():
                raise problems.invalid(f"Idempotency-Key: 1 to {MAX_KEY} printable characters")
            replay = await self._replay(account, key, digest)
            if replay is not None:
                return replay
        try:
            content: bytes = make()
        except ValueError as err:  # a header the email package cannot write (e.g. a file name)
            raise problems.invalid(f"the letter cannot be written as a message: {err}") from None
        limit = self._settings.smtp.max_message_size
        if len(content) > limit:
            raise problems.too_large(limit)
        recipients = recipients_of(content)
        if len(recipients) > self._settings.smtp.max_recipients:
            raise problems.invalid(
                f"at most {self._settings.smtp.max_recipients} recipients per letter"
            )
        try:
            parsed, phones, languages = await asyncio.to_thread(
                partial(read_submission, limits=self._settings.mime),
                content,
                recipients,
                self._settings.gateway.default_region,
            )
        except ContentRefused as refusal:
            raise problems.content_refused(refusal) from None
        if len(parsed.from_addresses) != 1 or not same_address(
            parsed.from_addresses[0], account.email
        ):
            raise problems.invalid(
                f"the From: header must be the address of the token's account ({account.email})"
            )
        deposit = Deposit(
            account=Account(id=account.id, email=account.email, name=account.name),
            mail_from=account.email,
            rcpt_tos=recipients,
            content=content,
            parsed=parsed,
            authentication=authentication,
            peer=peer,
            phones=phones,
            languages=languages,
        )
        remember = None
        if key is not None:
            remember = partial(
                _remember, account_id=account.id, key=key, digest=digest, now=self._registry.now()
            )
        try:
            reference = await self._registry.deposits.deposit(deposit, also=remember)
        except DepositRefused as refusal:
            raise problems.deposit_refused(refusal) from None
        except IntegrityError:
            if key is None:
                raise
            replay = await self._replay(account, key, digest)  # a concurrent twin won
            if replay is None:
                raise
            return replay
        return Deposited(reference, replayed=False)

    async def _replay(self, account: AccountRecord, key: str, digest: str) -> Deposited | None:
        known = await self._registry.io(self.api.idempotent, account.id, key)
        if known is None:
            return None
        if known[0] != digest:
            raise problems.Problem(
                422,
                "idempotency-key-reused",
                "Idempotency-Key reused",
                "This Idempotency-Key was used for a different request; use a new key",
                letter=known[1],
            )
        return Deposited(known[1], replayed=True)

    # reading ----------------------------------------------------------------------------

    async def letters(
        self, account: AccountRecord, where: LetterFilter
    ) -> tuple[list[tuple[Letter, list[Delivery]]], str | None]:
        try:
            return await self._registry.io(self.api.letters, account.id, where)
        except ValueError as err:
            raise problems.invalid(f"cursor: {err}") from None

    async def letter(self, account: AccountRecord, reference: str) -> LetterDetail:
        letter = await self._registry.io(self.api.letter, account.id, reference)
        if letter is None:
            raise problems.not_found(f"no letter {reference} of this account")

        def read() -> list[tuple[Delivery, list[StoredEvidence]]]:
            return [
                (d, self._store.evidence_of(d.id)) for d in self._store.deliveries_of(letter.id)
            ]

        deliveries = await self._registry.io(read)
        return LetterDetail(letter, sorted(deliveries, key=lambda d: d[0].recipient))

    async def proof(self, account: AccountRecord, evidence_id: str, form: str) -> bytes:
        """evidence.xml, evidence.xml.p7s or proof.pdf of an evidence of the account's letters."""
        found = await self._registry.io(self.api.evidence_of_letter, account.id, evidence_id)
        if found is None:
            raise problems.not_found(f"no evidence {evidence_id} of this account's letters")
        if form == "evidence.xml":
            stored = await self._registry.io(self._store.evidence, evidence_id)
            return stored.xml
        if not found[1]:
            raise problems.Problem(
                409, "not-sealed", "Not sealed yet", "This evidence is not sealed yet; try later"
            )
        if form == "evidence.xml.p7s":
            _, p7s = await self._registry.io(self._store.sealed_evidence, evidence_id)
            return p7s
        pdf = await self._registry.io(self._pdfs.pdf, evidence_id)
        if pdf is None:
            raise problems.not_found("no PDF certificate for this evidence (yet)")
        return pdf


def _remember(
    db: Any, reference: str, *, account_id: str, key: str, digest: str, now: datetime
) -> None:
    ApiStore.remember(
        db, account_id=account_id, key=key, digest=digest, reference=reference, now=now
    )
