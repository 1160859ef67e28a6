"""The seed as data: actors, the 45 interfaces, 61 business processes and their tables."""

from amisys.catalog.catalog import Catalog, UnknownIdError, load
from amisys.catalog.loader import CatalogDataError
from amisys.catalog.model import DIMENSIONS, Actor, Dimension, Flow, Interface, Level, Process

__all__ = [
    "DIMENSIONS",
    "Actor",
    "Catalog",
    "CatalogDataError",
    "Dimension",
    "Flow",
    "Interface",
    "Level",
    "Process",
    "UnknownIdError",
    "load",
]
