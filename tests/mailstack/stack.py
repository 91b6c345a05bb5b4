"""The mail stack: one private Postfix and one Dovecot under a directory (see __init__)."""

from __future__ import annotations

import base64
import json
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.mailstack import configs
from tests.mailstack.configs import MAIL_USER, WORKFLOW_DOMAIN
from tests.ports import free_port

OFFICE_DOMAIN = "bandantoc.gov.vn"
AUTHSERV_ID = "mx.bandantoc.gov.vn"  # OpenDKIM's, as in config/postfix/docflow_header_checks
DKIM_SELECTOR = "mailstack"  # the office domain's key: ROOT/opendkim/office.key
INTAKE_ADDRESSES = ("vanban@docflow.localhost",)
# docflow's envelope sender (relay.bounce_address): DSNs come back to docflow-bounce+TOKEN@…
BOUNCE_ADDRESS = "docflow-bounce@docflow.localhost"
# The users of `docflow demo`, the workflows' distribution address and the tests' author.
DEFAULT_USERS = (
    "thu.lt@bandantoc.gov.vn",
    "luutru@bandantoc.gov.vn",
    "hung.nv@bandantoc.gov.vn",
    "truongban@bandantoc.gov.vn",
    "vanthu@bandantoc.gov.vn",
)
PASSWORD = "mailstack-test"  # every test user's IMAP password: a throwaway local stack
STATE_FILE = "mailstack.json"
DEFAULT_ROOT = Path(tempfile.gettempdir()) / "docflow-mailstack"


class MailstackError(RuntimeError):
    """The stack could not be set up, started or stopped; the message says why."""


def _port_taken(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _run(args: Sequence[str], within: float = 30) -> subprocess.CompletedProcess[str]:
    """Run a command; Postfix prints fatal errors only to a terminal, so give it one."""
    return subprocess.run(
        ["script", "-qec", shlex.join(args), "/dev/null"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=within,
        check=False,
    )


@dataclass
class Mailstack:
    """One Postfix and one Dovecot under `root`; `start()`, use, `stop()`."""

    root: Path
    docflow_lmtp_port: int
    smtp_port: int = 0  # 0: a free port, chosen when the config is written
    imap_port: int = 0
    dovecot_lmtp_port: int = 0
    users: list[str] = field(default_factory=lambda: list(DEFAULT_USERS))
    password: str = PASSWORD
    workflow_domain: str = WORKFLOW_DOMAIN
    office_domain: str = OFFICE_DOMAIN
    intake_addresses: list[str] = field(default_factory=lambda: list(INTAKE_ADDRESSES))
    bounce_address: str = BOUNCE_ADDRESS
    # office addresses Postfix takes but Dovecot does not know: its LMTP refuses them, so
    # Postfix bounces mail to them (a DSN to the envelope sender, e.g. docflow's VERP)
    unknown_to_dovecot: list[str] = field(default_factory=list)
    tls: bool = False  # Dovecot with a self-signed certificate: STARTTLS, and IMAPS on imaps_port
    imaps_port: int = 0
    dkim_port: int = 0  # OpenDKIM, Postfix's milter
    authserv_id: str = AUTHSERV_ID

    # --- where things are ---------------------------------------------------------------

    @property
    def postfix_dir(self) -> Path:
        """Postfix's config_directory (main.cf, master.cf, maps)."""
        return self.root / "postfix" / "etc"

    @property
    def queue_dir(self) -> Path:
        return self.root / "postfix" / "queue"

    @property
    def dovecot_conf(self) -> Path:
        return self.root / "dovecot" / "dovecot.conf"

    @property
    def mail_dir(self) -> Path:
        return self.root / "mail"

    @property
    def postfix_log(self) -> Path:
        return self.root / "postfix.log"

    @property
    def dovecot_log(self) -> Path:
        return self.root / "dovecot.log"

    @property
    def dkim_key(self) -> Path:
        """The office domain's DKIM private key (PEM), published as `DKIM_SELECTOR`."""
        return self.root / "opendkim" / "office.key"

    @property
    def tls_cert(self) -> Path:
        """The self-signed certificate of `tls = True` (for 127.0.0.1 and localhost)."""
        return self.root / "dovecot" / "tls.crt"

    def _make_certificate(self) -> None:
        key = self.root / "dovecot" / "tls.key"
        result = _run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
             "-keyout", str(key), "-out", str(self.tls_cert)]
        )  # fmt: skip
        if result.returncode != 0:
            raise MailstackError(f"openssl: {result.stdout}{result.stderr}")

    def write_config(self) -> None:
        """Both servers' private config under `root`, with owners each one insists on."""
        if os.geteuid() != 0:
            raise MailstackError("the mail stack needs root (Postfix's master starts as root)")
        for name in ("postfix", "dovecot", "opendkim"):
            if shutil.which(name) is None and not Path(f"/usr/sbin/{name}").exists():
                raise MailstackError(f"{name} is missing: run scripts/bootstrap --test")
        self.smtp_port = self.smtp_port or free_port()
        self.imap_port = self.imap_port or free_port()
        self.dovecot_lmtp_port = self.dovecot_lmtp_port or free_port()
        self.dkim_port = self.dkim_port or free_port()
        nobody = pwd.getpwnam(MAIL_USER)
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)  # `nobody` and Postfix's users walk through it
        for d in (self.postfix_dir, self.queue_dir, self.root / "postfix" / "data"):
            d.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.root / "postfix" / "data", "postfix")  # postfix refuses otherwise
        for d in (self.root / "dovecot" / "run", self.root / "dovecot" / "state", self.mail_dir):
            d.mkdir(parents=True, exist_ok=True)
        os.chown(self.mail_dir, nobody.pw_uid, nobody.pw_gid)
        if self.tls:
            self.imaps_port = self.imaps_port or free_port()
            self._make_certificate()
        (self.postfix_dir / "main.cf").write_text(configs.postfix_main_cf(self))
        (self.postfix_dir / "master.cf").write_text(configs.postfix_master_cf(self.smtp_port))
        (self.postfix_dir / "docflow_transport").write_text(configs.docflow_transport(self))
        (self.postfix_dir / "docflow_recipients").write_text(
            "".join(f"{a} OK\n" for a in [*self.intake_addresses, self.bounce_address])
        )
        checks = "docflow_header_checks"  # a regexp table: no postmap
        shutil.copy(configs.OFFICE_CONFIG / checks, self.postfix_dir / checks)
        for name in ("docflow_transport", "docflow_recipients"):
            result = _run(["postmap", "-c", str(self.postfix_dir), str(self.postfix_dir / name)])
            if result.returncode != 0:
                raise MailstackError(f"postmap {name}: {result.stdout}")
        (self.postfix_dir / "mailboxes").write_text(
            "".join(f"{u} OK\n" for u in [*self.users, *self.unknown_to_dovecot])
        )
        (self.root / "dovecot" / "users").write_text(
            "".join(f"{u}:{{PLAIN}}{self.password}::::::\n" for u in self.users)
        )
        self.dovecot_conf.write_text(configs.dovecot_conf(self))
        self._write_opendkim()
        self._save_state()

    def _write_opendkim(self) -> None:
        """OpenDKIM's config and the office domain's key, its public half as DNS data."""
        d = self.root / "opendkim"
        d.mkdir(parents=True, exist_ok=True)
        if not self.dkim_key.exists():
            key = _run(["openssl", "genrsa", "-traditional", "-out", str(self.dkim_key), "1024"])
            if key.returncode != 0:
                raise MailstackError(f"openssl genrsa: {key.stdout}{key.stderr}")
        der = subprocess.run(
            ["openssl", "rsa", "-in", str(self.dkim_key), "-pubout", "-outform", "DER"],
            capture_output=True,
            timeout=30,
            check=True,
        ).stdout
        record = f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"
        (d / "dns").write_text(f"{DKIM_SELECTOR}._domainkey.{self.office_domain} {record}\n")
        (d / "internal_hosts").write_text("# none\n")
        (d / "opendkim.conf").write_text(configs.opendkim_conf(self))

    # --- running --------------------------------------------------------------------------

    def start(self, within: float = 30) -> None:
        """Write the config, start Dovecot then Postfix, return once all three ports answer."""
        self.write_config()
        for port in (self.smtp_port, self.imap_port, self.dovecot_lmtp_port, self.dkim_port):
            if _port_taken(port):
                raise MailstackError(f"127.0.0.1:{port} is already in use")
        try:
            self._start_dovecot()
            self._start_opendkim()
            self._start_postfix()
            end = time.monotonic() + within
            self._wait_banner(self.dovecot_lmtp_port, b"220", end, "Dovecot LMTP")
            self._wait_banner(self.imap_port, b"* OK", end, "Dovecot IMAP")
            if self.tls:
                self._wait_port(self.imaps_port, end, "Dovecot IMAPS")
            self._wait_port(self.dkim_port, end, "OpenDKIM")
            self._wait_banner(self.smtp_port, b"220", end, "Postfix smtpd")
        except BaseException:
            self.stop()
            raise

    def _start_dovecot(self) -> None:
        out = self.root / "dovecot" / "startup.log"
        with out.open("wb") as log:  # not a pipe: the daemon keeps it open
            result = subprocess.run(
                ["dovecot", "-c", str(self.dovecot_conf)],  # daemonises; master.pid in base_dir
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=30,
                check=False,
            )
        if result.returncode != 0:
            raise MailstackError(f"dovecot did not start: {out.read_text(errors='replace')}")

    def _start_opendkim(self) -> None:
        d = self.root / "opendkim"
        with (d / "startup.log").open("wb") as log:  # not a pipe, nor `script`'s terminal:
            result = subprocess.run(  # the daemon would die with it
                ["opendkim", "-x", str(d / "opendkim.conf")],  # daemonises; pid in PidFile
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=30,
                check=False,
                start_new_session=True,
            )
        if result.returncode != 0:
            raise MailstackError(f"opendkim did not start: {(d / 'startup.log').read_text()}")

    def _start_postfix(self) -> None:
        result = _run(["postfix", "-c", str(self.postfix_dir), "start"])
        if result.returncode != 0:
            raise MailstackError(f"postfix did not start: {result.stdout}{result.stderr}")

    def _wait_banner(self, port: int, banner: bytes, end: float, what: str) -> None:
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                    if s.recv(200).startswith(banner):
                        return
            except OSError:
                pass
            if time.monotonic() > end:
                raise MailstackError(f"{what} is not answering on 127.0.0.1:{port}\n{self.logs()}")
            time.sleep(0.05)

    def _wait_port(self, port: int, end: float, what: str) -> None:
        while not _port_taken(port):
            if time.monotonic() > end:
                raise MailstackError(f"{what} is not listening on 127.0.0.1:{port}\n{self.logs()}")
            time.sleep(0.05)

    @staticmethod
    def _pid(path: Path, name: str) -> int | None:
        """The live process named `name` whose pid the file holds (a stale file whose pid
        now belongs to another program, or to a zombie, is no process of ours)."""
        try:
            pid = int(path.read_text().split()[0])
            stat = Path(f"/proc/{pid}/stat").read_text()
        except (OSError, ValueError, IndexError):
            return None
        comm, state = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2]
        return pid if comm == name and state != "Z" else None

    @property
    def postfix_pid(self) -> int | None:
        return self._pid(self.queue_dir / "pid" / "master.pid", "master")

    @property
    def dovecot_pid(self) -> int | None:
        return self._pid(self.root / "dovecot" / "run" / "master.pid", "dovecot")

    @property
    def opendkim_pid(self) -> int | None:
        return self._pid(self.root / "opendkim" / "opendkim.pid", "opendkim")

    def stop(self, within: float = 20) -> None:
        """Stop both masters, which stop their children, and OpenDKIM (SIGTERM, then
        SIGKILL); quiet if nothing runs."""
        for pid in (self.postfix_pid, self.dovecot_pid, self.opendkim_pid):
            if pid is not None:
                os.kill(pid, signal.SIGTERM)
        end = time.monotonic() + within
        while pids := [
            p for p in (self.postfix_pid, self.dovecot_pid, self.opendkim_pid) if p is not None
        ]:
            if time.monotonic() > end:
                for pid in pids:
                    os.kill(pid, signal.SIGKILL)
                break
            time.sleep(0.05)

    def cleanup(self) -> None:
        """Stop and remove the whole temp dir."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def running(self) -> bool:
        pids = (self.postfix_pid, self.dovecot_pid, self.opendkim_pid)
        return all(pid is not None for pid in pids)

    # --- Dovecot's mailboxes ----------------------------------------------------------------

    def save(self, user: str, message: bytes, folder: str = "INBOX") -> None:
        """Drop a message into a user's mailbox as a delivery would (`doveadm save`; run
        as root, doveadm works as the user's own uid from the userdb, `nobody`)."""
        result = subprocess.run(
            ["doveadm", "-c", str(self.dovecot_conf), "save", "-u", user, "-m", folder],
            input=message,
            capture_output=True,
            timeout=30,
            check=False,
        )
        if result.returncode != 0:
            raise MailstackError(f"doveadm save for {user}: {result.stderr.decode()[-2000:]}")

    def flags(self, user: str, folder: str = "INBOX") -> dict[int, set[str]]:
        """UID → flags of each message in a folder (`doveadm fetch`: no IMAP session, so
        nothing in the IMAP log); empty when the folder does not exist."""
        result = subprocess.run(
            ["doveadm", "-c", str(self.dovecot_conf), "fetch", "-u", user, "uid flags",
             "mailbox", folder],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )  # fmt: skip
        if result.returncode != 0:
            if "doesn't exist" in result.stderr or "Mailbox not found" in result.stderr:
                return {}
            raise MailstackError(f"doveadm fetch for {user}: {result.stderr[-2000:]}")
        out: dict[int, set[str]] = {}
        uid = 0
        for line in result.stdout.splitlines():
            key, _, value = line.partition(":")
            if key == "uid":
                uid = int(value)
            elif key == "flags":
                out[uid] = set(value.split())
        return out

    # --- Postfix's queue ------------------------------------------------------------------

    def queue(self) -> list[dict[str, Any]]:
        """The messages in Postfix's queue (`postqueue -j`: queue_name, recipients, …)."""
        result = subprocess.run(
            ["postqueue", "-c", str(self.postfix_dir), "-j"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]

    def flush(self) -> None:
        """Deliver deferred mail now (`postqueue -f`), as an admin does after an outage."""
        subprocess.run(
            ["postqueue", "-c", str(self.postfix_dir), "-f"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=30,
            check=True,
        )

    def logs(self, chars: int = 3000) -> str:
        out = []
        for path in (self.postfix_log, self.dovecot_log):
            try:
                out.append(f"--- {path.name}\n{path.read_text(errors='replace')[-chars:]}")
            except FileNotFoundError:
                out.append(f"--- {path.name}: none")
        return "\n".join(out)

    # --- state, for `scripts/mailstack status|stop` --------------------------------------

    def _save_state(self) -> None:
        state = asdict(self)
        state["root"] = str(self.root)
        (self.root / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")

    @classmethod
    def load(cls, root: Path) -> Mailstack:
        try:
            state = json.loads((root / STATE_FILE).read_text())
        except FileNotFoundError:
            raise MailstackError(f"no mail stack in {root}") from None
        state["root"] = Path(state["root"])
        return cls(**state)

    def describe(self) -> str:
        """What a person needs: ports, users, how to send and how to read."""
        users = "\n".join(f"    {u}" for u in self.users)
        intake = self.intake_addresses[0]
        author = self.users[0]
        return f"""\
docflow mail stack in {self.root} ({"running" if self.running() else "NOT running"})
  Postfix SMTP   127.0.0.1:{self.smtp_port}   (send drafts here; docflow's relay too)
                 {self.workflow_domain} → LMTP 127.0.0.1:{self.docflow_lmtp_port} (docflow)
                 {self.office_domain} → LMTP 127.0.0.1:{self.dovecot_lmtp_port} (Dovecot)
  OpenDKIM       127.0.0.1:{self.dkim_port}   (Postfix's milter: verifies, and writes
                 Authentication-Results as {self.authserv_id}; signs nothing)
                 {self.office_domain}'s key: {self.dkim_key} (selector {DKIM_SELECTOR})
  Dovecot IMAP   127.0.0.1:{self.imap_port}   (plain login, no TLS), password {self.password!r} for
{users}
  bounce         {", ".join(self.unknown_to_dovecot) or "(none; --unknown-user EMAIL)"}: taken by
                 Postfix, refused by Dovecot: docflow's mail to it bounces back to
                 {self.bounce_address.replace("@", "+TOKEN@")}
  logs           {self.postfix_log}  {self.dovecot_log}
  queue          postqueue -c {self.postfix_dir} -p     (flush: -f)

Run docflow behind it (another terminal, from the checkout):
  export DOCFLOW_LMTP=1 DOCFLOW_SMTP_PORT={self.docflow_lmtp_port} \\
         DOCFLOW_RELAY_PORT={self.smtp_port}
  .venv/bin/docflow migrate
  .venv/bin/docflow user add {author} --name "Lê Thị Thu"
  .venv/bin/docflow serve
Send a draft through Postfix:
  swaks --server 127.0.0.1:{self.smtp_port} --from {author} --to {intake} \\
        --header "Subject: [KH] Kế hoạch công tác năm 2027" --attach @draft.docx
Read the receipt:
  curl -s --url "imap://127.0.0.1:{self.imap_port}/INBOX;UID=1" --user "{author}:{self.password}"
  (or any IMAP client: server 127.0.0.1, port {self.imap_port}, no encryption)
"""


@contextmanager
def running(**options: Any) -> Iterator[Mailstack]:
    """A started stack for a test module, removed afterwards; docflow's LMTP port free.

    Not under pytest's tmp dir: that one is private to root, and Dovecot serves the mail
    as `nobody`."""
    root = Path("/tmp") / f"docflow-mailstack-{uuid.uuid4().hex[:8]}"
    stack = Mailstack(root, docflow_lmtp_port=free_port(), **options)
    try:
        stack.start()
        yield stack
    finally:
        stack.cleanup()
