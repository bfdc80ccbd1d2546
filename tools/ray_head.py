"""A Ray head on loopback only, for the cluster tests and ``bench/server.py --ray``.

Run as a script (``python tools/ray_head.py TEMP_DIR CPUS``) it starts the head, prints its GCS
address and keeps it up until SIGTERM, when ``ray.shutdown()`` stops every Ray process it started.
``local_head`` runs that script as a child and yields the address. The head is started with
``ray.init`` rather than ``ray start``, which swaps 127.0.0.1 for the machine's LAN address.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def local_head(temp: Path, cpus: int, env: dict[str, str], cwd: Path | None = None) -> Iterator[str]:
    """A head in a child process with ``env`` (give it RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 and a
    token); yields its ``127.0.0.1:PORT`` address and stops it on exit."""
    head = subprocess.Popen([sys.executable, __file__, str(temp), str(cpus)], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        address = head.stdout.readline().strip()  # type: ignore[union-attr]
        if not address.startswith("127.0.0.1:"):
            raise RuntimeError(f"the Ray head did not start on loopback (printed {address!r})")
        yield address
    finally:
        head.terminate()
        try:
            head.wait(60)
        except subprocess.TimeoutExpired:
            head.kill()
            head.wait(10)


def _serve(temp: str, cpus: int) -> None:
    import signal
    import time

    import ray

    context = ray.init(num_cpus=cpus, include_dashboard=False, _temp_dir=temp)
    print(context.address_info["gcs_address"], flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            time.sleep(1)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    _serve(sys.argv[1], int(sys.argv[2]))
