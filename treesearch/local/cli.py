"""``treesearch local setup [MODEL ...]`` and ``treesearch local status``."""

from __future__ import annotations

import argparse

from treesearch.local.registry import DEFAULT_LOCAL_MODEL, KNOWN, LOCAL_PREFIX


def add_local_parser(sub: argparse._SubParsersAction) -> None:
    local = sub.add_parser("local", help="local models: build the llama.cpp server, fetch weights, show what is here")
    actions = local.add_subparsers(dest="local_command", required=True)
    setup = actions.add_parser("setup", help="build llama-server and fetch the weights now (once per machine)")
    setup.add_argument("models", nargs="*", default=[LOCAL_PREFIX + DEFAULT_LOCAL_MODEL],
                       help=f"local models (default {LOCAL_PREFIX}{DEFAULT_LOCAL_MODEL})")
    setup.set_defaults(run=run_setup)
    status = actions.add_parser("status", help="which local models and which server build this machine has")
    status.set_defaults(run=run_status)


def run_setup(args: argparse.Namespace) -> int:
    from treesearch.local import setup

    for model in args.models:
        binary, weights = setup(model)
        print(f"{model}: ready (server {binary}, weights {weights})")
    return 0


def run_status(args: argparse.Namespace) -> int:
    from treesearch.local.build import build_dir, server_binary
    from treesearch.local.weights import cached_path

    binary = server_binary()
    print(f"llama-server: {binary if binary else 'not built (treesearch local setup builds it into ' + str(build_dir()) + ')'}")
    for name, model in KNOWN.items():
        path = cached_path(model)
        state = f"{path} ({path.stat().st_size / 2**20:.0f} MB)" if path.is_file() else "not fetched"
        print(f"{LOCAL_PREFIX}{name}: {state}")
    return 0
