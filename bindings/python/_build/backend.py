"""A PEP 517 build backend in the standard library alone.

The tokq package is a few pure-Python files; building its wheel needs no
setuptools, so `pip install ./bindings/python` works on a machine that
cannot reach PyPI.  The name, version and Python floor are read from
pyproject.toml's [project] table (tomllib where there is one, else the few
lines we write there).
"""

import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "tokq"


def _project():
    with open(os.path.join(HERE, "pyproject.toml"), encoding="utf-8") as f:
        text = f.read()
    try:
        import tomllib
        return tomllib.loads(text)["project"]
    except ImportError:                 # Python < 3.11: our own simple lines
        section = text.split("[project]", 1)[1]
        return dict(re.findall(r'^(\w[\w-]*)\s*=\s*"([^"]*)"', section, re.M))


def _metadata():
    p = _project()
    lines = ["Metadata-Version: 2.1", f"Name: {p['name']}", f"Version: {p['version']}",
             f"Summary: {p.get('description', '')}",
             f"Requires-Python: {p.get('requires-python', '>=3.9')}"]
    readme = os.path.join(HERE, "README.md")
    body = ""
    if os.path.exists(readme):
        lines.append("Description-Content-Type: text/markdown")
        with open(readme, encoding="utf-8") as f:
            body = "\n" + f.read()
    return p["name"], p["version"], "\n".join(lines) + "\n" + body


def _sources():
    root = os.path.join(HERE, PACKAGE)
    for name in sorted(os.listdir(root)):
        if name.endswith(".py") or name == "py.typed":
            yield f"{PACKAGE}/{name}", os.path.join(root, name)


def _record_line(arcname, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"{arcname},sha256={digest.decode()},{len(data)}"


def _wheel(wheel_directory, editable=False):
    name, version, metadata = _metadata()
    dist = f"{name}-{version}"
    wheel_name = f"{dist}-py3-none-any.whl"
    files = []
    if editable:                        # a .pth file that points at the tree
        files.append((f"{name}.pth", (HERE + "\n").encode()))
    else:
        for arcname, path in _sources():
            with open(path, "rb") as f:
                files.append((arcname, f.read()))
    info = f"{dist}.dist-info"
    files.append((f"{info}/METADATA", metadata.encode()))
    files.append((f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: tokq-backend\n"
                  b"Root-Is-Purelib: true\nTag: py3-none-any\n"))
    record = [_record_line(a, d) for a, d in files] + [f"{info}/RECORD,,"]
    files.append((f"{info}/RECORD", ("\n".join(record) + "\n").encode()))
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel_name), "w",
                         zipfile.ZIP_DEFLATED) as z:
        for arcname, data in files:
            z.writestr(arcname, data)
    return wheel_name


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _wheel(wheel_directory)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    return _wheel(wheel_directory, editable=True)


def build_sdist(sdist_directory, config_settings=None):
    name, version, metadata = _metadata()
    base = f"{name}-{version}"
    out = os.path.join(sdist_directory, f"{base}.tar.gz")
    with tarfile.open(out, "w:gz") as tar:
        for rel in ["pyproject.toml", "README.md", "_build/backend.py"] + \
                [a for a, _ in _sources()]:
            path = os.path.join(HERE, rel)
            if os.path.exists(path):
                tar.add(path, arcname=f"{base}/{rel}")
        data = metadata.encode()
        ti = tarfile.TarInfo(f"{base}/PKG-INFO")
        ti.size = len(data)
        tar.addfile(ti, io.BytesIO(data))
    return os.path.basename(out)
