"""DELRec from raw data to a results table, one resumable stage at a time (``hf-delrec run RECIPE.yaml``).

    data -> teacher -> teacher export -> stage 1 (distill) -> stage 2 (SFT) [+ LoRA-only ablation]
         -> evaluation (results.json / results.md / validation plot) -> model card [-> Hub push]

Every stage writes one directory through ``atomic_directory`` (temp dir + rename), so a directory that exists is
complete: a stage whose directory exists is skipped, and an interrupted run restarts at the first missing stage.
Stages that belong to other parts of the library are run through their CLI verbs with a recipe file generated from
the pipeline recipe's section (``teacher:``, ``distill:`` ...), so the pipeline depends only on those verbs' recipes.

Run layout (``output_dir``)::

    recipes/            the generated per-stage recipes (what was run, reproducible by hand)
    data/               prepared dataset (+ data/teacher_predictions/<teacher>/ from the export)
    teacher/            the teacher model
    soft_prompt/        stage-1 soft prompt
    delrec/             stage-2 model = the final DELRec (AutoModel.from_pretrained loads it)
    lora_only/          ablation: stage 2 without soft prompt (no distillation)
    evaluation/         one JSON per result row (resumable), then results.json, results.md, validation_hr1.png
    hub_pushes.json     with push_to_hub: what was pushed where (repo id + content digest of each artifact)

The Hub push (``push_to_hub: true`` + ``hub_model_id``) is not a stage directory: it runs after the card on every
run, and pushes an artifact only when ``hub_pushes.json`` does not already record the same content at the same repo
id. So a resumed finished run pushes nothing, an interrupted push resumes with what is missing, and a changed repo
id or artifact is pushed; ``hub_force_push: true`` pushes everything again.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import logging
import math
import random
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from .recipe import RecipeError, check_section, load_recipe, parse_recipe
from .utils.io import atomic_directory, write_json_atomic

logger = logging.getLogger(__name__)

SMOLLM2_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
ALL_ROWS = ("teacher", "popularity", "zero_shot", "lora_only", "stage1_only", "delrec")
ROW_LABELS = {
    "teacher": "{teacher} teacher (same candidates)",
    "popularity": "Popularity (training interactions)",
    "zero_shot": "Zero-shot LLM (no soft prompt, no LoRA)",
    "lora_only": "LoRA without soft prompt (no distillation)",
    "stage1_only": "Stage 1 only (soft prompt, no LoRA)",
    "delrec": "DELRec (stage 1 + stage 2)",
}
SECTIONS = ("data", "teacher", "export", "distill", "sft", "sft_ablation")
# The recipe dataclasses of each section's stage (module, class), imported only when a recipe is checked: the
# pipeline depends on the verbs' recipes, never on the verbs' code. ``export`` takes export-teacher's flags.
_SFT_TYPES = (("hf_delrec.trainers.sft_config", "DELRecSFTScriptArguments"),
              ("hf_delrec.trainers.sft_config", "DELRecSFTConfig"))
SECTION_TYPES = {
    "data": (("hf_delrec.data.config", "PrepareConfig"),),
    "teacher_args": (("hf_delrec.trainers.teacher_recipe", "TeacherScriptArguments"),
                     ("hf_delrec.trainers.teacher_recipe", "TeacherModelArguments"),
                     ("hf_delrec.trainers.teacher_config", "TeacherConfig")),
    "export": (),
    "distill": (("hf_delrec.commands.distill", "DistillScriptArguments"),
                ("hf_delrec.trainers.distill_config", "DistillConfig")),
    "sft": _SFT_TYPES,
    "sft_ablation": _SFT_TYPES,
}
EXPORT_KEYS = {"k": int, "splits": list[str], "keep_seen": bool, "overwrite": bool}


@dataclass
class PipelineArguments:
    """Top-level keys of a pipeline recipe; the per-stage sections are mappings passed to each stage.

    Args:
        output_dir: run directory (every stage writes a sub-directory; existing ones are reused).
        dataset: data source of ``hf-delrec data prepare`` ("ml-100k", "amazon", ...).
        data_source: raw files of that source; or ``data_dir`` = an already prepared dataset (then no data stage).
        model_name_or_path / backbone_dtype: the LLM.
        teacher: teacher architecture ("sasrec", "gru4rec", "caser", "bert4rec").
        domain: prompt domain; num_candidates: candidates per prompt (prepared data must hold at least as many).
        eval_split / eval_num_users: users the result rows are computed on (the same seeded subset for every row;
            None = all users of the split).
        eval_batch_size: prompts per scoring batch.
        rows: which result rows to produce (subset of teacher, popularity, zero_shot, lora_only, stage1_only, delrec).
        seed: seed for every stage that takes one (a section may override it).
        data / teacher_args / export / distill / sft / sft_ablation: per-stage settings (see the recipes).
        card: write README.md (model card) into the final model directory when ``hf_delrec.hub`` can render one.
        push_to_hub / hub_model_id: at the end of the run, push the final DELRec model (with its card) to
            ``hub_model_id``; hub_teacher_id / hub_soft_prompt_id / hub_dataset_id also push the teacher, the stage-1
            soft prompt and the prepared dataset (cards then link them). hub_private_repo: private model repos.
            hub_dataset_private: privacy of the dataset repo (None = hub_private_repo); data whose licence forbids
            redistribution (MovieLens) is refused unless private; hub_dataset_licence names the source licence
            when it is not recognised (movielens, amazon, steam, or free text). Authentication: HF_TOKEN or
            ``hf auth login``.
            What was pushed is recorded in ``OUTPUT_DIR/hub_pushes.json`` (repo id + content digest): a resumed run
            pushes only what is new or changed; hub_force_push: push everything again.
    """

    output_dir: str = "runs/delrec"
    dataset: str = "ml-100k"
    data_source: str | None = None
    data_dir: str | None = None
    model_name_or_path: str = SMOLLM2_ID
    backbone_dtype: str = "float32"
    teacher: str = "sasrec"
    domain: str = "movies"
    num_candidates: int = 20
    eval_split: str = "test"
    eval_num_users: int | None = 200
    eval_batch_size: int = 4
    rows: list[str] = field(default_factory=lambda: list(ALL_ROWS))
    seed: int = 42
    data: dict = field(default_factory=dict)
    teacher_args: dict = field(default_factory=dict)
    export: dict = field(default_factory=dict)
    distill: dict = field(default_factory=dict)
    sft: dict = field(default_factory=dict)
    sft_ablation: dict = field(default_factory=dict)
    card: bool = True
    push_to_hub: bool = False
    hub_model_id: str | None = None
    hub_private_repo: bool = False
    hub_teacher_id: str | None = None
    hub_soft_prompt_id: str | None = None
    hub_dataset_id: str | None = None
    hub_dataset_private: bool | None = None
    hub_dataset_licence: str | None = None
    hub_force_push: bool = False

    def __post_init__(self):
        unknown = [r for r in self.rows if r not in ALL_ROWS]
        if unknown:
            raise RecipeError(f"rows: unknown row(s) {unknown}; choose from {list(ALL_ROWS)}")
        if self.eval_split not in ("validation", "test"):
            raise RecipeError(f"eval_split must be 'validation' or 'test', got {self.eval_split!r}")
        if self.data_dir is None and self.data_source is None:
            raise RecipeError("give data_source (raw files to prepare) or data_dir (an already prepared dataset)")
        if self.num_candidates < 2:
            raise RecipeError(f"num_candidates must be >= 2 (the true item + at least one negative), got "
                              f"{self.num_candidates}")
        if self.eval_num_users is not None and self.eval_num_users < 1:
            raise RecipeError(f"eval_num_users must be >= 1 or null (all users), got {self.eval_num_users}")
        if self.eval_batch_size < 1:
            raise RecipeError(f"eval_batch_size must be >= 1, got {self.eval_batch_size}")


def validate_sections(args: PipelineArguments, origins: dict[str, dict[str, str]] | None = None) -> None:
    """Check every section against its stage's recipe before any stage runs: a typo in ``distill.foo`` or
    ``sft.lora_r: eight`` is reported now, not after the earlier stages have spent their time."""
    from .trainers.teacher_recipe import TEACHERS

    if args.teacher not in TEACHERS:
        raise RecipeError(f"teacher: {args.teacher!r} is not one of {sorted(TEACHERS)}")
    origins = origins or {}
    for section, specs in SECTION_TYPES.items():
        types = tuple(getattr(importlib.import_module(module), name) for module, name in specs)
        check_section(getattr(args, section), types, section, origins.get(section),
                      extra_keys=EXPORT_KEYS if section == "export" else None)


def parse_pipeline_args(argv: list[str]) -> PipelineArguments:
    """``RECIPE.yaml [key=value ...]``; a dotted key edits a section: ``sft.max_steps=10``, ``teacher_args.seed=1``."""
    argv = list(argv)
    plain, dotted = [], []
    for a in argv:
        key = a[2:] if a.startswith("--") else a
        if "=" in key and "." in key.split("=", 1)[0]:
            dotted.append(key)
        else:
            plain.append(a)
    (args,) = parse_recipe((PipelineArguments,), plain)
    recipe_path = plain[0] if plain and "=" not in plain[0] and not plain[0].startswith("--") else "recipe"
    origins = {name: {k: str(recipe_path) for k in getattr(args, name)} for name in SECTION_TYPES}
    for text in dotted:
        key, raw = text.split("=", 1)
        section, sub = key.split(".", 1)
        section = section.replace("-", "_")
        if section == "teacher":  # "teacher" is the architecture name at top level; its section is teacher_args
            section = "teacher_args"
        if not isinstance(getattr(args, section, None), dict):
            raise RecipeError(f"command line: {key!r}: {section!r} is not a section ({', '.join(SECTIONS)})")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        getattr(args, section)[sub.replace("-", "_")] = raw if value is None and raw.strip().lower() not in (
            "none", "null", "~") else value
        origins.setdefault(section, {})[sub.replace("-", "_")] = "command line"
    validate_sections(args, origins)
    return args


def load_pipeline_recipe(path: str | Path) -> dict:
    """The raw YAML mapping (for provenance)."""
    return yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}


# ----------------------------------------------------------------------------------------------------- stages


@dataclass
class Stage:
    name: str
    path: Path
    run: Callable[[], None]
    marker: str | None = None  # a file that must exist inside ``path`` for the stage to count as done

    def done(self) -> bool:
        return self.path.is_dir() and (self.marker is None or (self.path / self.marker).exists())


class Pipeline:
    def __init__(self, args: PipelineArguments, recipe_text: str | None = None):
        self.args = args
        self.out = Path(args.output_dir)
        self.recipe_text = recipe_text
        self.timings: dict[str, dict] = {}

    # -- paths
    @property
    def data_dir(self) -> Path:
        return Path(self.args.data_dir) if self.args.data_dir else self.out / "data"

    @property
    def teacher_dir(self) -> Path:
        return self.out / "teacher"

    @property
    def predictions_dir(self) -> Path:
        return self.data_dir / "teacher_predictions" / self.args.teacher

    @property
    def soft_prompt_dir(self) -> Path:
        return self.out / "soft_prompt"

    @property
    def delrec_dir(self) -> Path:
        return self.out / "delrec"

    @property
    def lora_only_dir(self) -> Path:
        return self.out / "lora_only"

    @property
    def eval_dir(self) -> Path:
        return self.out / "evaluation"

    def needs(self) -> set[str]:
        rows = set(self.args.rows)
        # data_dir given: an already prepared dataset is used as is (no data stage).
        need = {"evaluation"} if self.args.data_dir else {"data", "evaluation"}
        if rows & {"teacher", "stage1_only", "delrec"}:
            need |= {"teacher"}
        if rows & {"stage1_only", "delrec"}:
            need |= {"export", "distill"}
        if "delrec" in rows:
            need.add("sft")
        if "lora_only" in rows:
            need.add("sft_ablation")
        return need

    def stages(self) -> list[Stage]:
        need = self.needs()
        all_stages = [
            Stage("data", self.data_dir, self.run_data, "stats.json"),
            Stage("teacher", self.teacher_dir, self.run_teacher, "config.json"),
            Stage("export", self.predictions_dir, self.run_export),
            Stage("distill", self.soft_prompt_dir, self.run_distill, "config.json"),
            Stage("sft", self.delrec_dir, self.run_sft, "config.json"),
            Stage("sft_ablation", self.lora_only_dir, self.run_sft_ablation, "config.json"),
            Stage("evaluation", self.eval_dir, self.run_evaluation, "results.json"),
        ]
        return [s for s in all_stages if s.name in need]

    def run(self) -> dict:
        pushes = self.hub_pushes()  # checked before any stage runs: a bad push setting never costs a training run
        if self.args.data_dir and not (self.data_dir / "stats.json").is_file():
            raise FileNotFoundError(f"data_dir {self.data_dir} is not a prepared dataset (no stats.json); run "
                                    "`hf-delrec data prepare` or give data_source instead")
        self.out.mkdir(parents=True, exist_ok=True)
        if self.recipe_text is not None:
            (self.out / "recipes").mkdir(exist_ok=True)
            (self.out / "recipes" / "pipeline.yaml").write_text(self.recipe_text, encoding="utf-8")
        checked = False
        for stage in self.stages():
            if stage.name != "data" and not checked:
                self.check_prepared_data()
                checked = True
            if stage.done():
                logger.info("stage %-12s done already (%s): skipped", stage.name, stage.path)
                print(f"[hf-delrec run] {stage.name}: already done ({stage.path}), skipped", flush=True)
                continue
            if stage.path.exists() and stage.name != "data":
                # Exists but incomplete (written by hand or by an older version): never build on it.
                raise RuntimeError(f"{stage.path} exists but is incomplete (no {stage.marker}); remove it to rerun "
                                   f"stage {stage.name}")
            print(f"[hf-delrec run] {stage.name}: running -> {stage.path}", flush=True)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            stage.run()
            self.timings[stage.name] = {"cpu_seconds": round(time.process_time() - cpu0, 1),
                                        "wall_seconds": round(time.perf_counter() - wall0, 1)}
            write_json_atomic(self.out / "timings" / f"{stage.name}.json", self.timings[stage.name])
            print(f"[hf-delrec run] {stage.name}: done in {self.timings[stage.name]['wall_seconds']} s", flush=True)
        card = self.write_card() if self.args.card and "delrec" in self.args.rows else None
        if pushes:
            self.push(pushes)
        results = json.loads((self.eval_dir / "results.json").read_text(encoding="utf-8"))
        results["model_card"] = card
        return results

    # -- Hub
    def hub_pushes(self) -> list[tuple[str, Path, dict, dict]]:
        """(name, directory, push settings, card fields) of every push the recipe asks for, validated; [] when
        push_to_hub is off. Order: dataset, teacher, soft prompt, DELRec, so each card can link what it builds on."""
        a = self.args
        if not a.push_to_hub:
            named = [k for k in ("hub_model_id", "hub_teacher_id", "hub_soft_prompt_id", "hub_dataset_id")
                     if getattr(a, k)]
            if named:
                print(f"[hf-delrec run] {', '.join(named)} set but push_to_hub is false: nothing will be pushed",
                      flush=True)
            return []
        from . import hub

        if "delrec" not in a.rows:
            raise RecipeError("push_to_hub pushes the final DELRec model: rows must include 'delrec'")
        need = self.needs()
        for key, stage in (("hub_teacher_id", "teacher"), ("hub_soft_prompt_id", "distill")):
            if getattr(a, key) and stage not in need:
                raise RecipeError(f"{key}: this run has no {stage} stage to push")
        model = {"push_to_hub": True, "hub_model_id": a.hub_model_id, "hub_private_repo": a.hub_private_repo}
        base_model = a.model_name_or_path
        # prepare_push raises the HubError naming hub_model_id when it is missing, and checks every repo id.
        pushes = [("delrec", self.delrec_dir, hub.prepare_push(dict(model), base_model=base_model),
                   {"teacher": a.hub_teacher_id, "dataset": a.hub_dataset_id})]
        if a.hub_soft_prompt_id:
            settings = hub.prepare_push(dict(model, hub_model_id=a.hub_soft_prompt_id), base_model=base_model)
            pushes.insert(0, ("soft_prompt", self.soft_prompt_dir, settings,
                              {"teacher": a.hub_teacher_id, "dataset": a.hub_dataset_id}))
        if a.hub_teacher_id:
            settings = hub.prepare_push(dict(model, hub_model_id=a.hub_teacher_id))
            pushes.insert(0, ("teacher", self.teacher_dir, settings, {"dataset": a.hub_dataset_id}))
        if a.hub_dataset_id:
            private = a.hub_private_repo if a.hub_dataset_private is None else a.hub_dataset_private
            stats_file = self.data_dir / "stats.json"
            stats = (json.loads(stats_file.read_text(encoding="utf-8")) if stats_file.is_file()
                     else {"dataset": a.dataset, "source": a.dataset})
            licence = hub.data_licence(stats, a.hub_dataset_licence)
            if licence is None:
                raise RecipeError(f"hub_dataset_id: the licence of the {a.dataset} source data is unknown; name it "
                                  "with hub_dataset_licence (the dataset card must state it)")
            if licence.get("redistribution") is False and not private:
                raise RecipeError(
                    f"hub_dataset_id: {a.dataset} is derived from data whose licence forbids redistribution "
                    f"({licence['name']}); set hub_dataset_private: true (or push it yourself with `hf-delrec push "
                    f"{self.data_dir} --repo-id {a.hub_dataset_id} --redistribution-permitted` if you hold the "
                    "provider's permission)")
            settings = hub.prepare_push(dict(model, hub_model_id=a.hub_dataset_id, hub_private_repo=private))
            pushes.insert(0, ("dataset", self.data_dir, settings, {"source_licence": a.hub_dataset_licence}))
        return pushes

    def push(self, pushes: list[tuple[str, Path, dict, dict]]) -> dict:
        """Push the finished artifacts. ``hub_pushes.json`` records each push (repo id + content digest) after it
        succeeds, so a resumed run skips what the Hub already holds and an interrupted push resumes where it
        stopped; a changed artifact or repo id is pushed again; hub_force_push pushes everything again."""
        from . import hub

        record_file = self.out / "hub_pushes.json"
        record = json.loads(record_file.read_text(encoding="utf-8")) if record_file.is_file() else {}
        for name, path, settings, fields in pushes:
            repo_id = settings["hub_model_id"]
            digest = hub.artifact_digest(path)
            done = record.get(name) or {}
            if done.get("repo_id") == repo_id and done.get("digest") == digest and not self.args.hub_force_push:
                print(f"[hf-delrec run] push {name}: {repo_id} already holds it ({done.get('url')}), skipped",
                      flush=True)
                continue
            print(f"[hf-delrec run] push {name}: {path} -> {repo_id}", flush=True)
            url = hub.push_after_training(path, settings, **{k: v for k, v in fields.items() if v})
            if url is None:  # not the main process: rank 0 pushes and records
                continue
            record[name] = {"repo_id": repo_id, "digest": digest, "url": url,
                            "private": bool(settings.get("hub_private_repo"))}
            write_json_atomic(record_file, record)
            print(f"[hf-delrec run] push {name}: done ({url})", flush=True)
        return record

    def check_prepared_data(self) -> None:
        """The prepared data must hold ``num_candidates`` candidates per row (every prompt and result uses them)."""
        stats_file = self.data_dir / "stats.json"
        if not stats_file.is_file():
            return
        stats = json.loads(stats_file.read_text(encoding="utf-8"))
        have = stats.get("num_candidates")
        if have is not None and int(have) < self.args.num_candidates:
            raise RecipeError(
                f"num_candidates={self.args.num_candidates} but {self.data_dir} was prepared with {have} candidates "
                f"per row ({stats_file}); lower num_candidates or prepare the data with --num-candidates "
                f"{self.args.num_candidates}"
            )

    # -- helpers
    def _write_recipe(self, name: str, values: dict) -> Path:
        path = self.out / "recipes" / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(values, sort_keys=False, allow_unicode=True), encoding="utf-8")
        return path

    def _run_verb(self, verb: str, argv: list[str]) -> None:
        module = f"hf_delrec.commands.{verb.replace('-', '_')}"
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            raise RuntimeError(f"this pipeline stage needs `hf-delrec {verb}` ({module}), which is not available: "
                               f"{exc}") from exc
        logger.info("running hf-delrec %s %s", verb, " ".join(argv))
        rc = mod.main(list(argv))
        if rc:
            raise RuntimeError(f"`hf-delrec {verb} {' '.join(argv)}` failed with exit code {rc}")

    # -- stage bodies
    def run_data(self) -> None:
        from .data import prepare_dataset

        options = {"seed": self.args.seed, "num_candidates": self.args.num_candidates, **self.args.data}
        prepare_dataset(self.args.dataset, self.args.data_source, self.data_dir, **options)

    def run_teacher(self) -> None:
        values = {"teacher": self.args.teacher, "data_dir": str(self.data_dir), "output_dir": str(self.teacher_dir),
                  "seed": self.args.seed, **self.args.teacher_args}
        self._run_verb("train-teacher", [str(self._write_recipe("teacher", values))])

    def run_export(self) -> None:
        # export-teacher takes flags, not a recipe: the section's keys become --key value.
        argv = [str(self.teacher_dir), "--data", str(self.data_dir), "--name", self.args.teacher]
        for key, value in self.args.export.items():
            flag = "--" + key.replace("_", "-")
            if value is True:
                argv.append(flag)
            elif value not in (False, None):
                argv += [flag, ",".join(map(str, value)) if isinstance(value, list) else str(value)]
        self._write_recipe("export", {"argv": argv})
        self._run_verb("export-teacher", argv)

    def run_distill(self) -> None:
        values = {"data_dir": str(self.data_dir), "backbone": self.args.model_name_or_path,
                  "backbone_dtype": self.args.backbone_dtype, "teacher_name": self.args.teacher,
                  "teacher_display_name": self.teacher_label, "templates": self.args.domain,
                  "num_candidates": self.args.num_candidates, "output_dir": str(self.soft_prompt_dir),
                  "seed": self.args.seed, **self.args.distill}
        self._run_verb("distill", [str(self._write_recipe("distill", values))])

    @property
    def teacher_label(self) -> str:
        from .trainers.sft_trainer import teacher_display_name

        return teacher_display_name(self.args.teacher, default=self.args.teacher)

    def _sft_values(self, section: dict, out: Path, soft_prompt: Path | None) -> dict:
        return {"data_dir": str(self.data_dir), "model_name_or_path": self.args.model_name_or_path,
                "backbone_dtype": self.args.backbone_dtype, "soft_prompt_path": str(soft_prompt) if soft_prompt else None,
                "domain": self.args.domain, "teacher_name": self.teacher_label,
                "num_candidates": self.args.num_candidates, "output_dir": str(out),
                "seed": self.args.seed, **section}

    def run_sft(self) -> None:
        values = self._sft_values(self.args.sft, self.delrec_dir, self.soft_prompt_dir)
        self._run_verb("sft", [str(self._write_recipe("sft", values))])

    def run_sft_ablation(self) -> None:
        # The same stage-2 recipe, minus the soft prompt (and minus anything the ablation section overrides).
        values = self._sft_values({**self.args.sft, **self.args.sft_ablation}, self.lora_only_dir, None)
        values["soft_prompt_path"] = None
        self._run_verb("sft", [str(self._write_recipe("sft_ablation", values))])

    def run_evaluation(self) -> None:
        with atomic_directory(self.eval_dir, overwrite=True) as tmp:
            # Resumable per row: rows finished by an interrupted run are kept in evaluation.partial/.
            partial = self.out / "evaluation.partial"
            partial.mkdir(exist_ok=True)
            results = evaluate_rows(self, partial)
            for f in partial.iterdir():
                shutil.copy2(f, tmp / f.name)
            write_json_atomic(tmp / "results.json", results)
            (tmp / "results.md").write_text(results_markdown(results), encoding="utf-8")
            curve = self.delrec_dir / "validation_hr1.png"
            if curve.is_file():
                shutil.copy2(curve, tmp / "validation_hr1.png")
        shutil.rmtree(self.out / "evaluation.partial", ignore_errors=True)
        print(results_markdown(results), flush=True)

    def write_card(self) -> str | None:
        """README.md for the final model (rendered by ``hf_delrec.hub``), with the results table beside it."""
        try:
            hub = importlib.import_module("hf_delrec.hub")
        except ModuleNotFoundError:
            print("[hf-delrec run] card: hf_delrec.hub is not available in this version, no model card written",
                  flush=True)
            return None
        results = json.loads((self.eval_dir / "results.json").read_text(encoding="utf-8"))
        # The card's results table reads *results*.json of the model directory ({split: {setting: metrics}}).
        table = {r["label"]: {k: r["metrics"][k] for k in ("HR@1", "HR@5", "NDCG@5")} for r in results["rows"]}
        write_json_atomic(self.delrec_dir / "test_results.json", {results["split"]: table})
        protocol = (f"{results['num_users']} {results['split']} users of {results['dataset']}, "
                    f"{results['num_candidates']} candidates each (the true next item + sampled negatives), "
                    "pessimistic ties; every row ranks the same candidate lists.")
        try:
            path = hub.write_model_card(self.delrec_dir, self.args.hub_model_id if self.args.push_to_hub else None,
                                        protocol=protocol)
        except Exception as exc:  # the card is documentation: report it, never lose the trained model over it
            print(f"[hf-delrec run] card: not written ({type(exc).__name__}: {exc})", flush=True)
            return None
        print(f"[hf-delrec run] card: {path}", flush=True)
        return str(path)


# ----------------------------------------------------------------------------------------------------- evaluation


def _teacher_ranks(teacher_dir: Path, rows: list[dict], prepared=None):
    import numpy as np
    import torch
    from transformers import AutoModel

    from .evaluation import check_compatible
    from .metrics import ranks_from_scores

    teacher = AutoModel.from_pretrained(str(teacher_dir))
    if prepared is not None:  # a reused teacher/ directory may come from a run on other data
        check_compatible(teacher.config, prepared)
    teacher.eval()
    max_len = int(teacher.config.max_seq_length)
    ranks = []
    for start in range(0, len(rows), 256):
        chunk = rows[start : start + 256]
        hist = [r["history"][-max_len:] for r in chunk]
        width = max(1, max(len(h) for h in hist))
        ids = torch.zeros((len(chunk), width), dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, h in enumerate(hist):  # teachers take histories padded on the left with 0
            if h:
                ids[i, width - len(h) :] = torch.as_tensor(h)
                mask[i, width - len(h) :] = 1
        cands = torch.as_tensor([r["candidates"] for r in chunk], dtype=torch.long)
        with torch.no_grad():
            scores = teacher.score_candidates(ids, cands, attention_mask=mask)
        ranks.append(ranks_from_scores(scores, [r["candidates"].index(r["target"]) for r in chunk]))
    return np.concatenate(ranks)


def _popularity_ranks(prepared, rows: list[dict]):
    import numpy as np

    from .metrics import ranks_from_scores

    counts = Counter()
    for r in prepared.examples["train"]:  # training sequences only (history + target of the train rows)
        counts.update(int(i) for i in r["history"])
        counts[int(r["target"])] += 1
    scores = np.asarray([[counts.get(c, 0) for c in r["candidates"]] for r in rows], dtype=np.float64)
    return ranks_from_scores(scores, [r["candidates"].index(r["target"]) for r in rows], ties="pessimistic")


def _llm_row_model(pipe: "Pipeline", name: str, prepared):
    from .models.delrec import DELRec
    from .trainers.sft_config import DELRecSFTScriptArguments
    from .trainers.sft_trainer import build_delrec_model

    if name in ("delrec", "lora_only"):
        path = pipe.delrec_dir if name == "delrec" else pipe.lora_only_dir
        model = DELRec.from_pretrained(str(path))
        # A reused stage directory may hold a model trained on other data: its item ids would name other titles.
        ours, theirs = model.config.catalogue_fingerprint, getattr(prepared, "catalogue_fingerprint", None)
        if (ours and theirs and ours != theirs) or (model.config.num_items and model.config.num_items
                                                    != int(prepared.num_items)):
            from .evaluation import CatalogueMismatchError

            raise CatalogueMismatchError(
                f"{path} was trained on another catalogue ({model.config.num_items} items, fingerprint "
                f"{str(ours)[:16]}...) than {pipe.data_dir} ({prepared.num_items} items, {str(theirs)[:16]}...); "
                f"remove {path} to retrain it on this data"
            )
    else:
        # zero-shot / stage-1-only: the same prompt settings as stage 2, no adapter.
        known = {f.name for f in dataclasses.fields(DELRecSFTScriptArguments)}
        section = {k: v for k, v in pipe.args.sft.items() if k in known and k not in ("data_dir", "overwrite")}
        section.update(model_name_or_path=pipe.args.model_name_or_path, backbone_dtype=pipe.args.backbone_dtype,
                       domain=section.get("domain", pipe.args.domain),
                       soft_prompt_path=str(pipe.soft_prompt_dir) if name == "stage1_only" else None)
        model = build_delrec_model(DELRecSFTScriptArguments(**section), prepared, pipe.args.num_candidates)
    model.eval()
    return model


def evaluate_rows(pipe: "Pipeline", partial_dir: Path) -> dict:
    """Every requested row on the same users and candidates; each finished row is saved in ``partial_dir``."""
    import torch

    from .data import load_prepared
    from .metrics import compute_metrics
    from .trainers.sft_data import rank_rows, ranking_rows

    args = pipe.args
    torch.manual_seed(args.seed)
    prepared = load_prepared(pipe.data_dir)
    rows = ranking_rows(prepared.examples[args.eval_split], args.eval_num_users, seed=args.seed)
    num_c = {len(r["candidates"]) for r in rows}
    if len(num_c) != 1:
        raise ValueError(f"{pipe.data_dir}: evaluation rows have different candidate counts {sorted(num_c)}")
    n_cand = num_c.pop()
    teacher_label = pipe.teacher_label
    out_rows = []
    for name in args.rows:
        f = partial_dir / f"{name}.json"
        if f.is_file():
            out_rows.append(json.loads(f.read_text(encoding="utf-8")))
            print(f"[hf-delrec run] evaluation row {name}: reused", flush=True)
            continue
        cpu0, wall0 = time.process_time(), time.perf_counter()
        if name == "teacher":
            ranks = _teacher_ranks(pipe.teacher_dir, rows, prepared)
        elif name == "popularity":
            ranks = _popularity_ranks(prepared, rows)
        else:
            model = _llm_row_model(pipe, name, prepared)
            ranks = rank_rows(model, rows, batch_size=args.eval_batch_size)
            del model
        wall = time.perf_counter() - wall0
        metrics = compute_metrics(ranks, ks=(1, 5, 10))
        row = {"name": name, "label": ROW_LABELS[name].format(teacher=teacher_label), "metrics": metrics,
               "cpu_seconds": round(time.process_time() - cpu0, 1), "wall_seconds": round(wall, 1),
               "users_per_second": round(len(rows) / max(wall, 1e-9), 2)}
        write_json_atomic(f, row)
        out_rows.append(row)
        print(f"[hf-delrec run] evaluation row {name}: HR@1={metrics['HR@1']:.4f} HR@5={metrics['HR@5']:.4f} "
              f"NDCG@5={metrics['NDCG@5']:.4f} ({wall:.0f} s)", flush=True)
    training = {}
    stage1_eval = None
    for label, stage, path in (("teacher", "teacher", pipe.teacher_dir),
                               ("stage 1 (distill)", "distill", pipe.soft_prompt_dir),
                               ("stage 2 (DELRec)", "sft", pipe.delrec_dir),
                               ("stage 2 ablation (LoRA only)", "sft_ablation", pipe.lora_only_dir)):
        entry = {}
        timing = pipe.out / "timings" / f"{stage}.json"
        if timing.is_file():
            entry.update(json.loads(timing.read_text(encoding="utf-8")))
        for fname in ("sft_results.json", "distill_results.json", "eval_results.json"):
            if (path / fname).is_file():
                res = json.loads((path / fname).read_text(encoding="utf-8"))
                for key in ("global_steps", "train_steps", "global_step"):
                    if res.get(key) is not None:
                        entry["steps"] = res[key]
                        break
                if res.get("epochs_trained") is not None:
                    entry["steps"] = f"{res['epochs_trained']:g} epochs"
                if res.get("num_train_examples") is not None:
                    entry["examples"] = res["num_train_examples"]
                if fname == "distill_results.json" and res.get("stage1_eval"):
                    stage1_eval = res["stage1_eval"]
                break
        if entry:
            training[label] = entry
    stats = getattr(prepared, "stats", {}) or {}
    return {
        "dataset": stats.get("dataset", args.dataset),
        "split": args.eval_split,
        "num_users": len(rows),
        "num_candidates": n_cand,
        "llm": args.model_name_or_path,
        "teacher": args.teacher,
        "seed": args.seed,
        "rows": out_rows,
        "training": training,
        "stage1_eval": stage1_eval,
        "notes": [
            "All rows rank the same users' prepared candidate lists; ranks are pessimistic on ties "
            "(popularity ties among equally popular items count against it).",
            "LLM rows score each candidate's full title log-likelihood given the prompt (prompt computed once, shared by all candidates)"
            if "full_title" == pipe.args.sft.get("scoring", "full_title") else
            "LLM rows score the first sub-word of each title (the paper's verbaliser).",
        ],
    }


def results_markdown(results: dict) -> str:
    """The results table (HR@1, HR@5, NDCG@5) with the protocol and training budget under it."""
    lines = [
        f"# DELRec results: {results.get('dataset', '?')}, {results.get('split', 'test')} users",
        "",
        f"{results['num_users']} users, {results['num_candidates']} candidates each (1 true next item + "
        f"{results['num_candidates'] - 1} sampled negatives), pessimistic ties. LLM: `{results.get('llm')}`.",
        "",
        "| model | HR@1 | HR@5 | NDCG@5 |",
        "|---|---:|---:|---:|",
    ]
    for row in results["rows"]:
        m = row["metrics"]
        lines.append(f"| {row['label']} | {m['HR@1']:.4f} | {m['HR@5']:.4f} | {m['NDCG@5']:.4f} |")
    lines.append(f"| *random ranking (expected)* | {1 / results['num_candidates']:.4f} | "
                 f"{min(5, results['num_candidates']) / results['num_candidates']:.4f} | "
                 f"{_random_ndcg(results['num_candidates'], 5):.4f} |")
    if results.get("training"):
        lines += ["", "| stage | steps | examples | CPU s | wall s |", "|---|---:|---:|---:|---:|"]
        for name, t in results["training"].items():
            lines.append(f"| {name} | {t.get('steps', '')} | {t.get('examples', '')} | {t.get('cpu_seconds', '')} | "
                         f"{t.get('wall_seconds', '')} |")
    if results.get("stage1_eval"):
        lines += ["", "Stage 1 (held-out users, strict top-1 accuracy among candidates):", "",
                  "| task | trained soft prompt | untrained soft prompt | chance |", "|---|---:|---:|---:|"]
        for task, e in results["stage1_eval"].items():
            fmt = lambda v: "–" if v is None else f"{v:.4f}"  # noqa: E731
            lines.append(f"| {task.upper()} | {fmt(e.get('trained_accuracy'))} | {fmt(e.get('untrained_accuracy'))} | "
                         f"{fmt(e.get('chance'))} |")
    if results.get("notes"):
        lines += [""] + [f"- {n}" for n in results["notes"]]
    return "\n".join(lines) + "\n"


def _random_ndcg(n: int, k: int) -> float:
    return sum(1 / math.log2(r + 1) for r in range(1, min(k, n) + 1)) / n


__all__ = ["PipelineArguments", "Pipeline", "parse_pipeline_args", "results_markdown", "ALL_ROWS", "ROW_LABELS"]
