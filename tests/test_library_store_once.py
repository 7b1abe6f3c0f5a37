"""Features stored once (issue 18): `vtg index DIR --library` keeps each video's features in the
library's shards only, and the feature-cache entry it computed through refers to them.

What is checked, by counting bytes and decodes (never time): the `.npy` bytes of the cache plus
those of the library stay within 1.3x of the larger; `vtg ground` on an indexed video decodes
nothing; compaction moves the entries' references with the rows; a library deleted since is a
cache miss that is recomputed, not an error; the scan reads the same numbers as a fresh exact
computation; a schema-1 manifest gains the column it needs.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

import vtg
import vtg.pipeline
from vtg.cli.main import main
from vtg.encoders import load_encoder
from vtg.encoders.testing import tiny_hf_clip
from vtg.features import compute_features, features_dir
from vtg.library import open_library
from vtg.library.manifest import Manifest
from vtg.library.scan import scan

from test_library import folder, green_png, scenes_video  # noqa: F401  (folder: the same three clips, a fixture)


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    return tiny_hf_clip(tmp_path_factory.mktemp("store-once-clip"))


@pytest.fixture
def decodes(monkeypatch):
    """Every decode-and-encode pass of the feature pipeline, by video name."""
    seen: list[str] = []
    real = vtg.pipeline.encoded_batches

    def counted(path, *args, **kwargs):
        seen.append(Path(path).name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(vtg.pipeline, "encoded_batches", counted)
    return seen


def npy_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*.npy"))


def index_cli(folder: Path, lib: Path, clip_dir: Path, *extra: str) -> None:
    assert main(["index", str(folder), "--library", str(lib), "--encoder", str(clip_dir), "--device", "cpu",
                 *extra]) == 0


def test_index_stores_features_once_and_ground_reads_them(folder, clip_dir, tmp_path, decodes, capsys):
    lib = tmp_path / "lib"
    index_cli(folder, lib, clip_dir)
    assert sorted(decodes) == ["blue.mp4", "grey.mp4", "three.mp4"]
    cache, library = npy_bytes(features_dir()), npy_bytes(lib)
    assert library > 0 and cache + library <= 1.3 * max(cache, library)
    sidecars = [json.loads(p.read_text()) for p in features_dir().glob("*.json")]
    assert len(sidecars) == 3 and all("stored" in s for s in sidecars)    # every entry refers to a shard
    with open_library(lib) as opened:
        names = {s.name for s in opened.manifest.shards()}
        assert {Path(s["stored"]["features"]).name.split(".")[0] for s in sidecars} <= names
        assert all(v.feature_entry is not None for v in opened.videos())
    capsys.readouterr()
    assert main(["models"]) == 0
    assert "(3 entries, 0.0 MB, 3 stored in libraries)" in capsys.readouterr().out

    decodes.clear()
    png = green_png(tmp_path)
    ground = vtg.ground(folder / "three.mp4", image=png, encoder=str(clip_dir), device="cpu")
    assert ground.meta["features_cached"] is True and decodes == []         # read from the shard
    assert ground.moments[0].start <= 4.5 and ground.moments[0].end >= 7.5
    assert main(["ground", str(folder / "sub" / "blue.mp4"), "--image", str(png), "--encoder", str(clip_dir),
                 "--device", "cpu", "--json"]) == 0
    assert decodes == [] and "internal error" not in capsys.readouterr().err


def test_compaction_moves_the_references_and_the_scan_stays_exact(folder, clip_dir, tmp_path, decodes):
    lib = tmp_path / "lib"
    index_cli(folder, lib, clip_dir)
    (folder / "sub" / "grey.mp4").unlink()                      # the first shard is left mostly dead:
    scenes_video(folder / "three.mp4", [((30, 200, 30), 3.0, 2), ((200, 30, 30), 3.0, 1)])  # rewritten
    decodes.clear()
    index_cli(folder, lib, clip_dir)
    assert decodes == ["three.mp4"]
    with open_library(lib) as opened:
        view = opened.view()
        live = {s.name for s in view.shards}
        blue = next(v for v in view.videos if v.path.name == "blue.mp4")
        sidecar = json.loads(Path(f"{blue.feature_entry}.json").read_text())
        assert Path(sidecar["stored"]["features"]).name.split(".")[0] in live   # moved with its rows
        assert not Path(f"{blue.feature_entry}.npy").exists()
        # the scan reads exactly what a fresh computation gives (to float16 storage)
        encoder = load_encoder(str(clip_dir), device="cpu")
        query = encoder.encode_texts("a green scene")[0]
        best, _ = scan(view, lambda block: np.asarray(block, np.float32) @ query.astype(np.float32))
        for v in view.videos:
            fresh = compute_features(v.path, encoder, v.fps).features.astype(np.float16)
            np.testing.assert_array_equal(view.video_features(v), fresh)
            assert best[v.id] == pytest.approx(float((fresh.astype(np.float32) @ query).max()), abs=1e-6)
    decodes.clear()
    hit = vtg.ground(folder / "sub" / "blue.mp4", "a green scene", encoder=str(clip_dir), device="cpu")
    assert hit.meta["features_cached"] is True and decodes == []


def test_a_deleted_library_is_a_cache_miss_that_is_recomputed(folder, clip_dir, tmp_path, decodes, caplog):
    lib = tmp_path / "lib"
    index_cli(folder, lib, clip_dir)
    shutil.rmtree(lib)
    decodes.clear()
    again = vtg.ground(folder / "sub" / "grey.mp4", "grey", encoder=str(clip_dir), device="cpu")
    assert decodes == ["grey.mp4"] and again.meta["features_cached"] is False
    decodes.clear()
    third = vtg.ground(folder / "sub" / "grey.mp4", "grey", encoder=str(clip_dir), device="cpu")
    assert decodes == [] and third.meta["features_cached"] is True   # the entry holds its own copy again


def test_a_schema_1_manifest_gains_the_feature_entry_column(tmp_path):
    path = tmp_path / "manifest.sqlite"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE shards (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, rows INTEGER NOT NULL,
                             shape TEXT NOT NULL, bytes INTEGER NOT NULL);
        CREATE TABLE videos (id INTEGER PRIMARY KEY, path BLOB UNIQUE NOT NULL, size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL, content_key TEXT, duration REAL, encoder TEXT, fps REAL,
            status TEXT NOT NULL, error TEXT, shard INTEGER, row_start INTEGER, frames INTEGER,
            indexed_at TEXT NOT NULL);
        INSERT INTO settings VALUES ('schema', '1');
        INSERT INTO videos (path, size, mtime_ns, status, error, indexed_at)
            VALUES (X'2f612e6d7034', 1, 2, 'error', 'bad', 'now');
    """)
    db.commit()
    db.close()
    manifest = Manifest(path)
    assert manifest.setting("schema") == "2"
    (row,) = manifest.videos()
    assert row.path == Path("/a.mp4") and row.feature_entry is None and row.error == "bad"
    manifest.close()
    assert Manifest(path).setting("schema") == "2"                  # opened again: nothing to do


def test_a_read_only_cache_keeps_its_copy_and_the_index_still_succeeds(folder, clip_dir, tmp_path, monkeypatch):
    import vtg.feature_store

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(vtg.feature_store, "atomic_write_text", refuse)
    lib = tmp_path / "lib"
    index_cli(folder, lib, clip_dir)
    sidecars = [json.loads(p.read_text()) for p in features_dir().glob("*.json")]
    assert len(sidecars) == 3 and not any("stored" in s for s in sidecars)
    assert npy_bytes(features_dir()) > 0                             # the entries keep their arrays
    assert os.listdir(lib / "shards")


def test_killed_while_linking_the_library_and_the_cache_stay_whole(folder, clip_dir, tmp_path, monkeypatch, decodes):
    """A run killed after a shard is registered but while its entries are being rewritten (here:
    after the first sidecar, before its arrays are deleted): every video is searchable, every entry
    still loads without decoding (linked, or with its own copy), and a rerun has nothing to do."""
    import vtg.feature_store

    real_unlink = Path.unlink

    def killed(self, *args, **kwargs):
        if self.suffix == ".npy" and self.parent == features_dir():
            raise KeyboardInterrupt
        return real_unlink(self, *args, **kwargs)

    monkeypatch.setattr(Path, "unlink", killed)
    with pytest.raises(KeyboardInterrupt):
        with open_library(tmp_path / "lib", create=True) as lib:
            lib.index([folder], method="tfvtg", encoder=str(clip_dir), device="cpu")
    monkeypatch.setattr(Path, "unlink", real_unlink)
    sidecars = [json.loads(p.read_text()) for p in features_dir().glob("*.json")]
    assert sum("stored" in s for s in sidecars) == 1                 # one rewritten, two not yet
    with open_library(tmp_path / "lib") as lib:
        assert sorted(v.path.name for v in lib.videos() if v.status == "ok") == ["blue.mp4", "grey.mp4", "three.mp4"]
    decodes.clear()
    for name in ("three.mp4", "sub/blue.mp4", "sub/grey.mp4"):
        assert vtg.ground(folder / name, "red", encoder=str(clip_dir), device="cpu").meta["features_cached"] is True
    with open_library(tmp_path / "lib") as lib:
        again = lib.index([folder], method="tfvtg", encoder=str(clip_dir), device="cpu")
    assert again.unchanged == 3 and decodes == []
