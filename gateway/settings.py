"""Configuration: TOML read into frozen dataclasses, one per section; unknown keys are errors."""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.errors import ConfigError
from gateway.evidence.log_note import NoteError, Verifier
from gateway.i18n import LANGUAGES
from gateway.mime.limits import MAX_DEPTH_ALLOWED, MimeLimits

DEFAULT_CONFIG = Path("config/gateway.toml")
ENV_CONFIG = "LRE_GATEWAY_CONFIG"
T = TypeVar("T")

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdy])\s*$")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "y": 365 * 86400}
_SIZE = re.compile(r"^\s*(\d+)\s*([KMG]?B?)\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "": 1,
    "B": 1,
    "K": 10**3,
    "KB": 10**3,
    "M": 10**6,
    "MB": 10**6,
    "G": 10**9,
    "GB": 10**9,
}


@dataclass(frozen=True)
class Duration:
    """A configured period; whole days count as calendar days (see core.deadline)."""

    text: str
    delta: timedelta

    @property
    def whole_days(self) -> int | None:
        seconds = int(self.delta.total_seconds())
        return seconds // 86400 if seconds % 86400 == 0 and seconds > 0 else None


def parse_duration(text: str, key: str) -> Duration:
    match = _DURATION.match(str(text))
    if not match:
        raise ConfigError(f"{key}: {text!r} is not a duration (use e.g. 30s, 10m, 2h, 15d, 10y)")
    seconds = int(match[1]) * _DURATION_UNITS[match[2]]
    if seconds <= 0:
        raise ConfigError(f"{key}: the duration must be positive")
    return Duration(str(text), timedelta(seconds=seconds))


def parse_size(text: str | int, key: str) -> int:
    if isinstance(text, int):
        return text
    match = _SIZE.match(text)
    if not match:
        raise ConfigError(f"{key}: {text!r} is not a size (use e.g. 25MB)")
    return int(match[1]) * _SIZE_UNITS[match[2].upper()]


def parse_hostport(text: str, key: str) -> tuple[str, int]:
    host, sep, port = str(text).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"{key}: {text!r} is not host:port")
    return host.strip("[]"), int(port)


@dataclass(frozen=True, kw_only=True)
class GatewaySettings:
    domain: str = "lre.localhost"
    data_dir: Path = Path("var")
    public_url: str = "http://127.0.0.1:8080"
    timezone: str = "Africa/Casablanca"
    provider_name: str = "LRE Gateway (development)"
    policy_id: str = "urn:lre-gateway:policy:dev"
    default_region: str = "MA"  # phone numbers without +country code are read in this region

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True, kw_only=True)
class DatabaseSettings:
    url: str = "sqlite:///var/gateway.db"
    busy_timeout: Duration = field(  # SQLite: a lock held longer by another program -> 451
        default_factory=lambda: parse_duration("30s", "database.busy_timeout")
    )


@dataclass(frozen=True, kw_only=True)
class SmtpSettings:
    submission: tuple[str, int] | None = ("127.0.0.1", 2587)
    submissions: tuple[str, int] | None = ("127.0.0.1", 2465)
    inbound: tuple[str, int] | None = ("127.0.0.1", 2525)
    max_message_size: int = 25 * 10**6
    max_recipients: int = 100
    max_auth_failures: int = 10  # failed logins per client address in 15 minutes; 0 = no limit
    hostname: str = ""  # announced in the greeting; defaults to gateway.domain
    tls_cert: Path | None = None  # PEM; default: the development TLS certificate in data_dir
    tls_key: Path | None = None
    trusted_relays: tuple[str, ...] = ()  # IPs/networks whose Authentication-Results are trusted
    # processes of their own serving submission and submissions (smtp_in/processes.py); 0: the
    # main process serves them itself, beside the web and the background work. 2 by default:
    # measured on 2 cores against 1, the deposits acknowledged 10-43 % faster and the proofs
    # as fast or faster in most runs (docs/performance.md, 2026-12-05 morning); 1 on one core
    processes: int = 2
    # niceness the main process (background work, web, API) adds to itself once those processes
    # serve: a burst of deposits is acknowledged first, the proofs take the CPU left over
    main_nice: int = 5
    # and Linux's SCHED_IDLE policy for it then (gateway/priority.py): a CPU only when no process
    # at normal priority wants one (with certificate_idle: deposits acknowledged 10-41 % faster)
    main_idle: bool = True
    # the SMTP processes' event loop on uvloop (libuv; their TLS asyncio's TLS protocol on it,
    # smtp_in/tls.py): a paced letter cost them ~0.3 ms less CPU (docs/performance.md,
    # 2026-12-05 afternoon and evening); false, or without uvloop (Windows), asyncio's
    uvloop: bool = True


@dataclass(frozen=True, kw_only=True)
class WebSettings:
    listen: tuple[str, int] = ("127.0.0.1", 8080)
    # the operator's listener (GET /metrics); empty: none. Never expose it to the Internet.
    admin_listen: tuple[str, int] | None = None


# the choices of the settings that take one of a few words: mypy checks every comparison with
# them, and the configuration is checked against the same lists (_CHOICES)
LogFormat = Literal["text", "json"]  # json: one JSON object per line
DeliveryMode = Literal["outbox", "smarthost", "mx"]
SmarthostTls = Literal["none", "starttls", "tls"]
RevealSender = Literal["after_acceptance", "in_notification"]
RecipientVerification = Literal["sms_or_email", "email", "sms_required", "none"]
SmsProvider = Literal["outbox", "http", "none"]  # outbox: data_dir/sms, shown on /dev/outbox
SmsMethod = Literal["POST", "PUT"]


@dataclass(frozen=True, kw_only=True)
class LoggingSettings:
    format: LogFormat = "text"


@dataclass(frozen=True, kw_only=True)
class DeliverySettings:
    mode: DeliveryMode = "outbox"
    smarthost: tuple[str, int] = ("127.0.0.1", 25)
    smarthost_tls: SmarthostTls = "starttls"
    smarthost_user: str = ""
    smarthost_password_file: Path | None = None
    smarthost_verify_tls: bool = False
    max_attempts: int = 30
    retry_base: Duration = field(
        default_factory=lambda: parse_duration("30s", "delivery.retry_base")
    )
    retry_max: Duration = field(default_factory=lambda: parse_duration("1h", "delivery.retry_max"))
    give_up_after: Duration = field(
        default_factory=lambda: parse_duration("24h", "delivery.give_up_after")
    )
    resolver: tuple[str, int] | None = None  # DNS server to ask (host:port); None: the system's
    mx_port: int = 25
    require_tls_domains: tuple[str, ...] = ()
    max_per_domain: int = 5  # connections at once to one recipient domain (mx mode)
    # mails handed over at once in all (mx mode: Postfix's 100 SMTP clients; the smarthost's
    # are its pool's 20)
    max_connections: int = 100


@dataclass(frozen=True, kw_only=True)
class EvidenceSettings:
    tsa_url: str = ""  # empty: the built-in TSA
    seal_cert: Path | None = None  # PEM; default: the development seal in data_dir
    seal_key: Path | None = None
    seal_chain: tuple[Path, ...] = ()
    anchors: tuple[Path, ...] = ()  # extra trust anchors printed by `lre-gateway ca`
    archive_before: Duration = field(  # PAdES-LTA timestamp this long before a certificate expires
        default_factory=lambda: parse_duration("90d", "evidence.archive_before")
    )
    log_interval: Duration = field(  # how often the public evidence log publishes a checkpoint
        default_factory=lambda: parse_duration("10s", "evidence.log_interval")
    )
    # verifier keys of the witnesses whose cosignatures the log accepts and serves (`log witness
    # --submit`), e.g. ["witness.example.org+1a2b3c4d+AU…"]
    log_witnesses: tuple[str, ...] = ()
    certificate_processes: int = 0  # processes making PDF certificates; 0: one per core
    # niceness those processes add to the main process's (at most 19): SMTP and the web go first
    certificate_nice: int = 19
    # and Linux's SCHED_IDLE policy for them (gateway/priority.py)
    certificate_idle: bool = True


@dataclass(frozen=True, kw_only=True)
class LettersSettings:
    negligence_after: Duration = field(
        default_factory=lambda: parse_duration("15d", "letters.negligence_after")
    )
    reveal_sender: RevealSender = "after_acceptance"
    retention: Duration = field(default_factory=lambda: parse_duration("10y", "letters.retention"))
    recipient_verification: RecipientVerification = "sms_or_email"
    # languages of the notification mail when the sender gave none for the recipient
    notification_languages: tuple[str, ...] = ("fr", "ar")


DEFAULT_SMS_BODY = '{"to": "{{ to }}", "text": {{ text|tojson }}}'


@dataclass(frozen=True, kw_only=True)
class SmsSettings:
    provider: SmsProvider = "outbox"
    url: str = ""
    method: SmsMethod = "POST"
    headers: dict[str, str] = field(default_factory=dict)  # "{secret}" is read from secret_file
    secret_file: Path | None = None
    body: str = DEFAULT_SMS_BODY  # jinja2; `to` (E.164), `text`, `id` (the same on a resend)
    content_type: str = "application/json"
    timeout: Duration = field(default_factory=lambda: parse_duration("10s", "sms.timeout"))
    max_attempts: int = 8
    retry_base: Duration = field(default_factory=lambda: parse_duration("10s", "sms.retry_base"))


@dataclass(frozen=True, kw_only=True)
class ApiSettings:
    """[api]: the REST API under /api/v1 and the webhooks (gateway.api, gateway.webhooks)."""

    max_request_size: int = 25 * 10**6  # bytes of one request body; larger: 413
    rate_limit: int = 120  # requests per minute per token (bursts up to this); more: 429
    webhook_max_failures: int = 8  # consecutive failed posts before an endpoint is disabled
    webhook_retry_base: Duration = field(
        default_factory=lambda: parse_duration("30s", "api.webhook_retry_base")
    )
    webhook_timeout: Duration = field(
        default_factory=lambda: parse_duration("10s", "api.webhook_timeout")
    )
    # endpoints on loopback, private or link-local addresses (the gateway's own network) are
    # refused unless this is true (tests, a receiver on the same host)
    webhook_private_hosts: bool = False


@dataclass(frozen=True, kw_only=True)
class Settings:
    gateway: GatewaySettings = field(default_factory=GatewaySettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    web: WebSettings = field(default_factory=WebSettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    evidence: EvidenceSettings = field(default_factory=EvidenceSettings)
    letters: LettersSettings = field(default_factory=LettersSettings)
    sms: SmsSettings = field(default_factory=SmsSettings)
    mime: MimeLimits = field(default_factory=MimeLimits)  # [mime]: hostile-message limits
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    source: Path | None = None


_CHOICES: dict[str, tuple[str, ...]] = {
    "delivery.mode": get_args(DeliveryMode),
    "delivery.smarthost_tls": get_args(SmarthostTls),
    "letters.reveal_sender": get_args(RevealSender),
    "letters.recipient_verification": get_args(RecipientVerification),
    "sms.provider": get_args(SmsProvider),
    "sms.method": get_args(SmsMethod),
    "logging.format": get_args(LogFormat),
}


def _convert(section: str, name: str, value: Any, default: Any, base: Path) -> Any:
    key = f"{section}.{name}"
    if key in _CHOICES and value not in _CHOICES[key]:
        raise ConfigError(f"{key}: {value!r} is not one of {', '.join(_CHOICES[key])}")
    if isinstance(default, dict):
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ConfigError(f'{key}: expected a table of strings, e.g. {{ Name = "value" }}')
        return dict(value)
    if isinstance(default, Duration):
        duration = parse_duration(value, key)
        if key == "evidence.log_interval" and not 1 <= duration.delta.total_seconds() <= 3600:
            raise ConfigError(f"{key}: {value!r} must lie between 1s and 1h")
        if key == "database.busy_timeout" and not 1 <= duration.delta.total_seconds() <= 600:
            raise ConfigError(f"{key}: {value!r} must lie between 1s and 10m")
        return duration
    if name in (
        "submission",
        "submissions",
        "inbound",
        "listen",
        "admin_listen",
        "smarthost",
        "resolver",
    ):
        if (section == "smtp" or name in ("resolver", "admin_listen")) and value in ("", "off"):
            return None
        return parse_hostport(value, key)
    if section == "mime":
        sized = name in ("max_header_block", "max_header_size") and isinstance(value, str)
        return _mime_limit(key, parse_size(value, key) if sized else value)
    if name in ("max_message_size", "max_request_size"):
        return parse_size(value, key)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"{key}: expected a non-negative whole number, got {value!r}")
        if name in ("mx_port", "max_per_domain", "max_connections") and not 0 < value < 65536:
            raise ConfigError(f"{key}: expected a number from 1 to 65535, got {value!r}")
        if key in ("evidence.certificate_nice", "smtp.main_nice") and value > 19:
            raise ConfigError(f"{key}: expected a niceness from 0 to 19, got {value!r}")
        return value
    if name == "notification_languages":
        return _languages(value, key)
    if key == "evidence.log_witnesses":
        return _witness_keys(value, key)
    if name in ("trusted_relays", "require_tls_domains"):
        return _strings(value, key, lower=name == "require_tls_domains")
    if isinstance(default, tuple) and name in ("seal_chain", "anchors"):
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list of file paths")
        return tuple((base / str(v)).resolve() for v in value)
    if isinstance(default, Path) or name.endswith(("_file", "_cert", "_key")) or name == "data_dir":
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a file path")
        return (base / value).resolve() if value else None
    if not isinstance(value, str):
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    return value


def _mime_limit(key: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{key}: expected a positive whole number, got {value!r}")
    if key == "mime.max_depth" and value > MAX_DEPTH_ALLOWED:
        raise ConfigError(f"{key}: at most {MAX_DEPTH_ALLOWED} (each level costs stack)")
    return value


def _strings(value: Any, key: str, *, lower: bool) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{key}: expected a list of strings")
    if key == "smtp.trusted_relays":
        for text in value:
            try:
                ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise ConfigError(f"{key}: {text!r} is not an IP address or network") from None
    return tuple(v.lower().rstrip(".") if lower else v for v in value)


def _witness_keys(value: Any, key: str) -> tuple[str, ...]:
    keys = _strings(value, key, lower=False)
    for vkey in keys:
        try:
            Verifier.parse(vkey)
        except NoteError as err:
            raise ConfigError(f"{key}: {err}") from None
    return keys


def _languages(value: Any, key: str) -> tuple[str, ...]:
    """A list such as ["fr", "ar"]: site languages, none twice, at least one."""
    example = f'e.g. {key.rpartition(".")[2]} = ["fr", "ar"]'
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key}: expected a non-empty list of languages, {example}")
    languages = tuple(v.strip().lower() for v in value)
    unknown = [v for v in languages if v not in LANGUAGES]
    if unknown:
        raise ConfigError(
            f"{key}: {unknown[0]!r} is not one of the gateway's languages ({', '.join(LANGUAGES)})"
        )
    if len(set(languages)) != len(languages):
        raise ConfigError(f"{key}: a language is listed twice, {example}")
    return languages


def _section(cls: type, section: str, raw: Any, base: Path) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{section}: expected a table")
    defaults = cls()
    known = {f.name for f in fields(cls)}
    values = {}
    for name, value in raw.items():
        if name not in known:
            raise ConfigError(f"{section}.{name}: unknown key")
        values[name] = _convert(section, name, value, getattr(defaults, name), base)
    return cls(**values)


_SECTIONS = {
    "gateway": GatewaySettings,
    "database": DatabaseSettings,
    "smtp": SmtpSettings,
    "web": WebSettings,
    "delivery": DeliverySettings,
    "evidence": EvidenceSettings,
    "letters": LettersSettings,
    "sms": SmsSettings,
    "mime": MimeLimits,
    "logging": LoggingSettings,
    "api": ApiSettings,
}


def settings_from_dict(raw: dict[str, Any], base: Path | None = None) -> Settings:
    """Build Settings from parsed TOML; relative paths resolve against base (the cwd)."""
    base = base or Path.cwd()
    sections = {}
    for name, value in raw.items():
        if name not in _SECTIONS:
            raise ConfigError(f"{name}: unknown section")
        sections[name] = _section(_SECTIONS[name], name, value, base)
    settings = Settings(**sections)
    gateway = settings.gateway
    if "data_dir" not in raw.get("gateway", {}):
        gateway = _replace(gateway, data_dir=(base / gateway.data_dir).resolve())
    try:
        ZoneInfo(gateway.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"gateway.timezone: unknown time zone {gateway.timezone!r}") from None
    if not gateway.public_url.startswith(("http://", "https://")):
        raise ConfigError("gateway.public_url: must start with http:// or https://")
    database = settings.database
    if database.url.startswith("sqlite:///") and not database.url.startswith("sqlite:////"):
        relative = database.url.removeprefix("sqlite:///")
        database = replace(database, url="sqlite:///" + str((base / relative).resolve()))
    elif not database.url.startswith(("sqlite:", "postgresql")):
        raise ConfigError("database.url: use sqlite:///path or postgresql://user@host/db")
    _check_sms(settings)
    return _replace(settings, gateway=gateway, database=database)


def _check_sms(settings: Settings) -> None:
    from phonenumbers import SUPPORTED_REGIONS

    if settings.gateway.default_region not in SUPPORTED_REGIONS:
        raise ConfigError(
            f"gateway.default_region: {settings.gateway.default_region!r} is not a "
            "two-letter region code such as MA or FR"
        )
    sms, letters = settings.sms, settings.letters
    if sms.provider == "http" and not sms.url.startswith(("http://", "https://")):
        raise ConfigError("sms.url: the http provider needs an http:// or https:// URL")
    if letters.recipient_verification == "sms_required" and sms.provider == "none":
        raise ConfigError("letters.recipient_verification: sms_required needs an SMS provider")


def _replace(obj: T, **changes: Any) -> T:
    return replace(obj, **changes)  # type: ignore[type-var]


def config_path(explicit: str | os.PathLike[str] | None) -> Path | None:
    """--config FILE, else $LRE_GATEWAY_CONFIG, else config/gateway.toml when present."""
    if explicit:
        return Path(explicit)
    if os.environ.get(ENV_CONFIG):
        return Path(os.environ[ENV_CONFIG])
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def load_settings(path: Path | None) -> Settings:
    """Read the configuration file (or none: built-in development defaults)."""
    if path is None:
        return settings_from_dict({})
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} does not exist") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from None
    return _replace(settings_from_dict(raw), source=path)
