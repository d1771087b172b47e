"""Teachers on the real ML-100K split: training chunks are leak-free and complete; a short training run beats
popularity (kept small: a few hundred steps would be needed for the real numbers, see the recipes)."""

import numpy as np
import pytest
import torch

import hf_delrec  # noqa: F401
from hf_delrec.models.sasrec import SASRecConfig, SASRecModel
from hf_delrec.trainers.teacher_trainer import build_train_dataset

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def ml100k_prepared(ml100k_dir, tmp_path_factory):
    from hf_delrec.data import load_prepared, prepare_dataset

    out = tmp_path_factory.mktemp("teacher_ml100k") / "ml100k"
    prepare_dataset("ml-100k", ml100k_dir, out)
    return load_prepared(out)


def test_ml100k_training_chunks_leak_free_and_complete(ml100k_prepared):
    p = ml100k_prepared
    model = SASRecModel(SASRecConfig(num_items=p.num_items, max_seq_length=50))
    ds = build_train_dataset(p.examples["train"], model)
    inputs, labels = ds.columns["input_ids"], ds.columns["labels"]
    train = p.examples["train"]
    # every (prefix -> next) pair of history + [target] exactly once: n - 3 pairs per user
    assert int((labels != -100).sum()) == sum(len(h) for h in train["history"]) == 100_000 - 3 * 943
    # no validation/test target is ever an input or a label of training (ML-100K has no repeated items per user)
    held_out = {}
    for split in ("validation", "test"):
        for u, t in zip(p.examples[split]["user_id"], p.examples[split]["target"]):
            held_out.setdefault(u, set()).add(t)
    train_items = {u: set(h) | {t} for u, h, t in zip(train["user_id"], train["history"], train["target"])}
    assert all(not (train_items[u] & held_out[u]) for u in held_out)
    # the chunks only contain items of the training sequences, with the right multiplicity
    counts = np.bincount(labels[labels != -100].numpy(), minlength=p.num_items + 1)
    expected = np.zeros(p.num_items + 1, dtype=np.int64)
    for h, t in zip(train["history"], train["target"]):
        np.add.at(expected, np.asarray(h[1:] + [t]), 1)
    assert np.array_equal(counts, expected)
    assert int(inputs.max()) <= p.num_items
