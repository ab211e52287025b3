"""The ``shared_data`` and ``london`` fixtures (and ``missing_data``) now live in tests/conftest.py,
shared by every test folder."""
