"""The recipe parser and the atomic-write helpers that every command relies on."""

import dataclasses
import json
import os
from typing import Literal

import pytest

from hf_delrec.recipe import RecipeError, load_recipe, parse_recipe, recipe_to_dict
from hf_delrec.utils.io import OutputExistsError, atomic_directory, write_json_atomic


@dataclasses.dataclass
class ModelArgs:
    hidden_size: int = 64
    dropout: float = 0.1
    loss_type: Literal["ce", "bce"] = "ce"
    layers: list[int] = dataclasses.field(default_factory=lambda: [1, 2])
    name: str | None = None


@dataclasses.dataclass
class RunArgs:
    seed: int = 0
    push_to_hub: bool = False
    hidden_size: int = 64  # shared key: goes to both dataclasses


def write(tmp_path, text):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return path


def test_yaml_then_overrides_win(tmp_path):
    path = write(tmp_path, "hidden_size: 32\ndropout: 0.5\nseed: 3\n")
    model, run = parse_recipe((ModelArgs, RunArgs), [str(path), "hidden_size=128", "push_to_hub=true", "name=none"])
    assert model.hidden_size == 128 and run.hidden_size == 128
    assert model.dropout == 0.5 and run.seed == 3 and run.push_to_hub is True and model.name is None


def test_overrides_only_and_list_coercion():
    (model,) = parse_recipe((ModelArgs,), ["layers=[3, 4]", "--loss_type=bce"])
    assert model.layers == [3, 4] and model.loss_type == "bce"
    (model,) = load_recipe((ModelArgs,), overrides=["layers=5,6"])
    assert model.layers == [5, 6]


@pytest.mark.parametrize(
    "text, message",
    [
        ("hiden_size: 3\n", "unknown key(s) ['hiden_size']"),
        ("hidden_size: abc\n", "key 'hidden_size': expected an integer"),
        ("hidden_size: 1.5\n", "key 'hidden_size': expected an integer"),
        ("dropout: [1]\n", "key 'dropout': expected a number"),
        ("loss_type: mse\n", "key 'loss_type': 'mse' is not one of ['ce', 'bce']"),
        ("push_to_hub: maybe\n", "key 'push_to_hub': expected true/false"),
        ("- a\n- b\n", "a recipe must be a mapping"),
        ("hidden_size: [\n", "not valid YAML"),
    ],
)
def test_bad_recipes_name_file_and_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(RecipeError) as err:
        parse_recipe((ModelArgs, RunArgs), [str(path)])
    assert message in str(err.value)
    assert str(path) in str(err.value)


def test_bad_override_and_missing_file(tmp_path):
    with pytest.raises(RecipeError, match="command line: unknown key"):
        parse_recipe((ModelArgs,), ["nope=1"])
    with pytest.raises(RecipeError, match="not of the form key=value"):
        load_recipe((ModelArgs,), overrides=["justakey"])
    with pytest.raises(RecipeError, match="does not exist"):
        parse_recipe((ModelArgs,), [str(tmp_path / "missing.yaml")])


def test_recipe_to_dict_round_trips():
    model, run = load_recipe((ModelArgs, RunArgs), overrides=["seed=7"])
    flat = recipe_to_dict(model, run)
    assert flat["seed"] == 7 and flat["layers"] == [1, 2]
    again = load_recipe((ModelArgs, RunArgs), defaults=flat)
    assert again == (model, run)


def test_write_json_atomic_gives_ordinary_file_permissions(tmp_path):
    from hf_delrec.utils.io import write_json_atomic

    target = tmp_path / "results.json"
    write_json_atomic(target, {"HR@1": 0.5})
    assert json.loads(target.read_text()) == {"HR@1": 0.5}
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # not the private 0600 of mkstemp
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temp file left behind


def test_atomic_directory_success_and_failure(tmp_path):
    target = tmp_path / "out"
    with atomic_directory(target) as tmp:
        (tmp / "a.json").write_text("{}")
        assert not target.exists()  # nothing visible before success
    assert (target / "a.json").is_file()
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o777 & ~umask  # not the private 0700 of mkdtemp

    with pytest.raises(OutputExistsError, match="already exists"):
        with atomic_directory(target):
            pass

    with pytest.raises(RuntimeError):
        with atomic_directory(target, overwrite=True) as tmp:
            (tmp / "b.json").write_text("{}")
            raise RuntimeError("boom")
    # the failed overwrite left the old complete directory untouched and no temp dirs behind
    assert sorted(p.name for p in target.iterdir()) == ["a.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]

    with atomic_directory(target, overwrite=True) as tmp:
        (tmp / "c.json").write_text("{}")
    assert sorted(p.name for p in target.iterdir()) == ["c.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_write_json_atomic(tmp_path):
    path = tmp_path / "sub" / "x.json"
    write_json_atomic(path, {"b": 1, "a": [1, 2]})
    assert json.loads(path.read_text()) == {"a": [1, 2], "b": 1}
    with pytest.raises(TypeError):
        write_json_atomic(path, {"bad": object()})
    assert json.loads(path.read_text()) == {"a": [1, 2], "b": 1}
    assert [p.name for p in path.parent.iterdir()] == ["x.json"]


def test_cli_lists_and_rejects_verbs(capsys):
    from hf_delrec.cli import main

    assert main([]) == 0
    assert "usage: hf-delrec VERB" in capsys.readouterr().out
    assert main(["no-such-verb"]) == 2
    assert "unknown verb 'no-such-verb'" in capsys.readouterr().err
