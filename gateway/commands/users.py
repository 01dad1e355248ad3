"""``pingjing users``: accounts of the people who work the cases, and their API tokens.

A password is read from the terminal (never from the command line, where it would be in the
shell history and the process list) or, for scripts, from ``--password-stdin``; tokens are
printed once, when made, and stored only as their hash.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from gateway.commands.common import add_config_option, open_database, settings_from


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("users", help="user accounts, roles and API tokens")
    sub = parser.add_subparsers(dest="users_command", metavar="ACTION", required=True)

    add = sub.add_parser("add", help="create a user")
    add_config_option(add)
    add.add_argument("name", help="login name (letters, digits, _ . -)")
    add.add_argument("--full-name", required=True, help="the person's name (姓名)")
    add.add_argument("--unit", required=True, metavar="CODE", help="the user's unit code")
    add.add_argument("--role", required=True, choices=["inspector", "handler", "leader", "viewer"])
    add.add_argument("--police-number", help="警号 (optional)")
    _password_options(add)
    add.set_defaults(func=add_user)

    lst = sub.add_parser("list", help="list users")
    add_config_option(lst)
    lst.add_argument("--unit", metavar="CODE", help="only users of this unit")
    lst.add_argument("--format", choices=["table", "jsonl"], default="table")
    lst.set_defaults(func=list_users)

    for action, helptext, flag in (
        ("disable", "disable a user (its tokens stop working)", True),
        ("enable", "enable a disabled user", False),
    ):
        p = sub.add_parser(action, help=helptext)
        add_config_option(p)
        p.add_argument("name")
        p.set_defaults(func=set_disabled, disabled=flag)

    tok = sub.add_parser("token", help="make (or revoke) an API token for a user")
    add_config_option(tok)
    tok.add_argument("name", nargs="?", help="the user to make a token for")
    tok.add_argument("--label", default="api", help="what the token is for")
    tok.add_argument("--revoke", type=int, metavar="ID", help="revoke this token instead")
    tok.add_argument("--list", action="store_true", help="list tokens (not their values)")
    tok.set_defaults(func=token)

    pw = sub.add_parser("passwd", help="set a user's password")
    add_config_option(pw)
    pw.add_argument("name")
    _password_options(pw)
    pw.set_defaults(func=passwd)


def _password_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    group.add_argument("--no-password", action="store_true", help="no password (token access only)")


def _read_password(args: argparse.Namespace) -> str | None:
    if getattr(args, "no_password", False):
        return None
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise ValueError("the two passwords differ")
    return first


def _fail(message: str) -> int:
    print(f"pingjing users: {message}", file=sys.stderr)
    return 1


def add_user(args: argparse.Namespace) -> int:
    from gateway.accounts.credentials import hash_password
    from gateway.accounts.model import AccountError, check_name, parse_role
    from gateway.accounts.store import NewUser
    from storage import user_store

    try:
        name = check_name(args.name)
        password = _read_password(args)
        new = NewUser(
            name=name,
            full_name=args.full_name,
            unit=args.unit,
            role=parse_role(args.role),
            police_number=args.police_number or None,
            password_hash=hash_password(password) if password is not None else None,
        )
    except (AccountError, ValueError) as exc:
        return _fail(str(exc))
    db = open_database(settings_from(args))
    try:
        user = db.run_sync(user_store.add_user, new)
    except AccountError as exc:
        return _fail(str(exc))
    finally:
        db.stop()
    print(f"user {user.name} ({user.role}, unit {user.unit}) created")
    return 0


def list_users(args: argparse.Namespace) -> int:
    from storage import user_store

    db = open_database(settings_from(args))
    try:
        users = db.run_sync(user_store.list_users, [args.unit] if args.unit else None)
    finally:
        db.stop()
    for u in users:
        record = {
            "name": u.name,
            "full_name": u.full_name,
            "unit": u.unit,
            "role": str(u.role),
            "police_number": u.police_number,
            "disabled": u.disabled,
        }
        if args.format == "jsonl":
            print(json.dumps(record, ensure_ascii=False))
        else:
            state = "  (disabled)" if u.disabled else ""
            print(f"{u.name}\t{u.full_name}\t{u.role}\t{u.unit}\t{u.police_number or '-'}{state}")
    if not users and args.format == "table":
        print("(no users: add one with `pingjing users add`)")
    return 0


def set_disabled(args: argparse.Namespace) -> int:
    from gateway.accounts.model import AccountError
    from storage import user_store

    db = open_database(settings_from(args))
    try:
        user = db.run_sync(user_store.set_disabled, args.name, args.disabled)
    except AccountError as exc:
        return _fail(str(exc))
    finally:
        db.stop()
    print(f"user {user.name} {'disabled' if user.disabled else 'enabled'}")
    return 0


def token(args: argparse.Namespace) -> int:
    from gateway.accounts.credentials import new_token, token_hash
    from gateway.accounts.model import AccountError
    from storage import user_store

    db = open_database(settings_from(args))
    try:
        if args.list:
            for t in db.run_sync(user_store.token_list, args.name):
                state = "revoked" if t["revoked"] else "active"
                print(f"{t['id']}\t{t['user']}\t{t['label']}\t{t['created_at']:%Y-%m-%d}\t{state}")
            return 0
        if args.revoke is not None:
            info = db.run_sync(user_store.revoke_token, args.revoke)
            print(f"token {info.id} of {info.user} revoked")
            return 0
        if not args.name:
            return _fail("name the user to make a token for")
        secret = new_token()
        info = db.run_sync(user_store.add_token, args.name, args.label, token_hash(secret))
    except AccountError as exc:
        return _fail(str(exc))
    finally:
        db.stop()
    print(f"token {info.id} for {info.user} ({info.label}); shown once, keep it safe:")
    print(secret)
    return 0


def passwd(args: argparse.Namespace) -> int:
    from gateway.accounts.credentials import hash_password
    from gateway.accounts.model import AccountError
    from storage import user_store

    try:
        password = _read_password(args)
        if password is None:
            return _fail("give a password")
        digest = hash_password(password)
    except ValueError as exc:
        return _fail(str(exc))
    db = open_database(settings_from(args))
    try:
        db.run_sync(user_store.set_password, args.name, digest)
    except AccountError as exc:
        return _fail(str(exc))
    finally:
        db.stop()
    print(f"password of {args.name} set")
    return 0
