"""`scripts/mailstack start|status|stop`: the mail stack for a person."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tests.mailstack.stack import (
    DEFAULT_ROOT,
    DEFAULT_USERS,
    STATE_FILE,
    Mailstack,
    MailstackError,
)


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
    start.add_argument(
        "--unknown-user",
        action="append",
        default=[],
        help="an address Postfix takes but Dovecot refuses (EMAIL): mail to it bounces",
    )
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
                unknown_to_dovecot=args.unknown_user,
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
