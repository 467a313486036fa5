"""cerkl_nb: learn and use the Cerkl Broadcast API v3 from JupyterLab (placeholder; the core fills this in)."""

__version__ = "0.1.0"
