"""``hf-delrec`` command line: a thin dispatcher.

Each verb lives in ``hf_delrec/commands/<verb>.py`` (dashes become underscores) and exposes
``main(argv: list[str]) -> int``. Verbs are imported lazily so ``hf-delrec --help`` stays fast.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

from . import commands


def _verbs() -> dict[str, str]:
    return {
        info.name.replace("_", "-"): f"{commands.__name__}.{info.name}"
        for info in pkgutil.iter_modules(commands.__path__)
        if not info.name.startswith("_")
    }


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verbs = _verbs()
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print("usage: hf-delrec VERB [args...]\n\nverbs:")
        for verb, module in sorted(verbs.items()):
            doc = (importlib.import_module(module).__doc__ or "").strip().splitlines()
            print(f"  {verb:<16} {doc[0] if doc else ''}")
        print("\nRun `hf-delrec VERB --help` for the arguments of one verb.")
        return 0
    verb = argv.pop(0)
    if verb not in verbs:
        print(f"hf-delrec: unknown verb {verb!r}; choose one of: {', '.join(sorted(verbs))}", file=sys.stderr)
        return 2
    return int(importlib.import_module(verbs[verb]).main(argv) or 0)


if __name__ == "__main__":
    sys.exit(main())
