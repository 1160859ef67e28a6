"""The main job: a simulated utility running every business process for a week, with faults and attacks."""
