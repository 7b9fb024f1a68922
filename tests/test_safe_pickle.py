"""The restricted unpickler loads numpy data and refuses anything that could run code."""

import os
import pickle

import numpy as np
import pytest

from fusionlab.data.safe_pickle import safe_load, safe_loads
from fusionlab.errors import DataError, UnsafePickleError


class _RunsCommand:
    """Unpickling an instance calls os.system(command)."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def _nested_data():
    return {
        "train": {"text": np.arange(24, dtype=np.float32).reshape(2, 3, 4),
                  "labels": np.array([[[0, 1]], [[1, 0]]], dtype=np.int64),
                  "id": np.array(["a-b_c", "d_e-f"], dtype=object)},
        "meta": [np.float32(1.5), (1, 2.0, "x"), {3, 4}, frozenset({5}), b"raw", bytearray(b"ba"),
                 np.array(["u", "vv"]), 2 + 1j, True, None],
    }


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_numpy_and_containers_round_trip(protocol):
    data = _nested_data()
    out = safe_loads(pickle.dumps(data, protocol=protocol))
    np.testing.assert_array_equal(out["train"]["text"], data["train"]["text"])
    assert out["train"]["text"].dtype == np.float32
    np.testing.assert_array_equal(out["train"]["labels"], data["train"]["labels"])
    assert list(out["train"]["id"]) == ["a-b_c", "d_e-f"]
    assert out["meta"][0] == np.float32(1.5) and out["meta"][1:6] == data["meta"][1:6]
    assert list(out["meta"][6]) == ["u", "vv"] and out["meta"][7:] == [2 + 1j, True, None]


@pytest.mark.parametrize("protocol", [0, 2])
def test_numpy1_module_names_load(protocol):
    """Pickles written by numpy 1.x name numpy.core.multiarray instead of numpy._core."""
    data = pickle.dumps({"x": np.arange(6, dtype=np.float32).reshape(2, 3)}, protocol=protocol)
    old = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert old != data
    np.testing.assert_array_equal(safe_loads(old)["x"], np.arange(6).reshape(2, 3))


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_command_pickle_is_refused_and_never_runs(tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    payload = {"train": {"text": np.zeros(3), "x": _RunsCommand(f"touch {marker}")}}
    path.write_bytes(pickle.dumps(payload, protocol=protocol))
    with pytest.raises(UnsafePickleError) as err:
        safe_load(path)
    msg = str(err.value)
    assert f"{os.system.__module__}.system" in msg  # 'posix.system' on Linux
    assert str(path) in msg
    assert not marker.exists()


def test_plain_pickle_would_have_run_the_command(tmp_path):
    """Guards the test above: the payload really is harmful under pickle.loads."""
    marker = tmp_path / "pwned"
    pickle.loads(pickle.dumps(_RunsCommand(f"touch {marker}")))
    assert marker.exists()


@pytest.mark.parametrize("module,name", [("builtins", "eval"), ("builtins", "getattr"),
                                         ("numpy", "load"), ("numpy.lib.npyio", "load"),
                                         ("subprocess", "Popen"), ("__builtin__", "exec")])
def test_dangerous_globals_are_named(module, name):
    data = f"c{module}\n{name}\n(S'1'\ntR.".encode()
    with pytest.raises(UnsafePickleError, match=rf"'{module}\.{name}'"):
        safe_loads(data, source="crafted.pkl")


def test_codecs_encode_only_latin1():
    ok = b"c_codecs\nencode\n(Vab\nVlatin1\ntR."
    assert safe_loads(ok) == b"ab"
    bad = b"c_codecs\nencode\n(Vab\nVrot13\ntR."
    with pytest.raises(UnsafePickleError, match="latin-1"):
        safe_loads(bad)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        safe_load(tmp_path / "absent.pkl")
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"this is not a pickle")
    with pytest.raises(DataError, match="bad.pkl: not a readable pickle"):
        safe_load(bad)
