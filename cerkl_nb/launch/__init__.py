"""The ways cerkl-nb is started: the ``cerkl-nb`` command and what it launches.

* :mod:`~cerkl_nb.launch.cli`: the one argument parser (``sandbox``, ``lab``, ``tutorials``,
  ``with-sandbox``);
* :mod:`~cerkl_nb.launch.lab`: JupyterLab on the tutorials with a sandbox running;
* :mod:`~cerkl_nb.launch.tutorials`: the tutorials the package ships, and a user's copy;
* :mod:`~cerkl_nb.launch.workshop`: one sandbox per user on a JupyterHub;
* :mod:`~cerkl_nb.launch.serverproxy`: the jupyter-server-proxy entry point.
"""
