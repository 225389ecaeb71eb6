"""Sources that stress `_fragment`'s cutting (clauses, comments between them, handlers over
several lines, one-line suites, form feeds, rebinding of path names, nested reads): for each,
the facts from the fragment must be those of the whole file (tests/analysis/test_fragment.py).
Written while reviewing the cutting of compound statements; each found or guards a case."""

CASES: dict[str, str] = {}
CASES["multiline_tuple_rebind"] = """import pandas as pd
TRAIN = "data/train.csv"
def get():
    return 1, 2
(other,
 TRAIN) = get()
(TRAIN,
 other) = get()
pd.read_csv(TRAIN)
"""
CASES["multiline_tuple_rebind2"] = """import pandas as pd
TRAIN = "data/train.csv"
(
    TRAIN,
    b,
) = (1, 2)
pd.read_csv(TRAIN)
"""
CASES["if_elif_else_comments"] = """import os
x = 1
if x == 1:
    y = 2
    # import in comment

elif x == 2:

    import json
    z = 3
# between
else:
    # comment
    w = 4
    import csv
print(1)
"""
CASES["else_after_nested"] = """if a:
    for i in r:
        while b:
            if c:
                pass
            else:
                q = 1
        else:
            import x
else:
    y = 2
"""
CASES["try_multi_handlers"] = """try:
    a = 1
    import foo
    b = 2
except (ImportError,
        ModuleNotFoundError) as e:
    c = 3
    foo = None
except Exception:
    d = 1
else:
    e = 1
finally:
    import bar
    f = 1
"""
CASES["with_parens"] = """with (
    open("a.txt") as f,
    open("b.txt") as g,
):
    x = 1
    data = f.read()
with open("c.txt") as h, open("d.txt", "w") as k:
    z = 1
"""
CASES["for_else_dynamic"] = """import importlib
for name in ["a", "b"]:
    x = 1
    try:
        mod = importlib.import_module("pkg." + name)
    except ImportError:
        continue
    break
else:
    mod = importlib.import_module("pkg.default")
"""
CASES["tabs"] = "if x:\n\ty = 1\n\tif z:\n\t\timport a\n\telse:\n\t\tb = 2\nelse:\n\tc = 1\n"
CASES["formfeed"] = "import os\n\x0c\nif x:\n    y = 1\n\x0c    import a\nelse:\n    \x0cb = 2\n"
CASES["formfeed2"] = "if x:\n\x0c    y = 1\n    import a\nelse:\n\x0c    b = 2\n"
CASES["crlf"] = "import os\r\nif x:\r\n    y = 1\r\n    import a\r\nelse:\r\n    b = 2\r\n"
CASES["lonecr"] = "import os\rif x:\r    y = 1\r    import a\relse:\r    b = 2\r"
CASES["backslash_header"] = "if x and \\\n   y:\n    z = 1\n    import a\nelif q \\\n  == 2:\n    w = 1\nelse:\n    pass\n"
CASES["decorated_first"] = """if x:
    @dec
    def f():
        import a
    y = 1
else:
    @dec
    def g():
        pass
"""
CASES["decorated_first_nomarker"] = """if x:
    @dec
    def f():
        pass
    import a
else:
    @dec(1,
         2)
    def g():
        pass
"""
CASES["docstring_first"] = '''if x:
    """mentions import here"""
    y = 1
else:
    """import"""
try:
    """docstring with open( it"""
except ImportError:
    """import"""
'''
CASES["one_line_suites"] = (
    "if x: import y\nelse: import z\nfor i in r: import q\nwhile 0: import w\nif a:\n    import b\nelse: c = 1\n"
)
CASES["semicolons"] = "x = 1; import y\nif q:\n    a = 1; import b\n    c = 2; d = 3\nelse:\n    e = 1; f = 2\n"
CASES["main_data"] = """import os
import pandas as pd
if os.environ.get("X"):
    PATH = "data/a.csv"
else:
    PATH = "data/b.csv"
if __name__ == "__main__":
    x = 1
    with open("data/x.csv") as f:
        pass
    df = pd.read_csv(PATH)
"""
CASES["main_data_try"] = """import pandas as pd
try:
    PATH = "data/a.csv"
except Exception:
    pass
if __name__ == "__main__":
    df = pd.read_csv(PATH)
"""
CASES["syspath_blocks"] = """import sys, os
if True:
    x = 1
    if os.name == "nt":
        sys.path.insert(0, "lib")
    else:
        sys.path.append(os.path.join(os.path.dirname(__file__), "vendor"))
"""
CASES["nested_calls"] = """import json, os, yaml
a = json.load(open("a.json"))
b = open(os.path.join(os.path.dirname(__file__), "x"))
exec(open("f.py").read())
with open(os.path.join(os.path.dirname(__file__), "out.txt"), "w") as fh:
    pass
c = yaml.safe_load(open(os.path.join(os.path.dirname(__file__), "cfg.yaml")))
if x:
    d = json.load(open("b.json"))
else:
    e = open(open("name.txt").read(), "w")
"""
CASES["docstring_only_block"] = '''def f():
    """Call import foo here."""
class C:
    """open( the file"""
if x:
    """import"""
else:
    """import"""
import os
'''
CASES["deep"] = """if a:
    if b:
        for c in d:
            with e:
                try:
                    import deep
                except ImportError:
                    pass
                x = 1
            y = 2
        z = 3
"""
CASES["async"] = """async def f():
    async with a as b:
        x = 1
        import q
    async for i in r:
        y = 2
    else:
        import w
"""
CASES["match"] = """match x:
    case 1:
        import a
    case _:
        b = 1
"""
CASES["trystar"] = """try:
    x = 1
except* ValueError:
    import a
else:
    pass
finally:
    import b
"""
CASES["class_in_block"] = '''if x:
    class A:
        y = 1
        import b
else:
    class B:
        """import"""
'''
CASES["global_binding_in_def"] = """import pandas as pd
DATA = "data/x.csv"
def f():
    global DATA
    DATA = "other.csv"
pd.read_csv(DATA)
"""
CASES["def_local_binding"] = """import pandas as pd
DATA = "data/x.csv"
def f():
    x = 1
    DATA = g()
pd.read_csv(DATA)
"""
CASES["annassign_no_value"] = """import pandas as pd
DATA: str
DATA = "data/x.csv"
pd.read_csv(DATA)
"""
CASES["walrus"] = """import pandas as pd
DATA = "data/x.csv"
if (DATA := "y.csv"):
    pass
pd.read_csv(DATA)
"""
CASES["augassign_multiline"] = """import pandas as pd
DATA = "data/x.csv"
DATA \\
  += "y"
pd.read_csv(DATA)
"""
CASES["chained_multiline"] = """import pandas as pd
DATA = "data/x.csv"
OTHER = \\
DATA = "z.csv"
pd.read_csv(DATA)
"""
CASES["list_target"] = """import pandas as pd
DATA = "data/x.csv"
[a,
 DATA] = 1, 2
pd.read_csv(DATA)
"""
CASES["star_target"] = """import pandas as pd
DATA = "data/x.csv"
a, *DATA = 1, 2
pd.read_csv(DATA)
"""
CASES["eq_in_string_on_line"] = """import pandas as pd
DATA = "data/x.csv"
DATA == "a=b"
pd.read_csv(DATA)
"""
CASES["semicolon_rebind"] = """import pandas as pd
DATA = "data/x.csv"
x = DATA; DATA = "q.csv"
pd.read_csv(DATA)
"""
CASES["rebind_in_for_else"] = """import pandas as pd
DATA = "data/x.csv"
for i in r:
    y = 1
else:
    DATA = "q.csv"
pd.read_csv(DATA)
"""
CASES["rebind_in_class"] = """import pandas as pd
DATA = "data/x.csv"
class K:
    DATA = "q.csv"
pd.read_csv(DATA)
"""
CASES["lambda_scope"] = """import pandas as pd
DATA = "data/x.csv"
f = lambda: pd.read_csv(DATA)
"""
CASES["nonascii"] = """# -*- coding: utf-8 -*-
s = "héllo"
if x:
    t = "ünï"; import a
else:
    u = "ß"
"""
CASES["empty_lines_ws"] = "if x:\n    \n    import a\n    \nelse:\n    \n    b = 1\n"
CASES["comment_before_else_indented"] = "if x:\n    import a\n        # odd indent comment\n  # another\nelse:\n    b = 1\n"
CASES["if_else_if"] = "if a:\n    x = 1\nelse:\n    if b:\n        import c\n    else:\n        d = 1\n"
CASES["elif_line_starts_elif_in_string"] = "if a:\n    x = 1\nelse:\n    if b:\n        import c\n"
CASES["dynamic_alias"] = """from importlib import import_module as im
if x:
    y = 1
    m = im("pkg." + n)
"""
CASES["sys_path_alias"] = """from sys import path as p
if x:
    y = 1
    p.insert(0, "lib")
"""
CASES["main_guard_only"] = """def main():
    pass
if __name__ == "__main__":
    main()
"""
CASES["file_relative"] = """from pathlib import Path
HERE = Path(__file__).parent
if True:
    x = 1
    CFG = HERE / "cfg.yaml"
cfg = (HERE / "assets" / "a.png").read_bytes()
"""
CASES["cli_default"] = """import argparse
p = argparse.ArgumentParser()
if x:
    p.add_argument("--data", default="data/train.csv")
"""
CASES["string_concat_stmt"] = 'if x:\n    "import" "b"\n    f"import {x}"\nimport os\n'
CASES["bytes_docstring"] = 'if x:\n    b"import"\nelse:\n    y = 1\nimport os\n'
CASES["continuation_block_first"] = "if x:\n    a = \\\n        1\n    import q\nelse:\n    b = \\\n      2\n"
CASES["body_same_line_then_more"] = "if x: a = 1; import b\nelif y: pass\nelse:\n    import c\n"
CASES["else_oneline_only"] = "if x:\n    import a\nelse: b = 1\n"
CASES["try_oneline_handler"] = "try:\n    import a\nexcept ImportError: a = None\n"
CASES["try_finally_only"] = "try:\n    import a\n    x = 1\n# c\nfinally:\n    y = 2\n"
CASES["with_multi_items_backslash"] = 'with open("a") as f, \\\n     open("b") as g:\n    x = 1\n'
CASES["open_in_nested_def_in_block"] = """if True:
    def load():
        x = 1
        return open("data/x.txt").read()
    y = 2
"""
CASES["type_checking"] = """from typing import TYPE_CHECKING
if TYPE_CHECKING:
    x = 1
    from a import B
else:
    B = None
"""
CASES["nested_main_in_try"] = """try:
    import a
except ImportError:
    a = None
if __name__ == "__main__":
    try:
        import b
    except ImportError:
        pass
    else:
        x = open("d.txt")
"""
# A compound statement's header is walked, markers or not: a path built there on a module-level
# path name is a file read, so the header stays whole (from the review of the stand-in headers).
_HERE = 'import os\nfrom pathlib import Path\nHERE = Path(__file__).parent\nROOT = HERE.parent\n\n\n'
CASES["path_name_in_a_default"] = _HERE + 'def read_config(path=HERE / "config.json"):\n    with open(path) as f:\n        return f.read()\n'
CASES["path_name_in_a_decorator"] = _HERE + '@register(ROOT / "templates")\ndef view():\n    import jinja2\n'
CASES["path_name_in_class_keywords"] = _HERE + 'class Cfg(Base, path=ROOT / "cfg.yaml"):\n    import yaml\n'
CASES["path_name_joined_in_a_default"] = _HERE + 'def f(p=os.path.join(HERE, "data", "x.csv")):\n    import pandas\n'
CASES["path_name_in_a_lambda_default"] = _HERE + 'def f(cb=lambda: ROOT / "x.txt"):\n    import json\n'
CASES["path_name_in_an_annotation"] = _HERE + 'def f(p: Annotated[Path, ROOT / "x.txt"] = None):\n    import json\n'
CASES["path_name_in_an_unmarked_def"] = _HERE + 'def read_config(path=HERE / "config.json"):\n    return path\n'
CASES["path_name_in_an_if_test"] = _HERE + 'if (HERE / "flag").exists():\n    x = 2\n'
CASES["path_name_spelled_fullwidth"] = _HERE + 'def f(p=ＨＥＲＥ / "x.json"):\n    import json\n'
# A line continuation before a plain import (`_importparts`): left out, the import would let the
# next kept statement continue that logical line (``f = importlib.import_module ("torch", m)``
# is a call the file does not make), or make a text libcst refused parse (its digest changes).
# Apart from CASES: the fragment of a statement continued to a line it leaves out is not Python
# (libcst refuses it and parses the whole file), which that test asserts it is.
CONTINUATION_CASES: dict[str, str] = {}
CONTINUATION_CASES["plain_import_after_a_continuation"] = 'f = importlib.import_module \\\n\nimport os\n("torch", importlib)\n'
CONTINUATION_CASES["plain_import_after_a_continued_comment"] = (
    'f = importlib.import_module \\\n# note\nimport os\n("torch", importlib)\n'
)
CONTINUATION_CASES["plain_import_after_a_semicolon_continuation"] = "x = importlib.import_module('m'); \\\nimport os\n"
CONTINUATION_CASES["plain_import_continued_to_a_blank_line"] = "import os; \\\n\nimport sys; \\\n\n"

# A kept statement whose line a backslash continues to a blank line or a comment: kept without
# that line, the next kept statement continued it in the fragment (a phantom import_module call).
CASES["continued_to_a_blank_line"] = 'f = importlib.import_module \\\n\nx = 1\n("torch", importlib)\n'
CASES["continued_to_a_comment"] = 'f = importlib.import_module \\\n# note\nx = 1\n("torch", importlib)\n'
CASES["continued_twice"] = 'f = importlib.import_module \\\n\\\n\nx = 1\n("torch", importlib)\n'
CASES["backslash_in_a_comment"] = 'import importlib  # see \\\nf = 1\nimportlib.import_module("a")\n'
CASES["continued_non_ascii"] = 'é = importlib.import_module \\\n\nx = 1\n("torch", importlib)\n'
