"""Real mail servers for the email-channel tests: a throwaway Dovecot IMAP server (Debian ``dovecot-imapd``) in a
temporary folder on a free loopback port with one passwd-file user, and an aiosmtpd SMTP server that keeps what it
receives. The tests skip with a clear message when dovecot is not installed (CI installs it)."""

from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest

DOVECOT = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)
IMAP_USER, IMAP_PASSWORD = "kefu@acme.example", "imap-test-pw-7"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Dovecot:
    port: int
    folder: Path
    proc: subprocess.Popen

    def deliver(self, msg: EmailMessage | bytes) -> None:
        """A mail arrives in the INBOX (IMAP APPEND, as a delivery agent would put it there)."""
        raw = msg if isinstance(msg, bytes) else msg.as_bytes(policy=policy.SMTP)
        conn = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        try:
            conn.login(IMAP_USER, IMAP_PASSWORD)
            typ, data = conn.append("INBOX", "", None, raw)
            assert typ == "OK", data
        finally:
            conn.logout()


def _config(tmp: Path, port: int) -> str:
    if os.geteuid() == 0:  # dovecot refuses to run its logins and mail access as root
        login, internal = "dovenull", "dovecot"
        uid, gid = pwd.getpwnam("dovecot").pw_uid, pwd.getpwnam("dovecot").pw_gid
    else:
        login = internal = pwd.getpwuid(os.geteuid()).pw_name
        uid, gid = os.geteuid(), os.getegid()
    home = tmp / "home"
    home.mkdir()
    os.chown(home, uid, gid)
    (tmp / "passwd").write_text(f"{IMAP_USER}:{{PLAIN}}{IMAP_PASSWORD}::::::\n")
    return f"""
base_dir = {tmp}/run
state_dir = {tmp}/state
log_path = {tmp}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {login}
default_internal_user = {internal}
default_internal_group = {internal}
first_valid_uid = {min(uid, 100)}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {tmp}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {tmp}/passwd
  default_fields = uid={uid} gid={gid} home={home}/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


def start_dovecot() -> Dovecot:
    if DOVECOT is None:
        pytest.skip(
            "dovecot is not installed (apt-get install dovecot-imapd): the IMAP tests need a real server"
        )
    tmp = Path(tempfile.mkdtemp(prefix="gx-dovecot-"))
    os.chmod(
        tmp, 0o755
    )  # dovecot's unprivileged processes read the passwd file and the mail folders under it
    port = free_port()
    (tmp / "dovecot.conf").write_text(_config(tmp, port))
    proc = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(tmp / "dovecot.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            conn = imaplib.IMAP4("127.0.0.1", port, timeout=2)
            conn.login(IMAP_USER, IMAP_PASSWORD)
            conn.logout()
            return Dovecot(port=port, folder=tmp, proc=proc)
        except (OSError, imaplib.IMAP4.error):
            if proc.poll() is not None:
                break
            time.sleep(0.2)
    stop_dovecot(Dovecot(port=port, folder=tmp, proc=proc))
    log = (tmp / "dovecot.log").read_text() if (tmp / "dovecot.log").exists() else ""
    raise RuntimeError(f"dovecot did not start: {log[-2000:]}")


def stop_dovecot(d: Dovecot) -> None:
    if d.proc.poll() is None:
        d.proc.terminate()
        try:
            d.proc.wait(10)
        except subprocess.TimeoutExpired:
            d.proc.kill()
            d.proc.wait(5)
    shutil.rmtree(d.folder, ignore_errors=True)


@dataclass
class SmtpSink:
    """An aiosmtpd server that keeps every mail it receives (envelope and parsed message)."""

    port: int
    received: list[dict[str, Any]] = field(default_factory=list)
    controller: Any = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd hook
        raw = envelope.original_content or envelope.content
        self.received.append(
            {
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "raw": raw,
                "msg": BytesParser(policy=policy.default).parsebytes(raw),
            }
        )
        return "250 OK"


def start_smtp() -> SmtpSink:
    from aiosmtpd.controller import Controller

    sink = SmtpSink(port=free_port())
    sink.controller = Controller(
        sink, hostname="127.0.0.1", port=sink.port, decode_data=False, ready_timeout=10
    )
    sink.controller.start()
    return sink
