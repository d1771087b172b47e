"""Multi-process runs (``accelerate launch`` / ``torchrun``): one process writes, every process waits for it.

The commands run the same script in every process. Trainer shards the data and gathers evaluation results itself;
what happens around it (test evaluation, artifact writing) follows one rule: the main process (``process_index`` 0 of
the ``TrainingArguments``) does it, the others wait at a barrier, so they all agree afterwards that the artifact
exists. Without ``torch.distributed`` initialised (a plain single-process run) the barrier is a no-op.
"""

from __future__ import annotations

import hashlib
from typing import Iterable


def is_main_process(args) -> bool:
    """True in the process that writes artifacts (``args``: any ``TrainingArguments``)."""
    return int(args.process_index) == 0


def wait_for_everyone() -> None:
    """Barrier across all processes of the run (no-op in a single process)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def user_set_digest(user_ids: Iterable[int]) -> dict:
    """``{"num_users", "num_unique_users", "user_ids_sha256"}`` of the users an evaluation covered.

    The hash is over the sorted unique ids, so a test can compare the evaluated set with a split's user ids exactly;
    ``num_users != num_unique_users`` reveals a user counted twice (e.g. the padding of a sharded last batch).
    """
    ids = [int(u) for u in user_ids]
    unique = sorted(set(ids))
    digest = hashlib.sha256(",".join(map(str, unique)).encode()).hexdigest()
    return {"num_users": len(ids), "num_unique_users": len(unique), "user_ids_sha256": digest}
