"""All models. Every module in this package is imported so that Base.metadata is complete."""

import importlib
import pkgutil

from core.models.base import Base

for _info in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_info.name}")

__all__ = ["Base"]
