"""The newcomer's path: `lre-gateway demo` prints a swaks command that deposits a letter."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

from gateway.app import running
from gateway.settings import load_settings
from tests.support.client import link_in, notification_for, proofs_for, wait_for
from tests.support.gateway import free_port


async def test_the_printed_swaks_command_deposits_a_letter(
    tmp_path: Path, database_url: str
) -> None:
    """Run `demo`, paste its swaks command into a shell: 250, proof of deposit, notification."""
    web = free_port()
    config = tmp_path / "gateway.toml"
    config.write_text(f"""
[gateway]
data_dir = "{tmp_path / "var"}"
public_url = "http://127.0.0.1:{web}"
[database]
url = "{database_url}"
[smtp]
submission = "127.0.0.1:{free_port()}"
submissions = "127.0.0.1:0"
inbound = "127.0.0.1:0"
[web]
listen = "127.0.0.1:{web}"
""")
    (tmp_path / "README.md").write_text("Conditions générales\n")
    demo = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "--config",
        str(config),
        "demo",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=tmp_path,
    )
    out, err = await demo.communicate()
    assert demo.returncode == 0, err.decode()
    printed = out.decode()
    command = re.search(r"^\s*(swaks .*?)(?:\n\n|\Z)", printed, re.S | re.M)
    assert command, printed
    settings = load_settings(config)
    async with running(settings) as gateway:
        swaks = await asyncio.create_subprocess_shell(
            command.group(1),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=tmp_path,
        )
        transcript = (await swaks.communicate())[0].decode()
        assert swaks.returncode == 0, transcript
        assert re.search(r"<~  250 2\.0\.0 Registered letter LRE-\d{8}-\w{8}", transcript)
        sender = f"demo@{settings.gateway.domain}"
        await wait_for(
            lambda: proofs_for(gateway, sender, "SubmissionAcceptance"), what="proof of deposit"
        )
        notice = (
            await wait_for(
                lambda: notification_for(gateway, "bob@example.com"), what="notification"
            )
        )[0]
        assert link_in(notice).startswith(f"http://127.0.0.1:{web}/l/")
