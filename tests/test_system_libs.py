"""MediaPipe's engine loads libEGL and libGLESv2, and the OpenCV build it requires
(opencv-contrib-python) loads libGL and GLib, all from the system. Where they are missing (slim
servers, containers) a command ends in one line naming the packages to install, not a traceback;
`facexpr --help` needs none of them."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from facexpr.bundled import sample_pair
from facexpr.cli import SYSTEM_LIBS, install_hint

# Hide every GL/EGL/GLES library in a private mount namespace (bind /dev/null over each file): what
# a machine without them sees, without touching this one.
HIDE = ("for f in /lib/x86_64-linux-gnu/libGL*.so* /lib/x86_64-linux-gnu/libEGL*.so* "
        "/usr/lib/x86_64-linux-gnu/libGL*.so* /usr/lib/x86_64-linux-gnu/libEGL*.so*; do "
        '[ -e "$f" ] && mount --bind /dev/null "$(readlink -f "$f")"; done; exec "$@"')


@pytest.mark.parametrize("err", [
    ImportError("libGL.so.1: cannot open shared object file: No such file or directory"),
    OSError("/lib/x86_64-linux-gnu/libEGL.so.1: cannot open shared object file: No such file or directory"),
    ImportError("libgthread-2.0.so.0: cannot open shared object file: No such file or directory"),
])
def test_missing_system_library_gets_the_packages_to_install(err):
    msg = install_hint(err)
    assert msg and "\n" not in msg and f"apt-get install {SYSTEM_LIBS}" in msg


def test_other_errors_are_not_disguised():
    assert install_hint(ImportError("cannot import name 'x' from 'facexpr.pipeline'")) is None
    assert install_hint(OSError("No space left on device")) is None


def _run_without_gl(argv):
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare to hide the GL libraries in a private mount namespace")
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"unshare -m is not permitted here ({probe.stderr.decode().strip()})")
    return subprocess.run(["unshare", "-m", "bash", "-c", HIDE, "_", sys.executable, "-m", "facexpr.cli", *argv],
                          capture_output=True, text=True, timeout=300)


def test_without_gl_libraries_help_works_and_a_command_says_what_to_install(tmp_path):
    help_ = _run_without_gl(["--help"])
    assert help_.returncode == 0 and "transfer" in help_.stdout, help_.stderr
    src, tgt = sample_pair()
    p = _run_without_gl(["transfer", str(src), str(tgt), "-o", str(tmp_path / "o.png")])
    assert p.returncode == 2, p.stderr[-2000:]
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("facexpr: error: ") and SYSTEM_LIBS in lines[0], p.stderr
    assert not (tmp_path / "o.png").exists()
