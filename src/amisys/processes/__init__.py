"""Business processes: how each is triggered, and conformance of its trace with the seed."""

from __future__ import annotations

from amisys.processes.runner import REGISTRY, ProcessDef


def registry() -> dict[str, ProcessDef]:
    """Every process with a trigger (importing the modules that register them)."""
    import amisys.processes.customer
    import amisys.processes.demand_response
    import amisys.processes.distribution
    import amisys.processes.dr_subfunctions
    import amisys.processes.load_control
    import amisys.processes.metering
    import amisys.processes.planning  # noqa: F401

    return REGISTRY
