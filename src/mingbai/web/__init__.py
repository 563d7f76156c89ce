"""HTTP edge: the REST API, the handset page and (later) the consoles, on one FastAPI app."""
