# What a tutorial session imports, run in Pyodide at build time (compile_wheels.py): the
# modules it loads are byte-compiled, the rest of each wheel stays source. It also proves
# that cerkl-nb imports and reaches its in-process sandbox under Pyodide's Python.
import importlib
import sys

KERNEL = ("IPython", "ipykernel", "comm", "jedi", "piplite", "micropip", "pyodide_kernel")
TUTORIALS = ("ipywidgets", "anywidget", "tqdm.auto", "cerkl_nb", "cerkl_nb.widgets")


def tutorial_session() -> None:
    for name in KERNEL + TUTORIALS:
        try:
            importlib.import_module(name)
        except Exception as exc:  # a few need a browser page (Node.js has none)
            print(f"  (trace: {name} needs a browser page: {type(exc).__name__}: {exc})")
    # pyodide_kernel sends stdout to its kernel when imported: take it back.
    sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__

    import cerkl_nb
    from cerkl_nb import sandbox

    sb = sandbox.start()
    assert sb.app is not None, "in Pyodide the sandbox must run in this process"
    client = cerkl_nb.connect()  # as the tutorials do: no credentials, so the sandbox
    assert client.settings.base_url == sb.url
    total = client.list("subscriber", page_size=2).total
    assert len(client.get_all("subscriber", concurrency=4)) == total
    print(f"  (trace: the in-process sandbox answered; {total} subscribers paged)")
    sb.stop()


tutorial_session()
