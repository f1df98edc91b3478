"""The entry point of the ``bayes-scaling`` command: parse, run one command, report errors.

Every failure exits non-zero with a one-line ``error:`` message whose advice names this
command's flags (see :func:`.words.spell`); ``--debug`` shows the traceback. Warnings print once each,
as ``warning:`` lines. Answers (predict, optimal, plan, report, plot) from a fit that did not
converge are refused unless ``--accept-unconverged``; answers from a fit whose diagnostics
failed carry a warning; ``--json`` / ``--csv`` print machine-readable output with the verdict.
"""

from __future__ import annotations

import gc
import os
import sys

from .. import _constants as K

# Headless: never try to open a display.
os.environ.setdefault("MPLBACKEND", "Agg")

from .parser import build_parser  # noqa: E402
from .words import cli_warnings, negative_value, spell  # noqa: E402


def main(argv=None) -> int:
    from ..errors import spoken_as

    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    negative = negative_value(argv)
    if negative:
        parser.error(negative)  # exits 2, as argparse does for every other bad argument
    args = parser.parse_args(argv)
    with spoken_as(lambda name, value: spell(name, value, args.command)), cli_warnings():
        try:
            return args.func(args)
        except BrokenPipeError:  # the reader closed the pipe (e.g. `| head`): not an error of ours
            sys.stderr.close()
            return 0
        except KeyboardInterrupt:
            print("error: interrupted; nothing was saved", file=sys.stderr)
            return 130
        except Exception as exc:
            if args.debug:
                raise
            message = str(exc).strip().splitlines()
            first = message[0] if message else type(exc).__name__
            if isinstance(exc, OSError) and not isinstance(exc, FileExistsError) and exc.filename:
                first = f"cannot write or read '{exc.filename}': {exc.strerror}"
            rest = message[1:]
            print(f"error: {first}", file=sys.stderr)
            for line in rest:  # multi-problem validation errors list one problem per line
                print(f"  {line.strip()}", file=sys.stderr)
            print("(run with --debug for the traceback)", file=sys.stderr)
            return 1


def run() -> None:
    """The ``bayes-scaling`` command: :func:`main`, then exit.

    A fit makes millions of objects (PyTensor graphs, numba's types and compiled code), most of
    which live to the end: the garbage collector runs at ``GC_THRESHOLDS`` (see
    ``bayes_scaling._constants``; 0.4 s of a 5.5 s fit saved). Its last collection at exit
    spent about 1 s on the same objects: frozen objects are skipped by it and the OS frees the
    memory; everything the command writes is closed before ``main`` returns.
    """
    gc.set_threshold(*K.GC_THRESHOLDS)
    code = main()
    gc.freeze()
    sys.exit(code)
