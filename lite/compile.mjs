// Run compile_wheels.py inside Pyodide under Node.js, so that the bytecode matches the
// browser's Python. Usage: node compile.mjs PYODIDE_DIR IN_DIR OUT_DIR [--keep-sources NAME ...]
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const [pyodideDir, inDir, outDir, ...rest] = process.argv.slice(2);
if (!outDir) {
  console.error("usage: node compile.mjs PYODIDE_DIR IN_DIR OUT_DIR [--keep-sources NAME ...]");
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const { loadPyodide } = await import(pathToFileURL(resolve(pyodideDir, "pyodide.mjs")).href);
const py = await loadPyodide({
  indexURL: resolve(pyodideDir) + "/",
  stdout: (line) => console.log(line),
  stderr: (line) => console.error(line),
});
// The host folders appear inside Pyodide under /in and /out.
py.FS.mkdirTree("/in");
py.FS.mkdirTree("/out");
py.FS.mount(py.FS.filesystems.NODEFS, { root: resolve(inDir) }, "/in");
py.FS.mount(py.FS.filesystems.NODEFS, { root: resolve(outDir) }, "/out");
// Loaded as a module (not __main__), then main() is called with the arguments.
const ns = py.toPy({ __name__: "compile_wheels" });
py.runPython(readFileSync(resolve(here, "compile_wheels.py"), "utf8"), { globals: ns });
ns.set("ARGV", py.toPy(["/in", "/out", ...rest]));
py.runPython("main(list(ARGV))", { globals: ns });
