"""Simulation: clock, fleet, load shapes, faults and attacks."""
