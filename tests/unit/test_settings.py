"""Configuration: defaults, the example file, and clear errors naming section.key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import ConfigError
from gateway.settings import Settings, load_settings, settings_from_dict

EXAMPLE = Path(__file__).parents[2] / "config" / "gateway.example.toml"


def test_example_file_lists_the_defaults(tmp_path: Path) -> None:
    """config/gateway.example.toml loads and says exactly what the built-in defaults are."""
    assert load_settings(EXAMPLE).gateway.domain == "lre.localhost"
    from_example = load_settings(EXAMPLE)
    defaults = settings_from_dict({}, base=Path.cwd())
    sections = ("gateway", "database", "smtp", "web", "delivery", "evidence", "letters", "sms")
    for section in (*sections, "mime", "logging"):
        assert getattr(from_example, section) == getattr(defaults, section), section


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        ({"logging": {"format": "xml"}}, "logging.format"),
        ({"web": {"admin_listen": "9108"}}, "web.admin_listen"),
        ({"smtp": {"submision": "127.0.0.1:25"}}, "smtp.submision"),
        ({"letters": {"negligence_after": "15 days"}}, "letters.negligence_after"),
        ({"letters": {"reveal_sender": "always"}}, "letters.reveal_sender"),
        ({"delivery": {"smarthost_tls": "ssl"}}, "delivery.smarthost_tls"),
        ({"smtp": {"max_message_size": "huge"}}, "smtp.max_message_size"),
        ({"web": {"listen": "8080"}}, "web.listen"),
        ({"gateway": {"timezone": "Mars/Olympus"}}, "gateway.timezone"),
        ({"gateways": {}}, "gateways"),
        ({"delivery": {"resolver": "127.0.0.1"}}, "delivery.resolver"),
        ({"delivery": {"mx_port": 0}}, "delivery.mx_port"),
        ({"delivery": {"max_connections": 0}}, "delivery.max_connections"),
        ({"delivery": {"require_tls_domains": "example.ma"}}, "delivery.require_tls_domains"),
        ({"smtp": {"trusted_relays": ["mx.example.ma"]}}, "smtp.trusted_relays"),
        ({"mime": {"max_depth": 101}}, "mime.max_depth"),
        ({"mime": {"max_parts": 0}}, "mime.max_parts"),
        ({"mime": {"max_header_size": "big"}}, "mime.max_header_size"),
        ({"mime": {"max_parameters": "100"}}, "mime.max_parameters"),
        ({"mime": {"max_part": 10}}, "mime.max_part"),
    ],
)
def test_bad_configuration_names_the_key(raw: dict[str, Any], names: str) -> None:
    """A typo or a bad value stops start-up with a message naming section.key."""
    with pytest.raises(ConfigError, match=names.replace(".", r"\.")):
        settings_from_dict(raw)


def test_durations_and_sizes() -> None:
    settings = settings_from_dict(
        {
            "letters": {"negligence_after": "3s", "retention": "10y"},
            "smtp": {"max_message_size": "1MB"},
        }
    )
    assert settings.letters.negligence_after.delta == timedelta(seconds=3)
    assert settings.letters.negligence_after.whole_days is None
    assert Settings().letters.negligence_after.whole_days == 15
    assert settings.smtp.max_message_size == 1_000_000


def test_relative_paths_resolve_against_the_current_directory(tmp_path: Path) -> None:
    settings = settings_from_dict({"gateway": {"data_dir": "data"}}, base=tmp_path)
    assert settings.gateway.data_dir == tmp_path / "data"
    assert settings.database.url == f"sqlite:///{tmp_path}/var/gateway.db"


def test_notification_languages_default_to_french_and_arabic() -> None:
    """Moroccan recipients get French and Arabic unless the operator chooses otherwise."""
    assert settings_from_dict({}).letters.notification_languages == ("fr", "ar")
    chosen = settings_from_dict({"letters": {"notification_languages": ["AR", "en"]}})
    assert chosen.letters.notification_languages == ("ar", "en")


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ([], "non-empty list"),
        ("fr", "non-empty list"),
        (["fr", "de"], "'de' is not one of the gateway's languages"),
        (["fr", "ar", "fr"], "listed twice"),
        ([1], "non-empty list"),
    ],
)
def test_bad_notification_languages_are_refused(value: Any, says: str) -> None:
    """A language list the gateway cannot honour stops start-up, naming the key and the fault."""
    with pytest.raises(ConfigError, match=r"letters\.notification_languages") as refused:
        settings_from_dict({"letters": {"notification_languages": value}})
    assert says in str(refused.value)


def test_mime_limits_read_sizes_and_counts() -> None:
    """[mime] sizes take units, counts are plain numbers, and unset keys keep their defaults."""
    mime = settings_from_dict({"mime": {"max_header_block": "1MB", "max_parts": 50}}).mime
    assert (mime.max_header_block, mime.max_parts) == (10**6, 50)
    assert (mime.max_header_size, mime.max_depth) == (64_000, 32)


def test_the_admin_listener_is_off_unless_given() -> None:
    """web.admin_listen: empty (the default) means none; host:port binds there."""
    assert settings_from_dict({}).web.admin_listen is None
    assert settings_from_dict({"web": {"admin_listen": ""}}).web.admin_listen is None
    given = settings_from_dict({"web": {"admin_listen": "127.0.0.1:9108"}})
    assert given.web.admin_listen == ("127.0.0.1", 9108)
    assert settings_from_dict({"logging": {"format": "json"}}).logging.format == "json"


@pytest.mark.parametrize(
    ("value", "says"), [("0s", "must be positive"), ("2h", "between 1s and 1h"), ("soon", "not a")]
)
def test_the_evidence_log_interval_is_refused_outside_one_second_to_one_hour(
    value: str, says: str
) -> None:
    """evidence.log_interval takes a duration from 1s to 1h; 10s by default."""
    assert settings_from_dict({}).evidence.log_interval.delta.total_seconds() == 10
    assert (
        settings_from_dict({"evidence": {"log_interval": "1h"}}).evidence.log_interval.text == "1h"
    )
    with pytest.raises(ConfigError, match=rf"evidence\.log_interval: .*{says}"):
        settings_from_dict({"evidence": {"log_interval": value}})


def test_evidence_log_witnesses_are_verifier_keys() -> None:
    """evidence.log_witnesses lists witness verifier keys; anything else is refused by name."""
    vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"  # Go's note docs
    assert settings_from_dict({}).evidence.log_witnesses == ()
    given = settings_from_dict({"evidence": {"log_witnesses": [vkey]}})
    assert given.evidence.log_witnesses == (vkey,)
    with pytest.raises(ConfigError, match=r"evidence\.log_witnesses: .*not an Ed25519 verifier"):
        settings_from_dict({"evidence": {"log_witnesses": ["w+00000000+AAAA"]}})
    with pytest.raises(ConfigError, match=r"evidence\.log_witnesses: expected a list"):
        settings_from_dict({"evidence": {"log_witnesses": vkey}})


@pytest.mark.parametrize(
    ("value", "says"), [("0s", "must be positive"), ("11m", "between 1s and 10m"), ("x", "not a")]
)
def test_the_sqlite_busy_timeout_is_refused_outside_one_second_to_ten_minutes(
    value: str, says: str
) -> None:
    """database.busy_timeout takes a duration from 1s to 10m; 30s by default."""
    assert settings_from_dict({}).database.busy_timeout.delta.total_seconds() == 30
    given = settings_from_dict({"database": {"busy_timeout": "10m"}})
    assert given.database.busy_timeout.delta.total_seconds() == 600
    with pytest.raises(ConfigError, match=rf"database\.busy_timeout: .*{says}"):
        settings_from_dict({"database": {"busy_timeout": value}})
