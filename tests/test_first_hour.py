"""What a new user meets in their first hour: the install lines, the quick start, the
version, and a ``make demo`` that installs the demo's needs only.

The README and the documentation's front page are read as text; their quick starts are one
text, run here with every warning an error.
"""

import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import sklearn_ae

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
INDEX = (ROOT / "docs" / "index.rst").read_text()


def _markdown_section(text, title):
    """The body of the ``## title`` section of a markdown file."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"no '## {title}' section"
    return match.group(1)


def _rst_section(text, title):
    """The body of the ``title`` section (underlined with '=') of an rst file."""
    match = re.search(rf"^{re.escape(title)}\n=+\n(.*?)(?=^[^\n]+\n=+\n|\Z)", text, re.M | re.S)
    assert match, f"no '{title}' section"
    return match.group(1)


def _readme_quick_start():
    blocks = re.findall(r"```python\n(.*?)```", _markdown_section(README, "Quick start"), re.S)
    assert len(blocks) == 1
    return blocks[0]


def _docs_quick_start():
    section = _rst_section(INDEX, "Quick start")
    match = re.search(r"\.\. code-block:: python\n\n((?:   .*\n|\n)+)", section)
    assert match
    return textwrap.dedent(match.group(1)).strip("\n") + "\n"


def test_quick_starts_are_one_text():
    assert _docs_quick_start() == _readme_quick_start()


def _readme_quick_start_output():
    """The output the README shows below its quick start."""
    blocks = re.findall(r"```text\n(.*?)```", _markdown_section(README, "Quick start"), re.S)
    assert len(blocks) == 1
    return blocks[0].splitlines()


def _label_and_number(line):
    label, _, rest = line.partition(":")
    number = re.match(r"\s*(-?\d+\.\d+)", rest)
    return label, float(number.group(1)) if number else rest.strip()


def test_quick_start_run_as_a_script_prints_what_the_readme_shows(tmp_path):
    # Run as a user runs it: a file, a fresh interpreter, every warning an error.
    script = tmp_path / "quick_start.py"
    script.write_text(_readme_quick_start())
    result = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    printed = result.stdout.splitlines()
    shown = _readme_quick_start_output()
    assert [_label_and_number(line)[0] for line in printed] == [
        _label_and_number(line)[0] for line in shown
    ]
    for line, expected in zip(printed, shown):
        label, value = _label_and_number(line)
        _, shown_value = _label_and_number(expected)
        if isinstance(shown_value, float):
            # Accuracy within 0.02, nats within 1: the README's figures hold
            # across platforms' rounding, not to the last digit.
            tolerance = 0.02 if label.startswith("accuracy") else 1.0
            assert abs(value - shown_value) <= tolerance, (line, expected)
        else:
            assert value == shown_value, (line, expected)
    label, accuracy = _label_and_number(printed[0])
    assert accuracy > 0.8


def test_readme_is_for_users_first():
    titles = re.findall(r"^## (.*)$", README, re.M)
    user_path = [
        "Install",
        "Quick start",
        "Choosing n_components",
        "Progress",
        "Saving",
        "GPU",
        "Threads",
    ]
    assert [t for t in titles if t in user_path] == user_path
    # Before any measurement.
    assert titles.index("Threads") < titles.index("What it achieves")
    assert "Speed" in titles
    # The two commands stay near the top.
    head = "\n".join(README.splitlines()[:40])
    assert "make demo" in head and "make test" in head


def _extras():
    tomllib = pytest.importorskip("tomllib")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return pyproject["project"]["optional-dependencies"]


@pytest.mark.parametrize(
    "name, install",
    [("README", lambda: _markdown_section(README, "Install")), ("docs", lambda: INDEX)],
)
def test_install_from_a_clone_with_every_extra(name, install):
    text = install()
    assert "pip install ." in text
    # The package is not on PyPI: no install line may name it there.
    assert not re.search(r"pip install [\"']?sklearn-ae\b", text), name
    # The CPU-only wheel, the way PyTorch documents it, before the package.
    cpu = "pip install torch --index-url https://download.pytorch.org/whl/cpu"
    assert cpu in text
    assert text.index(cpu) < text.index("pip install .\n", text.index(cpu))
    for extra in _extras():
        assert f"`{extra}`" in text, f"{name} does not document the {extra!r} extra"


def test_one_version():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    # pyproject.toml reads the version from the package: one place to change.
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    attr = project["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "sklearn_ae._version.__version__"
    assert sklearn_ae.__version__ == "0.3.0.dev0"


def test_changelog_names_every_version_newest_first():
    changelog = (ROOT / "CHANGELOG.md").read_text()
    # A released version has its date; the version in development says so.
    versions = re.findall(
        r"^## \[(\d+\.\d+\.\d+(?:\.dev\d+)?)\] - (?:\d{4}-\d{2}-\d{2}|unreleased)$",
        changelog,
        re.M,
    )
    assert versions[0] == sklearn_ae.__version__
    assert versions == ["0.3.0.dev0", "0.2.0", "0.1.0"]
    assert len(re.findall(r"^## ", changelog, re.M)) == len(versions)
    for version in versions:
        section = changelog.split(f"## [{version}]")[1].split("\n## ")[0]
        assert "### " in section
    # The documentation includes it rather than keeping a copy.
    assert ".. include:: ../CHANGELOG.md" in (ROOT / "docs" / "changelog.rst").read_text()


def _dry_run(target, venv):
    """The commands ``make TARGET`` would run with ``.venv`` at ``venv``."""
    result = subprocess.run(
        ["make", "-n", "-C", str(ROOT), target, f"VENV={venv}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_demo_installs_the_demo_needs_only(tmp_path):
    venv = tmp_path / "venv"
    demo = _dry_run("demo", venv)
    installs = [line for line in demo.splitlines() if "pip install" in line]
    assert len(installs) == 1
    # The package (numpy, scikit-learn, torch, tqdm, safetensors) and matplotlib, with
    # torch pinned so that pip takes the CPU wheel rather than a CUDA build.
    assert "'.[plot]'" in installs[0] and "'torch==2.13.0'" in installs[0]
    assert "dev" not in installs[0] and "docs" not in installs[0]
    assert "-m sklearn_ae" in demo


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize("target", ["test", "docs"])
def test_make_test_installs_the_dev_stack_after_the_demo(tmp_path, target):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    # The demo ran first: its stamp, newer than pyproject.toml, does not stand in
    # for the development stack.
    (venv / ".demo-installed").touch()
    commands = _dry_run(target, venv)
    assert "pip install --quiet -e '.[dev]'" in commands
    (venv / ".dev-installed").touch()
    assert "pip install" not in _dry_run(target, venv)


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_the_dev_stack_covers_the_demo(tmp_path):
    venv = tmp_path / "venv"
    commands = _dry_run("test", venv)
    assert f"touch {venv}/.dev-installed {venv}/.demo-installed" in commands
