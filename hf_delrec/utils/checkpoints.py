"""Trainer checkpoints of the training commands: where they live and which one a resumed run starts from.

A command writes its artifact atomically to ``output_dir`` at the very end; until then ``Trainer`` checkpoints go to
a fixed hidden sibling, ``.<name>.checkpoints`` (the same path in every process and in every attempt, so a killed
run can be resumed with ``resume_from_checkpoint=true``). The folder is removed once the artifact is written.

``Trainer`` writes ``checkpoint-N/`` in place (weights, optimizer, scheduler, RNG states) and ``trainer_state.json``
last, and its own ``resume_from_checkpoint=True`` takes the highest N whatever its state. A run killed while saving
can leave a ``checkpoint-N`` without (or with a truncated) ``trainer_state.json``; ``last_complete_checkpoint`` skips
those, so resumption starts from the newest checkpoint whose save finished.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

logger = logging.getLogger(__name__)

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
_TRUE = {"true", "yes", "1", "last"}
_FALSE = {"", "false", "no", "0", "none"}


def checkpoint_dir(output_dir: str | Path) -> Path:
    """``<parent>/.<name>.checkpoints``: Trainer's scratch space for the artifact ``output_dir``."""
    output_dir = Path(output_dir).absolute()
    return output_dir.parent / f".{output_dir.name}.checkpoints"


def is_complete_checkpoint(path: str | Path) -> bool:
    """A ``checkpoint-N`` folder whose ``trainer_state.json`` (written last by Trainer) parses and says step N."""
    path = Path(path)
    match = _CHECKPOINT.match(path.name)
    if not match or not path.is_dir():
        return False
    try:
        state = json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(state, dict) and state.get("global_step") == int(match.group(1))


def last_complete_checkpoint(folder: str | Path) -> Path | None:
    """The complete checkpoint with the highest step in ``folder`` (None if there is none)."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    found = [p for p in folder.iterdir() if _CHECKPOINT.match(p.name)]
    complete = [p for p in found if is_complete_checkpoint(p)]
    for p in sorted(set(found) - set(complete)):
        logger.warning("ignoring incomplete checkpoint %s (no valid trainer_state.json: its save was interrupted)", p)
    return max(complete, key=lambda p: int(_CHECKPOINT.match(p.name).group(1)), default=None)


def resolve_resume(value, folder: str | Path) -> str | None:
    """Turn a recipe's ``resume_from_checkpoint`` into what ``Trainer.train`` gets.

    None/false -> None (fresh run); true/"last" -> the last complete checkpoint in ``folder`` (None, with a warning,
    when there is none yet: the killed run had not saved one); a path -> that checkpoint, which must be complete.
    """
    if value is None or value is False:
        return None
    text = str(value).strip()
    if value is True or text.lower() in _TRUE:
        last = last_complete_checkpoint(folder)
        if last is None:
            logger.warning("resume_from_checkpoint=true but %s holds no complete checkpoint: starting from scratch",
                           folder)
            return None
        logger.info("resuming from %s", last)
        return str(last)
    if text.lower() in _FALSE:
        return None
    if not is_complete_checkpoint(text):
        raise ValueError(f"resume_from_checkpoint={text}: not a complete Trainer checkpoint (a checkpoint-N folder "
                         "with its trainer_state.json)")
    return text


def prepare_checkpoint_dir(folder: str | Path, resume: str | None, is_main: bool) -> Path:
    """Empty a stale checkpoint folder of an earlier attempt unless this run resumes from it (main process only;
    callers put a barrier after it)."""
    folder = Path(folder)
    if is_main and resume is None and folder.exists():
        logger.info("removing checkpoints of an earlier attempt in %s (resume_from_checkpoint is not set)", folder)
        shutil.rmtree(folder)
    return folder
