"""The private config files of the mail stack: Postfix main.cf and master.cf, dovecot.conf."""

from __future__ import annotations

import pwd
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.mailstack.stack import Mailstack

OFFICE_CONFIG = Path(__file__).resolve().parents[2] / "config" / "postfix"  # as offices use it
WORKFLOW_DOMAIN = "docflow.localhost"
MAIL_USER = "nobody"  # owner of the mail dirs (Dovecot refuses root-owned ones)


def docflow_transport(stack: Mailstack) -> str:
    """config/postfix/docflow_transport, pointing at this stack's docflow LMTP port."""
    text = (OFFICE_CONFIG / "docflow_transport").read_text()
    text = text.replace("127.0.0.1:2525", f"127.0.0.1:{stack.docflow_lmtp_port}")
    return text.replace(f"\n{WORKFLOW_DOMAIN} ", f"\n{stack.workflow_domain} ")


def postfix_main_cf(stack: Mailstack) -> str:
    """main.cf: the private instance's own lines around config/postfix/main.cf as shipped."""
    office = (
        (OFFICE_CONFIG / "main.cf").read_text().replace("/etc/postfix/", f"{stack.postfix_dir}/")
    )
    office = office.replace(
        "relay_domains = docflow.localhost", f"relay_domains = {stack.workflow_domain}"
    )
    return f"""\
# A private Postfix of docflow's mail stack (tests/mailstack/); not the system's.
compatibility_level = 3.6
queue_directory = {stack.queue_dir}
data_directory = {stack.root / "postfix" / "data"}
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
maillog_file = {stack.postfix_log}
maillog_file_prefixes = {stack.root}

# --- config/postfix/main.cf, as an office adds it (maps under this config dir) ---
{office}
# --- the harness's own ---
# The office's domain goes to Dovecot over LMTP: docflow's receipts land in mailboxes.
virtual_mailbox_domains = {stack.office_domain}
virtual_mailbox_maps = texthash:{stack.postfix_dir / "mailboxes"}
virtual_transport = lmtp:inet:127.0.0.1:{stack.dovecot_lmtp_port}

# OpenDKIM checks DKIM signatures and writes Authentication-Results in the office MTA's
# name (docflow's intake.trusted_authserv_id), after header_checks removed forged ones.
smtpd_milters = inet:127.0.0.1:{stack.dkim_port}
milter_default_action = tempfail

# Retry deferred mail soon (tests flush with `postqueue -f` anyway).
queue_run_delay = 10s
minimal_backoff_time = 10s
maximal_backoff_time = 60s
"""


def postfix_master_cf(smtp_port: int) -> str:
    """master.cf: smtpd on 127.0.0.1 only, the services Postfix needs, no chroot."""
    services = [
        f"127.0.0.1:{smtp_port} inet n - n - - smtpd",
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


def dovecot_conf(stack: Mailstack) -> str:
    """dovecot.conf: IMAP and LMTP on 127.0.0.1, passwd-file users, maildirs as `nobody`."""
    d = stack.root / "dovecot"
    return f"""\
# A private Dovecot of docflow's mail stack (tests/mailstack/); not the system's.
instance_name = docflow-mailstack-{stack.imap_port}
base_dir = {d / "run"}
state_dir = {d / "state"}
log_path = {stack.dovecot_log}
listen = 127.0.0.1
protocols = imap lmtp
{_ssl(stack)}
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
  default_fields = uid={MAIL_USER} gid={pwd.getpwnam(MAIL_USER).pw_gid} home={stack.mail_dir}/%d/%n
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {stack.imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {stack.imaps_port if stack.tls else 0}
    ssl = yes
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {stack.dovecot_lmtp_port}
  }}
  unix_listener lmtp {{
    mode = 0
  }}
}}
protocol lmtp {{
  postmaster_address = postmaster@{stack.office_domain}
}}
"""


def _ssl(stack: Mailstack) -> str:
    """No TLS, or a self-signed certificate (STARTTLS offered, IMAPS on its own port)."""
    if not stack.tls:
        return "ssl = no"
    d = stack.root / "dovecot"
    return f"ssl = yes\nssl_cert = <{d / 'tls.crt'}\nssl_key = <{d / 'tls.key'}"


def opendkim_conf(stack: Mailstack) -> str:
    """opendkim.conf: verifying only, as the office MX; keys from a file, not DNS."""
    d = stack.root / "opendkim"
    return f"""\
# A private OpenDKIM of docflow's mail stack (tests/mailstack/); not the system's.
Syslog no
Mode v
Socket inet:{stack.dkim_port}@127.0.0.1
PidFile {d / "opendkim.pid"}
AuthservID {stack.authserv_id}
# every client is external (the default 127.0.0.1 would be signed for, not verified)
InternalHosts {d / "internal_hosts"}
# the office domain's key, as DNS would publish it (no DNS here)
TestDNSData file:{d / "dns"}
"""
