"""The compile cache: keyed on every compiled module, and it tells whether a first run must compile."""

from __future__ import annotations

import numba

from socbal import _jit_cache


def test_is_compiled_looks_for_the_function_in_this_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path))
    assert not _jit_cache.is_compiled("kernel.advance")
    (tmp_path / "sim_abc").mkdir()
    (tmp_path / "sim_abc" / "kernel.advance-120.py311.nbi").write_bytes(b"")
    assert _jit_cache.is_compiled("kernel.advance")
    assert not _jit_cache.is_compiled("kernel.allocate_into")


def test_the_cache_key_changes_with_every_module_compiled_through_socbal_jit(tmp_path, monkeypatch):
    monkeypatch.setattr(_jit_cache, "PACKAGE_DIR", tmp_path)
    (tmp_path / "device").mkdir()
    helper = tmp_path / "device" / "physics.py"
    helper.write_text("from socbal.jit import inline_kernel\n")  # never names numba itself
    (tmp_path / "cli.py").write_text("import typer\n")
    before = _jit_cache.sources_digest()
    (tmp_path / "cli.py").write_text("import typer  # edited\n")
    assert _jit_cache.sources_digest() == before  # code that is not compiled does not invalidate the cache
    helper.write_text("from socbal.jit import inline_kernel  # edited\n")
    assert _jit_cache.sources_digest() != before
