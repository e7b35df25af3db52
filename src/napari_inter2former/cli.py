"""`napari-inter2former` command line: one entry point, one subcommand per tool.

Each tool module exposes `add_arguments(parser)` and `run(args) -> int`; they are
imported lazily so `--help` stays fast and heavy imports happen only when used.
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS = {
    "demo": ("napari_inter2former.ui.demo", "open napari with the widget on the bundled sample image"),
    "evaluate": ("napari_inter2former.evaluation.cli", "run the click-simulation evaluation (NoC/mIoU/SPC)"),
    "train": ("napari_inter2former.training.cli", "train Inter2Former on folders of images and labels"),
    "benchmark": ("napari_inter2former.benchmark", "measure encoder/click latency and memory"),
    "replay": ("napari_inter2former.journal.cli", "rebuild a segmentation from an annotation journal"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="napari-inter2former", description=__doc__.splitlines()[0].replace("`", ""))
    sub = parser.add_subparsers(dest="command", required=True)
    argv = sys.argv[1:] if argv is None else argv
    chosen = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(p)
            p.set_defaults(_run=module.run)
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except _user_errors() as exc:
        # Bad input (a missing folder, corrupt weights, an unreadable image) is the user's to fix:
        # one line naming it, not a traceback.
        print(f"napari-inter2former {args.command}: error: {exc}", file=sys.stderr)
        return 2


def below_minimum(options, minima) -> str | None:
    """The first option under its minimum, as the subcommands word it (None: an unset option).
    `options`: parsed arguments or a config object; `minima`: (name, least) pairs."""
    for name, least in minima:
        value = getattr(options, name)
        if value is not None and value < least:
            return f"--{name.replace('_', '-')} must be at least {least}, got {value}"
    return None


def _user_errors() -> tuple[type[Exception], ...]:
    """The error types that describe bad input rather than a bug (imported late: they pull torch)."""
    from .evaluation.data import DataError
    from .journal.journal import JournalError
    from .journal.painting import LabelError
    from .model.weights import WeightsError
    from .session.errors import ClickError, ImageError

    return (OSError, DataError, JournalError, LabelError, WeightsError, ClickError, ImageError)


if __name__ == "__main__":
    sys.exit(main())
