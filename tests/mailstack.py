"""A private Postfix + Dovecot in a temp dir on 127.0.0.1 high ports, in front of docflow.

    Postfix smtpd 127.0.0.1:SMTP ─┬─ docflow.localhost  → lmtp:inet:127.0.0.1:DOCFLOW (docflow)
                                  └─ bandantoc.gov.vn   → lmtp:inet:127.0.0.1:LMTP (Dovecot)
    Dovecot IMAP 127.0.0.1:IMAP, passwd-file users, maildirs under ROOT/mail

Drafts go to Postfix (swaks, a mail client); Postfix hands the workflow domain to
docflow over LMTP (as an office's MTA does, config/postfix/) and keeps a message
that docflow answers 4xx, or cannot be reached, in its queue. docflow's own mail
(DOCFLOW_RELAY_HOST/PORT = Postfix) goes to the office domain: Dovecot's mailboxes,
read back over IMAP. Used by tests/system/test_mailstack.py, and by a person through
`scripts/mailstack start|stop|status` (docs/operations.md, "Behind Postfix (LMTP)").

Nothing touches /etc/postfix, /etc/dovecot or the system's ports: both run from
config files under ROOT, listen on 127.0.0.1 only, log to ROOT. Postfix needs
root to start (its master drops to the `postfix` user); Dovecot delivers and
serves the mail as `nobody`, so that no mail dir belongs to root.
Only the standard library here: the harness does not depend on docflow.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

WORKFLOW_DOMAIN = "docflow.localhost"
OFFICE_DOMAIN = "bandantoc.gov.vn"
INTAKE_ADDRESSES = ("vanban@docflow.localhost",)
# The users of `docflow demo`, the workflows' distribution address and the tests' author.
DEFAULT_USERS = (
    "thu.lt@bandantoc.gov.vn",
    "luutru@bandantoc.gov.vn",
    "hung.nv@bandantoc.gov.vn",
    "truongban@bandantoc.gov.vn",
    "vanthu@bandantoc.gov.vn",
)
PASSWORD = "mailstack-test"  # every test user's IMAP password: a throwaway local stack
MAIL_USER = "nobody"  # owner of the mail dirs (Dovecot refuses root-owned ones)
STATE_FILE = "mailstack.json"
DEFAULT_ROOT = Path(tempfile.gettempdir()) / "docflow-mailstack"
OFFICE_CONFIG = Path(__file__).resolve().parents[1] / "config" / "postfix"  # what offices use


class MailstackError(RuntimeError):
    """The stack could not be set up, started or stopped; the message says why."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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

    def maildir(self, user: str) -> Path:
        local, domain = user.split("@", 1)
        return self.mail_dir / domain / local / "Maildir"

    # --- config ---------------------------------------------------------------------------

    def write_config(self) -> None:
        """Both servers' private config under `root`, with owners each one insists on."""
        if os.geteuid() != 0:
            raise MailstackError("the mail stack needs root (Postfix's master starts as root)")
        for name in ("postfix", "dovecot"):
            if shutil.which(name) is None and not Path(f"/usr/sbin/{name}").exists():
                raise MailstackError(f"{name} is missing: run scripts/bootstrap --test")
        self.smtp_port = self.smtp_port or free_port()
        self.imap_port = self.imap_port or free_port()
        self.dovecot_lmtp_port = self.dovecot_lmtp_port or free_port()
        nobody = pwd.getpwnam(MAIL_USER)
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)  # `nobody` and Postfix's users walk through it
        for d in (self.postfix_dir, self.queue_dir, self.root / "postfix" / "data"):
            d.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.root / "postfix" / "data", "postfix")  # postfix refuses otherwise
        for d in (self.root / "dovecot" / "run", self.root / "dovecot" / "state", self.mail_dir):
            d.mkdir(parents=True, exist_ok=True)
        os.chown(self.mail_dir, nobody.pw_uid, nobody.pw_gid)
        (self.postfix_dir / "main.cf").write_text(self._main_cf())
        (self.postfix_dir / "master.cf").write_text(self._master_cf())
        transport = (OFFICE_CONFIG / "docflow_transport").read_text()
        (self.postfix_dir / "docflow_transport").write_text(
            transport.replace("127.0.0.1:2525", f"127.0.0.1:{self.docflow_lmtp_port}").replace(
                f"\n{WORKFLOW_DOMAIN} ", f"\n{self.workflow_domain} "
            )
        )
        (self.postfix_dir / "docflow_recipients").write_text(
            "".join(f"{a} OK\n" for a in self.intake_addresses)
        )
        for name in ("docflow_transport", "docflow_recipients"):
            result = _run(["postmap", "-c", str(self.postfix_dir), str(self.postfix_dir / name)])
            if result.returncode != 0:
                raise MailstackError(f"postmap {name}: {result.stdout}")
        (self.postfix_dir / "mailboxes").write_text("".join(f"{u} OK\n" for u in self.users))
        (self.root / "dovecot" / "users").write_text(
            "".join(f"{u}:{{PLAIN}}{self.password}::::::\n" for u in self.users)
        )
        self.dovecot_conf.write_text(self._dovecot_conf())
        self._save_state()

    def _main_cf(self) -> str:
        office = (
            (OFFICE_CONFIG / "main.cf").read_text().replace("/etc/postfix/", f"{self.postfix_dir}/")
        )
        office = office.replace(
            "relay_domains = docflow.localhost", f"relay_domains = {self.workflow_domain}"
        )
        return f"""\
# A private Postfix of docflow's mail stack (tests/mailstack.py); not the system's.
compatibility_level = 3.6
queue_directory = {self.queue_dir}
data_directory = {self.root / "postfix" / "data"}
mail_owner = postfix
setgid_group = postdrop
myhostname = mailstack.localhost
mydomain = localhost
myorigin = $myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_banner = $myhostname ESMTP docflow mailstack
alias_maps =
alias_database =
local_recipient_maps =
biff = no
append_dot_mydomain = no
maillog_file = {self.postfix_log}
maillog_file_prefixes = {self.root}

# --- config/postfix/main.cf, as an office adds it (maps under this config dir) ---
{office}
# --- the harness's own ---
# The office's domain goes to Dovecot over LMTP: docflow's receipts land in mailboxes.
virtual_mailbox_domains = {self.office_domain}
virtual_mailbox_maps = texthash:{self.postfix_dir / "mailboxes"}
virtual_transport = lmtp:inet:127.0.0.1:{self.dovecot_lmtp_port}

# Retry deferred mail soon (tests flush with `postqueue -f` anyway).
queue_run_delay = 10s
minimal_backoff_time = 10s
maximal_backoff_time = 60s
"""

    def _master_cf(self) -> str:
        services = [
            f"127.0.0.1:{self.smtp_port} inet n - n - - smtpd",
            "pickup unix n - n 60 1 pickup",
            "cleanup unix n - n - 0 cleanup",
            "qmgr unix n - n 300 1 qmgr",
            "rewrite unix - - n - - trivial-rewrite",
            "bounce unix - - n - 0 bounce",
            "defer unix - - n - 0 bounce",
            "trace unix - - n - 0 bounce",
            "verify unix - - n - 1 verify",
            "flush unix n - n 1000? 0 flush",
            "proxymap unix - - n - - proxymap",
            "showq unix n - n - - showq",
            "error unix - - n - - error",
            "retry unix - - n - - error",
            "discard unix - - n - - discard",
            "lmtp unix - - n - - lmtp",
            "smtp unix - - n - - smtp",
            "anvil unix - - n - 1 anvil",
            "scache unix - - n - 1 scache",
            "postlog unix-dgram n - n - 1 postlogd",
        ]
        return "# no chroot: the queue is a temp dir\n" + "\n".join(services) + "\n"

    def _dovecot_conf(self) -> str:
        d = self.root / "dovecot"
        return f"""\
# A private Dovecot of docflow's mail stack (tests/mailstack.py); not the system's.
instance_name = docflow-mailstack-{self.imap_port}
base_dir = {d / "run"}
state_dir = {d / "state"}
log_path = {self.dovecot_log}
listen = 127.0.0.1
protocols = imap lmtp
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = 1
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d / "users"}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {d / "users"}
  default_fields = uid={MAIL_USER} gid={pwd.getpwnam(MAIL_USER).pw_gid} home={self.mail_dir}/%d/%n
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {self.dovecot_lmtp_port}
  }}
  unix_listener lmtp {{
    mode = 0
  }}
}}
protocol lmtp {{
  postmaster_address = postmaster@{self.office_domain}
}}
"""

    # --- running --------------------------------------------------------------------------

    def start(self, within: float = 30) -> None:
        """Write the config, start Dovecot then Postfix, return once all three ports answer."""
        self.write_config()
        for port in (self.smtp_port, self.imap_port, self.dovecot_lmtp_port):
            if _port_taken(port):
                raise MailstackError(f"127.0.0.1:{port} is already in use")
        try:
            self._start_dovecot()
            self._start_postfix()
            end = time.monotonic() + within
            self._wait_banner(self.dovecot_lmtp_port, b"220", end, "Dovecot LMTP")
            self._wait_banner(self.imap_port, b"* OK", end, "Dovecot IMAP")
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

    def stop(self, within: float = 20) -> None:
        """Stop both masters, which stop their children (SIGTERM, then SIGKILL); quiet if
        nothing runs."""
        for pid in (self.postfix_pid, self.dovecot_pid):
            if pid is not None:
                os.kill(pid, signal.SIGTERM)
        end = time.monotonic() + within
        while pids := [p for p in (self.postfix_pid, self.dovecot_pid) if p is not None]:
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
        return self.postfix_pid is not None and self.dovecot_pid is not None

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

    def purge(self) -> None:
        """Delete every queued message (`postsuper -d ALL`)."""
        _run(["postsuper", "-c", str(self.postfix_dir), "-d", "ALL"])

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
  Dovecot IMAP   127.0.0.1:{self.imap_port}   (plain login, no TLS), password {self.password!r} for
{users}
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


# --- the person's entry point: scripts/mailstack ------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/mailstack",
        description="A private Postfix + Dovecot on 127.0.0.1 in front of docflow (LMTP).",
    )
    parser.add_argument(
        "--dir", type=Path, default=DEFAULT_ROOT, help=f"where it lives (default {DEFAULT_ROOT})"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="write the config, start both, print how to use them")
    start.add_argument("--docflow-lmtp-port", type=int, default=2525, help="docflow's LMTP port")
    start.add_argument(
        "--smtp-port",
        type=int,
        default=2526,
        help="Postfix's SMTP port (default 2526: docflow's default relay port; 0: any free one)",
    )
    start.add_argument("--imap-port", type=int, default=0, help="Dovecot's IMAP port (0: free)")
    start.add_argument("--user", action="append", default=[], help="another mailbox user (EMAIL)")
    sub.add_parser("status", help="print ports, users and whether it runs")
    sub.add_parser("stop", help="stop both and remove the directory")
    args = parser.parse_args(argv)
    root: Path = args.dir
    try:
        if args.command == "start":
            if (root / STATE_FILE).exists() and Mailstack.load(root).running():
                print(f"already running:\n{Mailstack.load(root).describe()}", file=sys.stderr)
                return 1
            stack = Mailstack(
                root,
                docflow_lmtp_port=args.docflow_lmtp_port,
                smtp_port=args.smtp_port,
                imap_port=args.imap_port,
                users=[*DEFAULT_USERS, *args.user],
            )
            stack.stop()  # leftovers of an earlier run in the same dir
            stack.start()
            print(stack.describe())
        elif args.command == "status":
            stack = Mailstack.load(root)
            print(stack.describe())
            return 0 if stack.running() else 3
        else:
            Mailstack.load(root).cleanup()
            print(f"stopped; removed {root}")
    except MailstackError as e:
        print(f"mailstack: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
