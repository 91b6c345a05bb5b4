"""A private Postfix + Dovecot in a temp dir on 127.0.0.1 high ports, in front of docflow.

    Postfix smtpd 127.0.0.1:SMTP ─┬─ docflow.localhost  → lmtp:inet:127.0.0.1:DOCFLOW (docflow)
                                  └─ bandantoc.gov.vn   → lmtp:inet:127.0.0.1:LMTP (Dovecot)
    OpenDKIM (Postfix's milter) 127.0.0.1:DKIM: Authentication-Results as mx.bandantoc.gov.vn
    Dovecot IMAP 127.0.0.1:IMAP, passwd-file users, maildirs under ROOT/mail

Drafts go to Postfix (swaks, a mail client); Postfix hands the workflow domain to
docflow over LMTP (as an office's MTA does, config/postfix/) and keeps a message
that docflow answers 4xx, or cannot be reached, in its queue. docflow's own mail
(DOCFLOW_RELAY_HOST/PORT = Postfix) goes to the office domain: Dovecot's mailboxes,
read back over IMAP. Used by tests/system/test_mailstack.py, and by a person through
`scripts/mailstack start|stop|status` (docs/operations.md, "Behind Postfix (LMTP)").

Nothing touches /etc/postfix, /etc/dovecot, /etc/opendkim.conf or the system's ports:
all run from config files under ROOT, listen on 127.0.0.1 only, log to ROOT (OpenDKIM
logs nothing; it verifies only, with the key of ROOT/opendkim). Postfix needs
root to start (its master drops to the `postfix` user); Dovecot delivers and
serves the mail as `nobody`, so that no mail dir belongs to root.
Only the standard library here: the harness does not depend on docflow.
"""

from tests.mailstack.stack import (
    DEFAULT_USERS,
    DKIM_SELECTOR,
    PASSWORD,
    Mailstack,
    MailstackError,
    free_port,
    running,
)

__all__ = [
    "DEFAULT_USERS",
    "DKIM_SELECTOR",
    "PASSWORD",
    "Mailstack",
    "MailstackError",
    "free_port",
    "running",
]
