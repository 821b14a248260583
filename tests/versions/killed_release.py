"""Run ``release create`` in this process and kill it (SIGKILL, no cleanup) at one step.

``python -m tests.versions.killed_release WORKSPACE INPUTS_DIR VERSION STEP``: opens the
workspace's store as ``tester``, creates release VERSION from the inputs written by
``ReleaseInputs.write`` and kills itself when the release reaches STEP (a name of
``versions.gitdvc.STEPS`` or ``INIT_STEPS``, or ``started`` / ``db_committed``). Exits 0 if STEP
was never reached.
"""

from __future__ import annotations

import os
import signal
import sys


def main(workspace: str, inputs_dir: str, version: str, step: str) -> None:
    from repository.settings import load_settings
    from repository.store import Store
    from versions.inputs import ReleaseInputs
    from versions.releases import create_release

    def checkpoint(name: str) -> None:
        if name == step:
            os.kill(os.getpid(), signal.SIGKILL)

    store = Store.open(load_settings(workspace, actor="tester", env={}))
    create_release(store, ReleaseInputs.read(inputs_dir), version=version,
                   checkpoint=checkpoint)


if __name__ == "__main__":
    main(*sys.argv[1:5])
