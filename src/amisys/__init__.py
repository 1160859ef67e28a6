"""amisys: an AMI system that runs the seed's business processes with their security requirements met."""

__version__ = "0.1.0"
