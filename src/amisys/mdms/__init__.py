"""Meter data management: VEE of interval data and the billing determinants computed from it."""
