"""python -m analytics serve | top-items --store N | top-stores --item N | stats"""
from __future__ import annotations

import argparse
import json
import logging
import sys

import grpc

from analytics import client
from analytics.config import ConfigError, addresses_from_env, config_from_env


def _integer(bits: int):
    """An argparse type for a protobuf integer field: too large says so, not a traceback.
    Whether the value is in range is analytics' to answer (INVALID_ARGUMENT)."""
    def integer(text: str) -> int:
        value = int(text)  # argparse reports a ValueError as "invalid integer value"
        if not -2 ** (bits - 1) <= value < 2 ** (bits - 1):
            raise argparse.ArgumentTypeError(f"{text} is too large")
        return value
    return integer


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m analytics", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the analytics service (settings from the environment)")
    remote = argparse.ArgumentParser(add_help=False)
    remote.add_argument("--address", help="host:port (default: the first of ANALYTICS_ADDRESS)")
    for name, option, what in (("top-items", "--store", "items of a store"),
                               ("top-stores", "--item", "stores of an item")):
        command = commands.add_parser(name, parents=[remote], help=f"the top {what}")
        command.add_argument(option, type=_integer(64), required=True, dest="id")
        command.add_argument("-n", type=_integer(32), default=0,
                             help="how many (default 10 items, 5 stores)")
    commands.add_parser("stats", parents=[remote], help="totals and the last offset applied")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "serve":
            config = config_from_env()
            from analytics.service import serve  # the queries need neither numpy nor py-amqp
            from analytics.startup_check import services_problem

            if problem := services_problem(config.database_url, config.broker_url):
                print(problem, file=sys.stderr)  # one line that says what to create
                return 2
            return serve(config)
        address = args.address or addresses_from_env()[0]
    except ConfigError as exc:
        print(f"analytics: {exc}", file=sys.stderr)
        return 2
    try:
        if args.command == "top-items":
            rows = [{"itemID": i, "numberOfItems": q} for i, q in client.top_items(address, args.id, args.n)]
        elif args.command == "top-stores":
            rows = [{"storeID": s, "numberOfItems": q} for s, q in client.top_stores(address, args.id, args.n)]
        else:
            print(json.dumps(client.stats(address)))
            return 0
    except grpc.RpcError as exc:
        print(f"analytics at {address}: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    print(json.dumps({"stores": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
