"""Tests for the start-up hook, each in a fresh interpreter of this environment."""

import json
import os
import site
import subprocess
import sys
import sysconfig

import pytest

from plaso_smtp import startup


def _RunPython(code, disable=False):
    """Runs code in a new interpreter and returns what it printed, parsed as JSON."""
    environment = dict(os.environ)
    environment.pop(startup.DISABLE_VARIABLE, None)
    if disable:
        environment[startup.DISABLE_VARIABLE] = "1"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        check=True,
        env=environment,
        text=True,
        timeout=300,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def testPthFileIsInstalled():
    """pip install (normal or -e) put the hook at the top of site-packages."""
    purelib = sysconfig.get_paths()["purelib"]
    path = os.path.join(purelib, "plaso_smtp_startup.pth")
    assert os.path.isfile(path), "reinstall the project: pip install -e ."
    with open(path, encoding="utf-8") as file_object:
        line = file_object.read().strip()
    assert line.startswith("import ")
    assert startup.DISABLE_VARIABLE in line
    assert purelib in site.getsitepackages() or purelib == site.getusersitepackages()


def testStartupDoesNotImportPlaso():
    state = _RunPython(
        "import json, sys; print(json.dumps(["
        "[type(finder).__name__ for finder in sys.meta_path][:1],"
        "'plaso' in sys.modules, 'plaso_smtp.startup' in sys.modules]))"
    )
    assert state == [["PostImportFinder"], False, True]


def testDisabledStartupDoesNothing():
    state = _RunPython(
        "import json, sys; print(json.dumps(["
        "'PostImportFinder' in [type(f).__name__ for f in sys.meta_path],"
        "'plaso_smtp' in sys.modules]))",
        disable=True,
    )
    assert state == [False, False]


REGISTRATION_CODE = """
import json
from plaso.parsers import manager
parsers = manager.ParsersManager.GetParserObjects("pcap")
plugins = sorted(parsers["pcap"]._plugins_per_name) if "pcap" in parsers else []
print(json.dumps([sorted(parsers), plugins, len(manager.ParsersManager._parser_classes)]))
"""


def testImportingPlasoRegistersParser():
    registered = _RunPython(REGISTRATION_CODE)
    disabled = _RunPython(REGISTRATION_CODE, disable=True)

    assert registered[:2] == [["pcap"], ["smtp"]]
    assert disabled[:2] == [[], []]
    # The stock parsers are all still there: ours is one more.
    assert registered[2] == disabled[2] + 1


PRESETS_CODE = """
import json, os
import plaso
from plaso.filters import parser_filter
from plaso.parsers import presets
manager = presets.ParserPresetsManager()
manager.ReadFromFile(os.path.join(os.path.dirname(plaso.__file__), "data", "presets.yaml"))
with_pcap = sorted(
    name for name in manager.GetNames() if "pcap" in manager.GetParsersByPreset(name))
operating_system_presets = sorted(
    name for name in manager.GetNames()
    if manager.GetPresetByName(name).operating_systems)
expanded = parser_filter.ParserFilterExpressionHelper().ExpandPresets(manager, "linux")
print(json.dumps([with_pcap, operating_system_presets, "pcap" in expanded.split(",")]))
"""


def testOperatingSystemPresetsIncludeParser():
    with_pcap, operating_system_presets, in_expanded_linux = _RunPython(PRESETS_CODE)
    assert with_pcap == operating_system_presets
    assert {"linux", "macos", "win7"} <= set(with_pcap)
    assert in_expanded_linux is True

    with_pcap, _, in_expanded_linux = _RunPython(PRESETS_CODE, disable=True)
    assert (with_pcap, in_expanded_linux) == ([], False)


def testInstallIsIdempotent():
    """A second Install adds no second finder and wraps nothing twice."""
    state = _RunPython(
        "import json, sys\n"
        "from plaso_smtp import startup\n"
        "from plaso.output import mediator\n"
        "first = mediator.OutputMediator.ReadMessageFormattersFromFile\n"
        "startup.Install(); startup.Install()\n"
        "print(json.dumps([sum(type(f).__name__ == 'PostImportFinder'"
        " for f in sys.meta_path),"
        " mediator.OutputMediator.ReadMessageFormattersFromFile is first]))"
    )
    assert state == [1, True]


@pytest.mark.parametrize(
    "module_name", ["plaso.parsers.presets", "plaso.output.mediator"]
)
def testHookedModulesKeepTheirLoader(module_name):
    """The hook leaves no wrapper behind in the module's spec."""
    state = _RunPython(
        "import importlib, json\n"
        f"module = importlib.import_module({module_name!r})\n"
        "print(json.dumps([type(module.__loader__).__name__,"
        " type(module.__spec__.loader).__name__]))"
    )
    assert state == ["SourceFileLoader", "SourceFileLoader"]
