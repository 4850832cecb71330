"""A private Postfix instance for a test: own config, queue and data directories, loopback port.

    with Postfix(port, main={"relayhost": "[127.0.0.2]:2525"}) as postfix:
        ...  # SMTP to 127.0.0.1:port

It is started with `postfix -c DIR start` (the master runs as a plain process of this test, not
a system service) and stopped with `postfix -c DIR stop`; the system's own Postfix, installed or
not, running or not, is never touched (its config dir, queue and pid file are not ours). Needs
root (Postfix's master must start as root) and the `postfix` user from the Debian package.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

# Services of the default master.cf that a relay needs (tlsmgr: STARTTLS), all outside any chroot.
MASTER_CF = """\
{listen} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Postfix:
    def __init__(self, port: int, *, main: dict[str, str]) -> None:
        self.port = port
        self.root = Path(tempfile.mkdtemp(prefix="lre-postfix-"))
        self.root.chmod(0o755)
        self.config = self.root / "etc"
        self.log = self.root / "maillog"
        settings = {
            "compatibility_level": "3.6",
            "queue_directory": str(self.root / "queue"),
            "data_directory": str(self.root / "data"),
            "command_directory": "/usr/sbin",
            "daemon_directory": "/usr/lib/postfix/sbin",
            "meta_directory": str(self.config),
            "shlib_directory": "/usr/lib/postfix",
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "myhostname": "relay.test",
            "mydomain": "test",
            "myorigin": "$myhostname",
            "mydestination": "",
            "mynetworks": "127.0.0.0/8",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "local_transport": "error:no local delivery",
            "smtp_dns_support_level": "disabled",
            "smtputf8_enable": "no",
            "biff": "no",
            "maillog_file": str(self.log),
            "maillog_file_prefixes": str(self.root),
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "master_service_disable": "",
        }
        settings.update(main)
        self.settings = settings

    def _postfix(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["/usr/sbin/postfix", "-c", str(self.config), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def __enter__(self) -> Postfix:
        self.config.mkdir()
        (self.root / "queue").mkdir(mode=0o755)  # postfix check creates what is inside
        (self.root / "data").mkdir(mode=0o700)
        shutil.chown(self.root / "data", "postfix")
        for name in ("dynamicmaps.cf", "postfix-files"):
            shutil.copy(Path("/etc/postfix") / name, self.config / name)
        for name in ("dynamicmaps.cf.d", "postfix-files.d"):
            if (Path("/etc/postfix") / name).is_dir():
                shutil.copytree(Path("/etc/postfix") / name, self.config / name)
        (self.config / "main.cf").write_text(
            "".join(f"{key} = {value}\n" for key, value in self.settings.items())
        )
        (self.config / "master.cf").write_text(MASTER_CF.format(listen=f"127.0.0.1:{self.port}"))
        started = self._postfix("start")
        if started.returncode != 0:
            raise RuntimeError(f"postfix did not start: {started.stderr}{self.maillog()}")
        self._wait_listening()
        return self

    def _wait_listening(self) -> None:
        import socket

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"postfix is not listening on {self.port}: {self.maillog()}")

    def maillog(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        pid_file = self.root / "queue" / "pid" / "master.pid"
        pid = int(pid_file.read_text().strip()) if pid_file.exists() else None
        self._postfix("stop")
        deadline = time.monotonic() + 10
        while pid is not None and Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        shutil.rmtree(self.root, ignore_errors=True)
