"""Analyses of metered data for planning, asset management and tariffs (seed sections 4.4-4.6 and 5.2).

Each module is one family of analysis, pure functions over numpy arrays or plain records, so the actors
that run them (GIS/WMS, DMS Applications, CIS, LMS/DRMS, MDMS) stay thin and the results can be checked
against hand-worked cases. ``series`` turns the meter data store into those arrays.
"""
