"""Fixtures shared by every test layer.

The sandbox fixtures come from the plugin the package ships, so users' own test suites
can use them the same way.
"""

from cerkl_nb.sandbox.pytest_plugin import fresh_sandbox, sandbox  # noqa: F401
