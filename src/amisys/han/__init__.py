"""The home area network seen from the utility: signed firmware, the ESI's device registry, DR enrollment."""
