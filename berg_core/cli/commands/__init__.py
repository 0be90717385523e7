"""Sub-commands of ``berg``: one module each, with ``register(subparsers)``."""

from importlib import import_module

#: Modules of berg_core.cli.commands, in the order ``berg --help`` lists them.
COMMANDS = ["demo", "models", "describe", "validate", "encode", "plot", "convert", "download", "cache", "new-plugin"]


def load(name: str):  # type: ignore[no-untyped-def]
    return import_module(f"{__name__}.{name.replace('-', '_')}")  # new-plugin lives in new_plugin.py
