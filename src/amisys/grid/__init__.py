"""The distribution grid: topology (feeders, transformers, service points) shared by the simulation and the OMS."""

from amisys.grid.topology import (
    DADevice,
    Feeder,
    ServicePoint,
    StreetLightSite,
    Substation,
    Topology,
    Transformer,
    distance_m,
    generate,
)

__all__ = [
    "DADevice",
    "Feeder",
    "ServicePoint",
    "StreetLightSite",
    "Substation",
    "Topology",
    "Transformer",
    "distance_m",
    "generate",
]
