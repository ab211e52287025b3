"""Dataset readers: locating the shared data and the London benchmark pairing."""
from __future__ import annotations

import pytest

from facexpr.datasets import data_root
from facexpr.datasets import london as ldn

from _support import DEFAULT_DATA, missing_data


def test_data_root_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv("FACEXPR_DATA", str(tmp_path))
    assert data_root() == tmp_path


def test_data_root_default_is_beside_the_repo(monkeypatch):
    if not DEFAULT_DATA.is_dir():
        missing_data(f"shared data folder {DEFAULT_DATA}")
    monkeypatch.delenv("FACEXPR_DATA", raising=False)
    assert data_root().resolve() == DEFAULT_DATA.resolve()


def test_london_people(london):
    people = ldn.people(london)
    assert len(people) == 102
    assert [p.id for p in people] == sorted(p.id for p in people)
    for p in people[:3]:
        assert p.neutral.name == f"{p.id}_03.jpg" and p.smiling.name == f"{p.id}_08.jpg"
        assert p.neutral.is_file() and p.smiling.is_file()
    assert [p.id for p in ldn.people(london.parent)] == [p.id for p in people]  # data root works too


def test_london_split_sizes(london):
    train, unseen = ldn.split(london, "train"), ldn.split(london, "unseen")
    assert len(train) == ldn.TRAIN_COUNT and len(train) + len(unseen) == len(ldn.split(london, "all"))
    assert not {p.id for p in train} & {p.id for p in unseen}
    with pytest.raises(ValueError):
        ldn.split(london, "test")


def test_benchmark_pairs(london):
    people = ldn.people(london)
    pairs = ldn.benchmark_pairs(london)
    assert len(pairs) == len(people) == 102
    for k in (0, 64, 101):
        pr, src = pairs[k], people[(k + ldn.SOURCE_SHIFT) % 102]
        assert pr.id == people[k].id
        assert pr.target == people[k].neutral and pr.gt == people[k].smiling
        assert pr.source == src.smiling and pr.source_neutral == src.neutral
        assert pr.source != pr.gt  # always another person
        assert pr.unseen == (k >= ldn.TRAIN_COUNT)


def test_people_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError):
        ldn.people(tmp_path)
