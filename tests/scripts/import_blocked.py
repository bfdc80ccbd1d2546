"""Import modules with some top-level packages blocked (as if not installed); report which
imported and why the others failed.

Parameter: one JSON object with ``blocked`` (top-level package names) and ``modules``; with
``report_loaded`` (a package name) the result also lists which of its modules got loaded.
"""

import importlib
import importlib.abc
import json
import sys

params = json.loads(sys.argv[1])
BLOCKED = set(params["blocked"])


class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked in this test")
        return None


sys.meta_path.insert(0, Block())
imported, failed = [], {}
for name in params["modules"]:
    try:
        importlib.import_module(name)
        imported.append(name)
    except ImportError as exc:
        failed[name] = str(exc)
result = {"imported": imported, "failed": failed}
if "report_loaded" in params:
    prefix = params["report_loaded"]
    result["loaded"] = sorted(m for m in sys.modules if m == prefix or m.startswith(prefix + "."))
print(json.dumps(result))
