"""envcapture/analysis/guard.py: is a script safe to import, and what its body imports."""

from __future__ import annotations

import pytest

from envcapture.analysis.guard import ModuleImport, has_main_guard, module_level_imports


@pytest.mark.parametrize(
    ("source", "guarded"),
    [
        ('if __name__ == "__main__":\n    main()\n', True),
        ("if '__main__' == __name__:\n    main()\n", True),
        ("import torch\ntrain()\n", False),  # nanoGPT's train.py
        ('def f():\n    if __name__ == "__main__":\n        pass\n', False),  # not at the top
        ('if __name__ != "__main__":\n    pass\n', False),
        ("def broken(:\n", False),
    ],
)
def test_has_main_guard(source: str, guarded: bool) -> None:
    assert has_main_guard(source) is guarded


def test_module_level_imports() -> None:
    source = (
        "import os, sys as system\n"
        "try:\n"
        "    import fast\n"
        "except ImportError:\n"
        "    fast = None\n"
        "from pkg.sub import a, b\n"
        "from . import sibling\n"
        "from star import *\n"
        "def f():\n"
        "    import inside_function\n"
        "class C:\n"
        "    import inside_class\n"
        "with open('x') as h:\n"
        "    import in_with\n"
        'if __name__ == "__main__":\n'
        "    import main_only\n"
    )
    assert module_level_imports(source) == (
        ModuleImport(line=1, module="os"),
        ModuleImport(line=1, module="sys"),
        ModuleImport(line=3, module="fast", optional=True),
        ModuleImport(line=6, module="pkg.sub", names=("a", "b")),
        ModuleImport(line=8, module="star"),
        ModuleImport(line=14, module="in_with"),
    )
    assert module_level_imports("def broken(:\n") == ()
