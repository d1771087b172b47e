"""Teacher models: configs, Auto round trips, initialisation, id validation, chunking, one-pass supervision."""

from collections import Counter

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoModel

import hf_delrec  # noqa: F401  (registers the Auto classes)
from hf_delrec.models.bert4rec import BERT4RecConfig, BERT4RecModel
from hf_delrec.models.bert4rec.modeling_bert4rec import mask_items
from hf_delrec.models.caser import CaserConfig, CaserModel
from hf_delrec.models.gru4rec import GRU4RecConfig, GRU4RecModel
from hf_delrec.models.sasrec import SASRecConfig, SASRecModel
from hf_delrec.models.sequential_base import build_cloze_chunks, build_training_chunks, pad_left

PAIRS = [
    (SASRecConfig, SASRecModel),
    (GRU4RecConfig, GRU4RecModel),
    (CaserConfig, CaserModel),
    (BERT4RecConfig, BERT4RecModel),
]
IDS = ["sasrec", "gru4rec", "caser", "bert4rec"]


def tiny(config_class, model_class, **kw):
    torch.manual_seed(0)
    base = dict(num_items=30, hidden_size=16, max_seq_length=6)
    if config_class in (SASRecConfig, BERT4RecConfig):
        base.update(num_attention_heads=2, intermediate_size=32)
    base.update(kw)
    return model_class(config_class(**base))


HISTORIES = [[1, 2, 3], [4, 5, 6, 7, 8, 9, 10, 11], [30], []]


@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
@pytest.mark.parametrize(
    "field,value,message",
    [
        ("hidden_size", -4, "hidden_size"),
        ("num_items", 0, "num_items"),
        ("max_seq_length", 0, "max_seq_length"),
        ("num_negatives", -1, "num_negatives"),
        ("loss_type", "hinge", "loss_type"),
    ],
)
def test_bad_configs_rejected_naming_the_field(pair, field, value, message):
    with pytest.raises(Exception, match=message):
        pair[0](**{field: value})


@pytest.mark.parametrize(
    "config_class,field",
    [
        (SASRecConfig, "num_hidden_layers"),
        (SASRecConfig, "num_attention_heads"),
        (GRU4RecConfig, "num_hidden_layers"),
        (CaserConfig, "num_horizontal_filters"),
        (CaserConfig, "num_vertical_filters"),
        (BERT4RecConfig, "intermediate_size"),
    ],
)
def test_bad_architecture_sizes(config_class, field):
    with pytest.raises(Exception, match=field):
        config_class(**{field: -1})


@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
def test_auto_round_trip_identical_outputs(pair, tmp_path):
    model = tiny(*pair, catalogue_fingerprint="abc").eval()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file() and (tmp_path / "config.json").is_file()
    config = AutoConfig.from_pretrained(tmp_path)
    assert type(config) is pair[0] and config.model_type.startswith("delrec_")
    assert config.catalogue_fingerprint == "abc"
    loaded = AutoModel.from_pretrained(tmp_path, dtype=torch.float32).eval()
    assert type(loaded) is pair[1]
    x = pad_left(HISTORIES, 6)
    torch.testing.assert_close(loaded.score_all(x), model.score_all(x), rtol=0, atol=0)
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor, rtol=0, atol=0, msg=name)
    # HISTORIES holds an empty one: allowed only on request (bulk exports); see test_bad_inputs_models.py.
    ids, scores = loaded.recommend(HISTORIES, k=5, allow_empty=True)
    ids2, scores2 = model.recommend(HISTORIES, k=5, allow_empty=True)
    assert torch.equal(ids, ids2) and torch.equal(scores, scores2)


def test_gru_weights_initialised():
    model = tiny(GRU4RecConfig, GRU4RecModel, num_hidden_layers=2)
    h = model.config.hidden_size
    for layer in range(2):
        w_hh = getattr(model.gru, f"weight_hh_l{layer}")
        for gate in range(3):
            block = w_hh[gate * h : (gate + 1) * h]
            torch.testing.assert_close(block @ block.T, torch.eye(h), atol=1e-5, rtol=0)
        assert getattr(model.gru, f"bias_ih_l{layer}").abs().max() == 0
        assert getattr(model.gru, f"bias_hh_l{layer}").abs().max() == 0
        # Xavier uniform bound sqrt(6 / (fan_in + fan_out)) with (3h, h): not PyTorch's default 1/sqrt(h)
        w_ih = getattr(model.gru, f"weight_ih_l{layer}")
        bound = (6 / (4 * h)) ** 0.5
        assert w_ih.abs().max() <= bound + 1e-6 and w_ih.abs().max() > 0.8 * bound
    assert model.item_embeddings.weight[0].abs().max() == 0  # padding row


def test_caser_conv_weights_initialised():
    model = tiny(CaserConfig, CaserModel, hidden_size=32, num_horizontal_filters=64, num_vertical_filters=16)
    for conv in model.horizontal:
        fan_in = conv.in_channels * conv.kernel_size[0]
        assert conv.weight.std().item() == pytest.approx((2 / fan_in) ** 0.5, rel=0.15)
        assert conv.bias.abs().max() == 0
    fan_in = model.config.max_seq_length
    assert model.vertical.weight.std().item() == pytest.approx((2 / fan_in) ** 0.5, rel=0.3)
    assert model.vertical.bias.abs().max() == 0


@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
def test_ids_beyond_catalogue_rejected(pair):
    model = tiny(*pair)
    with pytest.raises(ValueError, match=r"item id 31 .*30 items"):
        model.score_all(torch.tensor([[0, 1, 31]]))
    with pytest.raises(ValueError, match="item id 99"):
        model.recommend([[1, 99]], k=3)
    with pytest.raises(ValueError, match="candidate_ids"):
        model.score_candidates(torch.tensor([[1, 2]]), torch.tensor([[3, 31]]))
    with pytest.raises(ValueError, match="item id -2"):
        model(torch.tensor([[1, -2]]))
    with pytest.raises(ValueError, match="labels"):
        model(torch.tensor([[1, 2]]), labels=torch.tensor([31]))


@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
def test_inference_surface_shapes(pair):
    model = tiny(*pair).eval()
    x = pad_left(HISTORIES, 6)
    assert model.encode(x).shape == (4, 16)
    assert model.get_item_embeddings().shape == (31, 16)
    scores = model.score_all(x)
    assert scores.shape == (4, 31) and torch.isinf(scores[:, 0]).all()
    cands = torch.tensor([[5, 6, 7]] * 4)
    torch.testing.assert_close(model.score_candidates(x, cands), scores.gather(1, cands))
    ids, top = model.recommend(HISTORIES, k=4, allow_empty=True)  # HISTORIES[3] is empty (a bulk export's case)
    assert ids.shape == top.shape == (4, 4)
    for hist, row in zip(HISTORIES, ids.tolist()):
        assert not set(hist) & set(row) and 0 not in row
    assert (top[:, :-1] >= top[:, 1:]).all()
    # with exclude_seen=False the top-1 is the arg-max of score_all (non-empty histories: no ties)
    ids_all, _ = model.recommend(HISTORIES[:3], k=1, exclude_seen=False)
    assert ids_all[:, 0].tolist() == scores[:3].argmax(1).tolist()


def test_pad_left():
    x = pad_left([[1, 2, 3], [], [4, 5, 6, 7, 8]], 4)
    assert x.tolist() == [[0, 1, 2, 3], [0, 0, 0, 0], [5, 6, 7, 8]]


@pytest.mark.parametrize("chunk_length,context", [(4, 0), (5, 2), (3, 2), (50, 0)])
def test_training_chunks_supervise_every_pair_once(chunk_length, context):
    rng = np.random.default_rng(0)
    seqs = [list(rng.integers(1, 50, size=n)) for n in (1, 2, 5, 11, 23)]
    x, y = build_training_chunks(seqs, chunk_length, context)
    got = Counter()
    for row_x, row_y in zip(x.tolist(), y.tolist()):
        for t, label in enumerate(row_y):
            if label != -100:
                prefix = tuple(v for v in row_x[: t + 1] if v != 0)
                got[(prefix[-min(len(prefix), context + 1) :], label)] += 1
                # at least `context` previous items of real history before each supervised position
                assert len(prefix) >= 1
    expected = Counter()
    for s in seqs:
        for i in range(1, len(s)):
            prefix = tuple(int(v) for v in s[:i])
            expected[(prefix[-min(len(prefix), context + 1) :], int(s[i]))] += 1
    assert got == expected
    assert sum(expected.values()) == sum(len(s) - 1 for s in seqs)


def test_cloze_chunks_cover_every_item_once():
    seqs = [[1, 2, 3, 4, 5, 6, 7], [8], [9, 10]]
    x = build_cloze_chunks(seqs, 3)
    items = [v for row in x.tolist() for v in row if v]
    assert sorted(items) == list(range(1, 11))
    assert x[0].tolist() == [5, 6, 7]  # most recent window first, full


def test_mask_items_masks_only_real_items_and_every_row():
    x = pad_left([[1, 2, 3, 4], [5], [6, 7]], 5)
    gen = torch.Generator().manual_seed(0)
    inputs, labels = mask_items(x, 31, 0.01, gen)
    assert ((labels != -100).sum(1) >= 1).all()
    assert (labels[x == 0] == -100).all()
    assert (inputs[labels != -100] == 31).all()
    assert torch.equal(labels[labels != -100], x[labels != -100])


@pytest.mark.parametrize("pair", PAIRS[:3], ids=IDS[:3])
def test_all_positions_in_one_pass_equal_per_prefix_losses(pair):
    """The one-pass loss over all positions equals the mean of separate per-prefix losses: no position sees its
    own future (causality), and left padding does not change a prefix's representation."""
    model = tiny(*pair, hidden_dropout_prob=0.0).eval()
    seq = [3, 9, 4, 17, 8, 21]
    x, y = build_training_chunks([seq], 6)
    one_pass = model(x, labels=y).loss
    per_prefix = []
    for i in range(1, len(seq)):
        out = model(pad_left([seq[:i]], 6), labels=torch.tensor([seq[i]]))
        per_prefix.append(out.loss)
    torch.testing.assert_close(one_pass, torch.stack(per_prefix).mean(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
def test_bce_loss_trains(pair):
    model = tiny(*pair, loss_type="bce", num_negatives=4)
    x, y = build_training_chunks([[1, 2, 3, 4, 5, 6], [7, 8, 9]], 6)
    if pair[1] is BERT4RecModel:
        x, y = mask_items(x, 31, 0.5, torch.Generator().manual_seed(0))
    loss = model(x, labels=y).loss
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    assert model.item_embeddings.weight.grad is not None
