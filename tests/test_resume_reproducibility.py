"""Kill -9 and resume, seeds, and interrupted writes, with real processes and real signals.

The training runs are real ``hf-delrec train-teacher`` processes. To kill them at a known point without racing a run
that takes a few seconds, ``kill_driver.py`` parks the child there (after a complete checkpoint, or inside the save of
one) and the test sends SIGKILL once the child says it has parked.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from teacher_synthetic import write_small_teacher_dataset

TESTS = Path(__file__).resolve().parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error",
       "TOKENIZERS_PARALLELISM": "false"}
# 61 users, 4 optimizer steps per epoch, 5 epochs; dropout on, so the RNG state matters for an exact resume.
TEACHER = ["hidden_size=16", "max_seq_length=8", "num_hidden_layers=1", "num_attention_heads=1", "num_train_epochs=5",
           "per_device_train_batch_size=16", "per_device_eval_batch_size=16", "disable_tqdm=true", "use_cpu=true",
           "report_to=[]", "early_stopping_patience=100", "hidden_dropout_prob=0.3",
           "save_only_model=false"]  # exact resumption needs the optimizer and RNG states in the checkpoints
# Not compared: timings, and Trainer's ``train_loss`` summary, which after a resume averages only the steps run since
# the resume (TrainOutput.training_loss); the per-epoch logged losses below are compared instead, and are identical.
DETERMINISTIC_KEYS = ("test", "validation", "popularity_test", "evaluated_users", "validation_ndcg10_per_eval",
                      "validation_num_examples_per_eval", "best_validation_metric", "best_checkpoint_step",
                      "epochs_trained", "global_step")


def _cli(*argv: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "hf_delrec.cli", *argv], env=ENV, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _start_and_kill(tmp_path: Path, mode: str, where: str, *argv: str) -> int:
    """Run kill_driver.py until it parks, SIGKILL it, return its (now dead) pid."""
    marker = tmp_path / f"parked-{mode}"
    cmd = [sys.executable, str(TESTS / "kill_driver.py"), str(marker), mode, where]
    if argv:
        cmd += ["--", "hf-delrec", *argv]
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240  # a hang guard, not a timing assertion
    while not marker.exists():
        if proc.poll() is not None:
            pytest.fail(f"driver exited ({proc.returncode}) before parking: {proc.stderr.read()[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("driver did not park")
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return proc.pid


def _results(path: Path) -> dict:
    res = json.loads((path / "eval_results.json").read_text())
    out = {k: res[k] for k in DETERMINISTIC_KEYS}
    out["epoch_losses"] = [(h["epoch"], h["loss"]) for h in res["log_history"] if "loss" in h]
    assert len(out["epoch_losses"]) == 5
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_small_teacher_dataset(tmp_path_factory.mktemp("resume") / "data")


@pytest.fixture(scope="module")
def uninterrupted(data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "full"
    _cli("train-teacher", f"data_dir={data}", f"output_dir={out}", "seed=1", *TEACHER)
    return out


@pytest.mark.slow
def test_teacher_killed_mid_checkpoint_resumes_to_the_uninterrupted_result(data, uninterrupted, tmp_path):
    from safetensors.torch import load_file
    from transformers.trainer_utils import get_last_checkpoint

    from hf_delrec.utils.checkpoints import checkpoint_dir, last_complete_checkpoint

    out = tmp_path / "runs" / "resumed"
    argv = ("train-teacher", f"data_dir={data}", f"output_dir={out}", "seed=1", *TEACHER)
    # Killed inside the save of checkpoint-16 (epoch 4 of 5): its weights are written, its trainer_state.json not.
    _start_and_kill(tmp_path, "mid-save", "16", *argv)
    scratch = checkpoint_dir(out)
    assert not out.exists()  # no artifact until the run completes
    assert (scratch / "checkpoint-16" / "model.safetensors").is_file()
    assert not (scratch / "checkpoint-16" / "trainer_state.json").exists()
    # Trainer's own resume_from_checkpoint=True would take the half-written checkpoint; ours takes the last complete.
    assert Path(get_last_checkpoint(str(scratch))).name == "checkpoint-16"
    assert last_complete_checkpoint(scratch).name == "checkpoint-12"

    _cli(*argv, "resume_from_checkpoint=true")
    resumed = json.loads((out / "eval_results.json").read_text())
    assert resumed["resumed_from_checkpoint"] == "checkpoint-12"
    # Bitwise: same metrics, same validation curve, same best epoch, same weights as the run that was never killed.
    assert _results(out) == _results(uninterrupted)
    ours, theirs = load_file(out / "model.safetensors"), load_file(uninterrupted / "model.safetensors")
    assert ours.keys() == theirs.keys() and all(ours[k].equal(theirs[k]) for k in ours)
    assert sorted(p.name for p in out.parent.iterdir()) == ["resumed"]  # checkpoints removed after success


@pytest.mark.slow
def test_teacher_killed_after_a_checkpoint_resumes_and_same_seed_reproduces(data, uninterrupted, tmp_path):
    out = tmp_path / "runs" / "resumed"
    argv = ("train-teacher", f"data_dir={data}", f"output_dir={out}", "seed=1", *TEACHER)
    _start_and_kill(tmp_path, "after-save", "8", *argv)  # a clean kill right after checkpoint-8 (epoch 2)
    _cli(*argv, "resume_from_checkpoint=true")
    assert json.loads((out / "eval_results.json").read_text())["resumed_from_checkpoint"] == "checkpoint-8"
    assert _results(out) == _results(uninterrupted)

    # Two fresh runs with one seed: identical results, train_loss included (another seed: see the next test).
    again = tmp_path / "again"
    _cli("train-teacher", f"data_dir={data}", f"output_dir={again}", "seed=1", *TEACHER)
    assert _results(again) == _results(uninterrupted)
    assert (json.loads((again / "eval_results.json").read_text())["train_loss"]
            == json.loads((uninterrupted / "eval_results.json").read_text())["train_loss"])


def test_prepare_seed_decides_the_candidate_sample(tmp_path):
    from delrec_synthetic import write_interactions_csv

    from hf_delrec.data import load_prepared, prepare_dataset

    inter, items = write_interactions_csv(tmp_path / "raw", num_users=16, num_items=40, seq_len=9)

    def prepared(name, seed):
        prepare_dataset("interactions", inter, tmp_path / name, items_path=str(items), num_negatives=10,
                        num_candidates=5, seed=seed)
        return load_prepared(tmp_path / name).examples["test"]

    a, b, c = prepared("a", 0), prepared("b", 0), prepared("c", 1)
    assert a["negatives"] == b["negatives"] and a["candidates"] == b["candidates"]
    assert a["negatives"] != c["negatives"] and a["candidates"] != c["candidates"]
    assert a["target"] == c["target"]  # the split does not depend on the seed, only the sampled candidates


def test_kill_during_atomic_write_leaves_nothing_loadable(tmp_path):
    from transformers import AutoModel

    from hf_delrec.data import load_prepared
    from hf_delrec.utils.io import atomic_directory, remove_stale_siblings

    final = tmp_path / "model"
    dead_pid = _start_and_kill(tmp_path, "mid-write", str(final))
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".model.tmp-")]
    assert not final.exists() and len(leftovers) == 1
    assert leftovers[0].name.startswith(f".model.tmp-{dead_pid}@{socket.gethostname()}-")
    assert (leftovers[0] / "config.json").is_file()  # the half-written artifact is only in the hidden sibling
    with pytest.raises(OSError):
        AutoModel.from_pretrained(final)
    with pytest.raises((OSError, ValueError)):
        load_prepared(final)

    # A live writer's sibling (here: ours) is never touched; the dead writer's is removed by the next write.
    live = tmp_path / f".model.tmp-{os.getpid()}@{socket.gethostname()}-live"
    live.mkdir()
    with atomic_directory(final) as tmp:
        (tmp / "ok.json").write_text("{}")
    assert (final / "ok.json").is_file() and not leftovers[0].exists() and live.exists()

    # Killed between the two renames of an overwrite: the previous artifact waits in the .old- sibling; it is put back.
    old = tmp_path / f".model.old-{dead_pid}@{socket.gethostname()}-x"
    old.mkdir()
    final.rename(old / "model")
    assert remove_stale_siblings(final) == [old]
    assert (final / "ok.json").is_file() and not old.exists()


def test_resume_guard_rejects_incomplete_checkpoints(tmp_path):
    from hf_delrec.utils.checkpoints import is_complete_checkpoint, last_complete_checkpoint, resolve_resume

    for step, state in ((2, {"global_step": 2}), (4, None), (6, '{"global_st')):
        ckpt = tmp_path / f"checkpoint-{step}"
        ckpt.mkdir()
        (ckpt / "model.safetensors").write_bytes(b"")
        if state is not None:
            (ckpt / "trainer_state.json").write_text(state if isinstance(state, str) else json.dumps(state))
    assert [is_complete_checkpoint(tmp_path / f"checkpoint-{s}") for s in (2, 4, 6)] == [True, False, False]
    assert last_complete_checkpoint(tmp_path).name == "checkpoint-2"
    assert resolve_resume("true", tmp_path) == str(tmp_path / "checkpoint-2")
    assert resolve_resume(None, tmp_path) is None and resolve_resume("false", tmp_path) is None
    assert resolve_resume("true", tmp_path / "nothing-yet") is None  # killed before its first checkpoint: fresh run
    with pytest.raises(ValueError, match="not a complete"):
        resolve_resume(str(tmp_path / "checkpoint-6"), tmp_path)


@pytest.mark.slow
def test_stage2_sft_killed_after_a_checkpoint_resumes_exactly(tmp_path):
    """An LLM-side trainer (stage 2, LoRA with dropout on a tiny Llama): kill -9 after checkpoint-1 of 3, resume."""
    from delrec_synthetic import write_prepared
    from safetensors.torch import load_file
    from tiny_models import make_tiny_causal_lm

    data = write_prepared(tmp_path / "data", num_users=8)
    make_tiny_causal_lm(tmp_path / "lm")
    common = ("sft", f"data_dir={data}", f"model_name_or_path={tmp_path / 'lm'}", "max_steps=3", "examples_per_user=1",
              "num_candidates=5", "hr_eval_steps=1", "hr_eval_num_users=3", "per_device_train_batch_size=2",
              "lora_r=2", "lora_alpha=4", "lora_dropout=0.3", "use_cpu=true", "report_to=[]", "bf16=false",
              "disable_tqdm=true", "max_history_items=4", "seed=0", "save_strategy=steps", "save_steps=1",
              "logging_steps=1")
    full, resumed = tmp_path / "runs" / "full", tmp_path / "runs" / "resumed"
    _cli(*common, f"output_dir={full}")
    _start_and_kill(tmp_path, "after-save", "1", *common, f"output_dir={resumed}")
    assert not resumed.exists()
    _cli(*common, f"output_dir={resumed}", "resume_from_checkpoint=true")

    res = json.loads((resumed / "sft_results.json").read_text())
    assert res["resumed_from_checkpoint"] == "checkpoint-1" and res["global_steps"] == 3
    # The validation curve is whole (the rows before the kill come back from the checkpoint's trainer state) and
    # identical, as are the logged losses and the LoRA weights.
    curve = json.loads((resumed / "validation_hr1.json").read_text())
    assert [c["step"] for c in curve] == [0, 1, 2, 3]
    assert curve == json.loads((full / "validation_hr1.json").read_text())

    def losses(path):
        return [(h["step"], h["loss"], h["grad_norm"]) for h in json.loads((path / "training_log.json").read_text())
                if "loss" in h]

    assert losses(resumed) == losses(full) and len(losses(full)) == 3
    ours, theirs = load_file(resumed / "lora" / "adapter_model.safetensors"), load_file(
        full / "lora" / "adapter_model.safetensors")
    assert ours.keys() == theirs.keys() and all(ours[k].equal(theirs[k]) for k in ours)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["full", "resumed"]
