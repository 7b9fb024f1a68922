"""Load pickled numpy data without executing code.

A pickle can name any importable callable (``os.system``, ``builtins.eval``...) and have the loader
call it. :class:`RestrictedUnpickler` resolves only the globals numpy arrays and plain containers
need, and refuses everything else with :class:`UnsafePickleError` before anything is called.

Admitted globals (every pickle protocol, numpy 1.x and 2.x names):
- numpy arrays: ``numpy.ndarray``, ``numpy.dtype``, ``numpy[._]core.multiarray._reconstruct``,
  ``numpy[._]core.multiarray.scalar``, ``numpy[._]core.numeric._frombuffer`` (protocol 5);
- builtins plain containers and literals (dict, list, tuple, set, frozenset, bytes, bytearray, str,
  int, float, complex, bool);
- ``_codecs.encode`` restricted to latin-1, which protocols 0-2 use to store raw bytes.
"""

from __future__ import annotations

import builtins
import codecs
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from fusionlab.errors import DataError, UnsafePickleError

try:  # numpy >= 2
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _multiarray
    from numpy.core import numeric as _numeric


def _latin1_encode(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """The only use of ``_codecs.encode`` in numpy pickles: bytes stored as latin-1 text."""
    if codecs.lookup(encoding).name != "iso8859-1":
        raise UnsafePickleError(f"pickle asked for _codecs.encode with encoding {encoding!r}; "
                                "only latin-1 (raw bytes of protocols 0-2) is admitted")
    return codecs.encode(text, "latin-1", errors)


_NUMPY_GLOBALS = {
    (f"{package}.{module}", name): obj
    for package in ("numpy.core", "numpy._core")  # numpy 1.x and 2.x spellings
    for module, name, obj in (("multiarray", "_reconstruct", _multiarray._reconstruct),
                              ("multiarray", "scalar", _multiarray.scalar),
                              ("numeric", "_frombuffer", _numeric._frombuffer))
}
_NUMPY_GLOBALS.update({("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype})
_BUILTIN_NAMES = {"dict", "list", "tuple", "set", "frozenset", "bytes", "bytearray", "str", "int",
                  "float", "complex", "bool"}
_BUILTIN_MODULES = {"builtins", "__builtin__"}  # the latter in Python 2 pickles


def allowed_global(module: str, name: str) -> Any | None:
    """The object a pickle may reference as ``module.name``, or None when it is not admitted."""
    if (module, name) in _NUMPY_GLOBALS:
        return _NUMPY_GLOBALS[(module, name)]
    if module in _BUILTIN_MODULES and name in _BUILTIN_NAMES:
        return getattr(builtins, name)
    if module == "_codecs" and name == "encode":
        return _latin1_encode
    return None


class RestrictedUnpickler(pickle.Unpickler):
    """A :class:`pickle.Unpickler` that builds only numpy arrays and plain containers.

    ``source`` names the file in error messages. Python 2 pickles load with ``encoding="latin1"``
    (numpy's recommendation), which leaves Python 3 pickles unchanged.
    """

    def __init__(self, file, source: str = "<pickle>"):
        super().__init__(file, encoding="latin1")
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        obj = allowed_global(module, name)
        if obj is None:
            raise UnsafePickleError(
                f"{self.source}: the pickle asks for '{module}.{name}', which is not a numpy array "
                "or a plain container; refusing to load it. Only load pickles from a source you "
                "trust, or re-save the data as plain numpy arrays in dicts.")
        return obj

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self.source}: the pickle uses persistent ids ({pid!r}); "
                                "only plain numpy pickles are admitted")


def safe_load(path: str | Path) -> Any:
    """Unpickle ``path`` with :class:`RestrictedUnpickler`.

    Raises DataError if the file is missing or not a pickle, UnsafePickleError if it asks for a
    global outside the admitted set.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    with open(path, "rb") as f:
        return _load(f, str(path))


def safe_loads(data: bytes, source: str = "<bytes>") -> Any:
    """Unpickle in-memory ``data`` with :class:`RestrictedUnpickler`."""
    return _load(io.BytesIO(data), source)


def _load(f, source: str) -> Any:
    try:
        return RestrictedUnpickler(f, source).load()
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
        raise DataError(f"{source}: not a readable pickle ({type(e).__name__}: {e}); "
                        "re-download the file or check it is the pickle the dataset expects") from e
