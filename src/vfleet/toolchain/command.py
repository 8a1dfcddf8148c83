"""`python -m vfleet.toolchain build|path`: the toolchain's own command line."""

from __future__ import annotations

import argparse
import sys

import vfleet.toolchain
from vfleet.core.errors import VfleetError
from vfleet.toolchain.gobuild import build
from vfleet.toolchain.lookup import binary
from vfleet.toolchain.tools import TOOLS

_DOC = vfleet.toolchain.__doc__ or ""


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m vfleet.toolchain", description=_DOC.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build_cmd = commands.add_parser("build", help="build the pinned tools that are not in the cache yet")
    build_cmd.add_argument("names", nargs="*", metavar="name", help=f"default: all of {', '.join(TOOLS)}")
    path_cmd = commands.add_parser("path", help="print the binary vfleet runs for a tool")
    path_cmd.add_argument("name")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.command == "build":
            for path in build(args.names or list(TOOLS), log=lambda line: print(line, file=sys.stderr)):
                print(path)
        else:
            print(binary(args.name))
    except VfleetError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    return 0
