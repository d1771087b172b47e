"""DELRec prompts: title normalisation, templates (built-in and user files), TA/RPS/rec builders and rendering."""

import json

import pytest

from hf_delrec.prompts import (
    BUILTIN_DOMAINS,
    PromptTemplates,
    TemplateError,
    build_rec_example,
    build_rps_example,
    build_ta_example,
    load_templates,
    normalize_title,
    render_example,
    soft_prompt_text,
)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Godfather, The (1972)", "The Godfather (1972)"),
        ("Room with a View, A (1986)", "A Room with a View (1986)"),
        ("Misérables, Les (1995)", "Les Misérables (1995)"),
        ("Avventura, L' (1960)", "L'Avventura (1960)"),
        ("City of Lost Children, The (Cité des enfants perdus, La) (1995)",
         "The City of Lost Children (La Cité des enfants perdus) (1995)"),
        ("Sense and Sensibility, Part 2", "Sense and Sensibility, Part 2"),
        ("Toy Story (1995)", "Toy Story (1995)"),
        ("Face/Off (1997)", "Face/Off (1997)"),
        ("", ""),
    ],
)
def test_normalize_title(raw, expected):
    assert normalize_title(raw) == expected


@pytest.mark.parametrize("domain", BUILTIN_DOMAINS)
def test_builtin_templates_put_the_soft_prompt_inside(domain):
    t = load_templates(domain)
    for task in ("ta", "rps", "rec"):
        text = t.get(task)
        before, after = text.split("{soft_prompt}")
        assert "Instruction" in before and "{candidates}" in after  # after the instruction, before the task text
        assert text.rstrip().endswith(":")  # the answer (a candidate title) follows the prompt


def test_user_templates_from_json_and_yaml(tmp_path):
    base = load_templates("movies").to_dict()
    base["rec"] = "Items {history}. Pattern {soft_prompt}. Pick from {candidates}:"
    p = tmp_path / "mine.json"
    p.write_text(json.dumps(base))
    assert load_templates(p).rec.startswith("Items")
    y = tmp_path / "mine.yaml"
    y.write_text("ta: " + json.dumps(base["ta"]) + "\nrps: " + json.dumps(base["rps"]) + "\nrec: " + json.dumps(base["rec"]))
    assert load_templates(y).domain == "custom"


def test_template_errors_name_file_and_field(tmp_path):
    base = load_templates("movies").to_dict()
    bad = dict(base, rps=base["rps"].replace("{teacher_rest}", "{teacher_rst}"))
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(bad))
    with pytest.raises(TemplateError, match=r"bad.json.*'rps'.*teacher_rst"):
        load_templates(p)
    p.write_text(json.dumps(dict(base, rec="no marker {history} {candidates}")))
    with pytest.raises(TemplateError, match="soft_prompt"):
        load_templates(p)
    p.write_text(json.dumps(dict(base, extra=1)))
    with pytest.raises(TemplateError, match="unknown key"):
        load_templates(p)
    with pytest.raises(TemplateError, match="no such file"):
        load_templates(tmp_path / "missing.json")
    with pytest.raises(TemplateError, match="missing slot"):
        PromptTemplates(ta=base["ta"], rps=base["rps"], rec="{soft_prompt} {history}")


H = [11, 12, 13, 14, 15, 16, 17, 18]
TOPK = [30, 31, 32, 33]
NEG = [12, 30, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50]


def test_ta_example_definition():
    ex = build_ta_example(H, TOPK, NEG, num_candidates=6, demo_length=4, query_start=3, seed=1)
    assert ex.task == "ta"
    assert ex.target == H[-1]  # most recent real item
    assert ex.slots["next"] == TOPK[0]  # teacher's top-1 shown as the next item
    assert ex.slots["demo_history"] == H[:2] and ex.slots["demo_last"] == H[2] and ex.slots["demo_next"] == H[3]
    assert ex.slots["history"] == H[3:-1]
    assert ex.candidates.count(ex.target) == 1 and len(set(ex.candidates)) == 6
    others = set(ex.candidates) - {ex.target}
    assert not others & set(H) and TOPK[0] not in others
    cropped = build_ta_example(H, TOPK, NEG, num_candidates=6, max_history=2, seed=1)
    assert cropped.slots["history"] == H[-3:-1]


def test_rps_example_definition():
    ex = build_rps_example(H, TOPK, NEG, num_candidates=8, num_teacher_items=4, seed=3)
    assert ex.target == TOPK[0]
    assert ex.slots["teacher_rest"] == TOPK[1:]
    assert set(TOPK) <= set(ex.candidates) and len(ex.candidates) == 8 and len(set(ex.candidates)) == 8
    assert not set(ex.candidates) & set(H)
    assert ex.candidates.count(ex.target) == 1
    assert ex.slots["history"] == H


def test_builders_are_seeded_and_shuffle():
    a = build_rps_example(H, TOPK, NEG, num_candidates=8, seed=3)
    b = build_rps_example(H, TOPK, NEG, num_candidates=8, seed=3)
    assert a == b
    positions = {build_rps_example(H, TOPK, NEG, num_candidates=8, seed=s).target_index for s in range(20)}
    assert len(positions) > 3  # the target is not always at the same place


def test_builder_errors():
    with pytest.raises(ValueError, match="too short"):
        build_ta_example(H[:3], TOPK, NEG)
    with pytest.raises(ValueError, match="history items"):
        build_rps_example(H, [H[0], 30], NEG)
    with pytest.raises(ValueError, match="only"):
        build_rps_example(H, TOPK, [40], num_candidates=8)
    with pytest.raises(ValueError, match="occurs 2 times"):
        build_rec_example(H, 5, candidates=[5, 5, 7])


def test_rec_example_keeps_given_candidates():
    ex = build_rec_example(H, 40, candidates=[41, 40, 42], max_history=3)
    assert ex.candidates == [41, 40, 42] and ex.target_index == 1 and ex.slots["history"] == H[-3:]


def test_render_example_movies():
    titles = {i: f"Movie {i}, The (19{i})" for i in range(1, 60)}
    t = load_templates("movies")
    ex = build_rps_example(H, TOPK, NEG, num_candidates=6, seed=0)
    soft = soft_prompt_text(["<s0>", "<s1>"])
    prompt, answers = render_example(ex, t, titles, soft_prompt=soft, teacher="GRU4Rec")
    assert "<s0><s1>" in prompt and "GRU4Rec" in prompt
    assert "The Movie 11 (1911)" in prompt and "Movie 11, The" not in prompt
    assert answers[ex.target_index] == " The Movie 30 (1930)"
    assert len(answers) == 6
    with pytest.raises(ValueError, match="no title for item id 99"):
        render_example(build_rec_example([99, 1], 2, candidates=[2, 3]), t, titles, soft_prompt=soft)
