"""worker.text.langcache: the model's tables kept in the cache folder, checked when read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson
import pytest

from worker.text import langcache, langmodel, language

SENTENCES = [
    "Die Regierung hat heute ein neues Gesetz beschlossen.",
    "Le gouvernement a présenté hier son projet de loi de finances.",
    "Премьер-министр заявил о новых мерах поддержки экономики.",
    "The minister opened the new railway line today.",
]


def built() -> langmodel.Model:
    model = langmodel.scorer(language.identifier())
    assert isinstance(model, langmodel.Model)
    return model


def test_the_first_load_writes_the_tables_and_the_next_reads_them(tmp_path: Path) -> None:
    calls: list[int] = []

    def build() -> langmodel.Model:
        calls.append(1)
        return built()

    first = langcache.cached(tmp_path, language.LANGUAGES, build)
    (folder,) = tmp_path.iterdir()
    assert folder.name == f"langmodel-{langcache.key(language.LANGUAGES)}"
    second = langcache.cached(tmp_path, language.LANGUAGES, build)
    assert calls == [1]  # read back, not built again
    assert isinstance(second, langmodel.Model)
    assert second.classify_many(SENTENCES) == first.classify_many(SENTENCES)
    for (code, confidence), (expected, probability) in zip(
        second.classify_many(SENTENCES),
        map(language.identifier().classify, SENTENCES),
        strict=True,
    ):
        assert code == expected
        assert abs(confidence - float(probability)) < 1e-5
    assert not list(tmp_path.glob(".langmodel-*"))  # no work folder left behind


def test_another_language_list_is_another_folder() -> None:
    assert langcache.key(language.LANGUAGES) != langcache.key(language.LANGUAGES[:-1])
    assert langcache.key(language.LANGUAGES) == langcache.key(list(language.LANGUAGES))


def damage_nextmove(folder: Path) -> None:
    table = np.load(folder / "nextmove.npy")
    table[1000] = 2**31  # a transition to a state that does not exist
    np.save(folder / "nextmove.npy", table)


def damage_truncate(folder: Path) -> None:
    data = (folder / "ptc.npy").read_bytes()
    (folder / "ptc.npy").write_bytes(data[: len(data) // 2])


def damage_check(folder: Path) -> None:
    meta = orjson.loads((folder / "meta.json").read_bytes())
    meta["check"] = ["fr", 0.5]
    (folder / "meta.json").write_bytes(orjson.dumps(meta))


def damage_scores(folder: Path) -> None:
    table = np.load(folder / "ptc.npy")
    np.save(folder / "ptc.npy", table[:, ::-1].copy())  # the languages' columns swapped


def damage_meta(folder: Path) -> None:
    (folder / "meta.json").write_text("{not json")


def damage_dtype(folder: Path) -> None:
    np.save(folder / "depth.npy", np.load(folder / "depth.npy").astype(np.float64))


def damage_pickle(folder: Path) -> None:
    np.save(folder / "pc.npy", np.array([object()]), allow_pickle=True)


@pytest.mark.parametrize(
    "damage",
    [
        damage_nextmove,
        damage_truncate,
        damage_check,
        damage_scores,
        damage_meta,
        damage_dtype,
        damage_pickle,
    ],
)
def test_a_damaged_folder_is_not_used_and_is_rebuilt(
    tmp_path: Path, damage: Callable[[Path], None]
) -> None:
    langcache.cached(tmp_path, language.LANGUAGES, built)
    folder = tmp_path / f"langmodel-{langcache.key(language.LANGUAGES)}"
    damage(folder)
    assert langcache.load(folder) is None
    calls: list[int] = []

    def build() -> langmodel.Model:
        calls.append(1)
        return built()

    model = langcache.cached(tmp_path, language.LANGUAGES, build)
    assert calls == [1]
    assert model.classify_many(SENTENCES) == built().classify_many(SENTENCES)


def test_a_cache_folder_that_cannot_be_written_changes_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    model = langcache.cached(blocker / "cache", language.LANGUAGES, built)
    assert isinstance(model, langmodel.Model)
    assert model.classify(SENTENCES[0])[0] == "de"


def test_py3langids_own_walk_is_not_cached(tmp_path: Path) -> None:
    walker = langmodel.Walker(language.identifier())
    assert langcache.cached(tmp_path, language.LANGUAGES, lambda: walker) is walker
    assert not list(tmp_path.iterdir())


def test_the_detector_uses_the_users_cache_folder() -> None:
    # The suite's HOME is its own (tests/conftest.py): the folder is under it.
    import os

    from worker.core.configfiles import user_cache_dir

    language.model()
    root = user_cache_dir(os.environ)
    assert Path(os.environ["HOME"]) in root.parents
    assert (root / f"langmodel-{langcache.key(language.LANGUAGES)}" / "meta.json").is_file()


def test_a_process_without_a_home_folder_still_detects(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory")

    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    language.model.cache_clear()
    try:
        model = language.model()
        assert model.classify_many(SENTENCES[:1])[0][0] == "de"
    finally:
        language.model.cache_clear()
