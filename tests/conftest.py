"""Test-wide settings. Nothing in the suite reaches the network: the Hub is offline except in the loopback-Hub tests,
which run their clients in subprocesses with their own environment."""

import os
import sys
from pathlib import Path

# Must be set before transformers/huggingface_hub/datasets are imported (they read these at import time).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))


def shared_data_dir() -> Path | None:
    """Where the real datasets are: $DELREC_DATA_DIR, else ../shared/data beside the checkout."""
    env = os.environ.get("DELREC_DATA_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(REPO_ROOT.parent / "shared" / "data")
    for path in candidates:
        if path.is_dir():
            return path
    return None


@pytest.fixture(scope="session")
def real_data() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip(
            "real datasets not found: set DELREC_DATA_DIR or place them in ../shared/data "
            "(MovieLens and Amazon licences forbid shipping them with the project)"
        )
    return path


@pytest.fixture(scope="session")
def ml100k_dir(real_data: Path) -> Path:
    path = real_data / "ml-100k"
    if not (path / "u.data").is_file():
        pytest.skip(f"{path}/u.data not found")
    return path


@pytest.fixture(scope="session")
def beauty_dir(real_data: Path) -> Path:
    path = real_data / "amazon-beauty-5core"
    if not (path / "user_sequence.txt").is_file():
        pytest.skip(f"{path}/user_sequence.txt not found")
    return path
