# cerkl-nb workshop settings for a JupyterHub (see docs/workshops.md).
#
# The Littlest JupyterHub: copy this file to /opt/tljh/config/jupyterhub_config.d/cerkl-nb.py
# and run `sudo tljh-config reload`. Any other hub: paste it into jupyterhub_config.py.
# The test suite's hub loads this very file, so what it says is what was tested.
c = get_config()  # noqa: F821 - JupyterHub provides get_config() to its config files

# Every learner's notebook server starts a Cerkl sandbox of its own, on a free loopback
# port, with a fresh random key. `cerkl-nb with-sandbox` publishes it to the learner's
# kernels and terminals as CERKL_SANDBOX_URL and CERKL_SANDBOX_KEY (and in
# ~/.cerkl-nb/sandbox.json, mode 0600), writes its log to ~/.cerkl-nb/sandbox.log, and
# the sandbox ends when the learner's server stops.
c.Spawner.cmd = ["cerkl-nb", "with-sandbox", "--", "jupyterhub-singleuser"]

# Open the tutorials at login: nbgitpuller clones the repository into ~/cerkl-nb.
c.Spawner.default_url = "/lab/tree/cerkl-nb/notebooks/00-start-here.ipynb"

# A learner with three notebooks open uses about 0.4 GiB (docs/workshops.md, "Sizing").
# Enforced by TLJH's systemd spawner and by KubeSpawner; a plain local spawner ignores it.
c.Spawner.mem_limit = "1G"

# A server (and so its sandbox) on a busy host can take a while to come up.
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 60
