"""The command line's help is generated from the AU and emotion tables, and says exactly what they
hold: every AU of :data:`facexpr.expression.action_units.AUS` with its FACS name, and every emotion of
:data:`facexpr.expression.emotions.EMOTIONS` (a table that grows shows up in ``--help``)."""
from __future__ import annotations

import re

from typer.testing import CliRunner

from facexpr.cli import app
from facexpr.expression.action_units import AU_NAMES, AUS
from facexpr.expression.emotions import EMOTIONS, SIDED


def _help(*argv: str) -> str:
    """``facexpr ARGV --help`` as plain text, box drawing and line wrapping removed."""
    res = CliRunner().invoke(app, [*argv, "--help"], env={"COLUMNS": "400", "NO_COLOR": "1", "TERM": "dumb"})
    assert res.exit_code == 0, res.output
    text = re.sub(r"[│╭╮╰╯─]", " ", res.output)
    return re.sub(r"\s+", " ", text)


def test_edit_help_lists_every_au_of_the_table_with_its_name():
    text = _help("edit")
    listed = re.search(r"AUs \(intensities 0-1\): (.*?)\. One side only", text)
    assert listed, text
    pairs = dict((int(n), name.strip()) for n, name in re.findall(r"(\d+) ([a-z ]+?)(?:,|$)", listed.group(1)))
    assert pairs == {au: AU_NAMES[au] for au in AUS}
    assert len(pairs) == len(AUS) == 22
    sided = re.search(r"sided: ([\d ]+)\)", text).group(1).split()
    assert sorted(map(int, sided)) == sorted(SIDED)


def test_edit_help_lists_every_emotion_of_the_table():
    text = _help("edit")
    listed = re.search(r"Emotions: ([a-z ]+)\.", text)
    assert listed, text
    assert listed.group(1).split() == list(EMOTIONS)
    assert "contempt" in listed.group(1)


def test_top_level_help_lists_the_commands():
    text = _help()
    for command in ("transfer", "edit", "analyze", "animate", "web", "sample", "fetch-models", "research",
                    "evaluate", "train"):
        assert f" {command} " in text, command
    assert " build-prior " not in text  # a hidden alias of `facexpr research build-prior`
    research = _help("research")
    for command in ("build-prior", "fit-expression", "fit-fusion"):
        assert f" {command} " in research, command


def test_old_research_names_still_work_as_aliases():
    for alias in ("build-prior", "fit-expression"):
        assert "Alias of `facexpr research" in _help(alias) or "--out" in _help(alias)
        assert _help(alias).split("Options")[1] == _help("research", alias).split("Options")[1]
