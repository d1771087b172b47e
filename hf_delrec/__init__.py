"""hf_delrec: LLM-based sequential recommendation as a Hugging Face Transformers plugin.

Importing the package registers every model of ``hf_delrec.models`` with ``AutoConfig``/``AutoModel`` so that
``AutoModel.from_pretrained(dir_or_repo)`` works without ``trust_remote_code``. Nothing here touches the network.
"""

__version__ = "0.1.0"

from . import models  # noqa: F401  (registers the Auto classes)
