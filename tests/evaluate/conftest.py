"""The ``shared_data`` and ``london`` fixtures (and ``missing_data``) live in tests/conftest.py,
shared by every test folder; the evaluation tests share ``app`` (the evaluate command)."""
import pytest


@pytest.fixture(scope="module")
def app():
    """``facexpr evaluate`` as a typer app for CliRunner."""
    import typer

    from facexpr.evaluate.cli import evaluate

    a = typer.Typer()
    a.command("evaluate")(evaluate)
    a.command("methods")(lambda: None)  # a second command: typer keeps "evaluate" as a sub-command
    return a
