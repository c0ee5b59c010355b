"""``livn.testing``: the reference protocols import without pytest; the conformance suite with it."""

from __future__ import annotations

import subprocess
import sys


def test_single_cell_references_import_without_pytest():
    code = (
        "import sys; sys.modules['pytest'] = None\n"  # an import of pytest now fails
        "import livn.testing.single_cell\n"
        "import livn.testing\n"
        "try:\n"
        "    livn.testing.BackendConformance\n"
        "except ImportError:\n"
        "    pass\n"
        "else:\n"
        "    raise SystemExit('the conformance suite imported without pytest')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_conformance_suite_is_importable_from_the_package():
    from livn.testing import BackendConformance
    from livn.testing.conformance import BackendConformance as direct

    assert BackendConformance is direct
