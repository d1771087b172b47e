"""Model packages, one folder per model: ``models/<name>/configuration_<name>.py`` + ``modeling_<name>.py``.

Every sub-package registers its config/model pair with the Auto classes in its own ``__init__``. They are imported
here by discovery, so adding a model means adding one folder.
"""

import importlib
import pkgutil

for _info in pkgutil.iter_modules(__path__):
    if _info.ispkg:
        importlib.import_module(f"{__name__}.{_info.name}")
