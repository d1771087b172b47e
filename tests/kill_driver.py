"""Child process for the kill/resume tests: runs a real ``hf-delrec`` command (or an ``atomic_directory`` write) and
parks at a chosen point so that the parent can SIGKILL it there, without racing a fast training run.

    python kill_driver.py MARKER after-save STEP  -- hf-delrec ARGS...   # park once checkpoint-STEP is fully saved
    python kill_driver.py MARKER mid-save STEP    -- hf-delrec ARGS...   # park inside the save of checkpoint-STEP,
                                                                           # after its weights, before trainer_state
    python kill_driver.py MARKER mid-write PATH                          # park inside atomic_directory(PATH)

The driver writes MARKER when it parks, then sleeps until it is killed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


# verb -> the Trainer subclass its command builds
TRAINERS = {
    "train-teacher": ("hf_delrec.trainers.teacher_trainer", "TeacherTrainer"),
    "sft": ("hf_delrec.trainers.sft_trainer", "DELRecSFTTrainer"),
}


def park(marker: Path, text: str) -> None:
    marker.write_text(text)
    while True:  # the parent kills us here
        time.sleep(60)


def main() -> int:
    marker, mode, where = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    if mode == "mid-write":
        from hf_delrec.utils.io import atomic_directory

        with atomic_directory(where) as tmp:
            (tmp / "config.json").write_text('{"model_type": "delrec_sasrec"}')
            (tmp / "model.safetensors").write_bytes(b"\0" * 1024)  # half of an artifact
            park(marker, str(tmp))
    step = int(where)
    argv = sys.argv[sys.argv.index("--") + 2:]  # drop "--" and "hf-delrec"

    import importlib

    from transformers import TrainerCallback

    module_name, class_name = TRAINERS[argv[0]]
    module = importlib.import_module(module_name)

    class ParkAfterSave(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):  # Trainer calls it once checkpoint-N is complete
            if state.global_step == step:
                park(marker, f"checkpoint-{step}")

    base = getattr(module, class_name)

    class Parking(base):
        def __init__(self, *args, callbacks=None, **kwargs):
            extra = [ParkAfterSave()] if mode == "after-save" else []
            super().__init__(*args, callbacks=[*(callbacks or []), *extra], **kwargs)

        def save_model(self, output_dir=None, _internal_call=False):
            super().save_model(output_dir, _internal_call)
            # Trainer saves a checkpoint's weights first and its trainer_state.json last: park in between.
            if mode == "mid-save" and _internal_call and self.state.global_step == step:
                park(marker, f"checkpoint-{step}")

    setattr(module, class_name, Parking)  # the command looks the class up in its module when it runs
    from hf_delrec.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
