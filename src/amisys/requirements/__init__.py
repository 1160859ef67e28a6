"""Security requirements derived from the catalog, and the reports that show them."""
