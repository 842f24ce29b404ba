"""Shared pytest setup: the ``slow`` marker.

Tests marked ``slow`` (the largest adversarial inputs) are left out of the default
run; ``pytest --slow`` runs them too, ``pytest --slow -m slow`` only them.
"""

import pytest


def pytest_addoption(parser):
    parser.addoption(
        "--slow", action="store_true", help="also run the tests marked slow"
    )


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: largest adversarial inputs; run with --slow"
    )


def pytest_collection_modifyitems(config, items):
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
