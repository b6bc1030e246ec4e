"""What the words promise: one version everywhere, a README for users, claims that
say what they compare, and documentation that loads nothing from another host.
"""

import ast
import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest

import sklearn_ae
from sklearn_ae import AutoencoderTransformer, VAETransformer

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
CONF = ROOT / "docs" / "conf.py"
BUILT_HTML = ROOT / "docs" / "_build" / "html"

# A token of 7 to 40 hex characters with a letter and a digit: an abbreviated or full
# commit hash (a 7-digit number or a word like "defaced" is not one).
COMMIT = re.compile(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,40}\b")
# A script or stylesheet fetched from another host: "http://", "https://" or "//host".
REMOTE_SCRIPT = re.compile(r"<script\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//", re.I)
REMOTE_STYLESHEET = re.compile(
    r"<link\b(?=[^>]*\brel\s*=\s*[\"']?stylesheet)[^>]*\bhref\s*=\s*[\"']?(?:https?:)?//", re.I
)


def _changelog_versions():
    changelog = (ROOT / "CHANGELOG.md").read_text()
    return re.findall(r"^## \[([^\]]+)\]", changelog, re.M)


def test_one_version_in_the_package_its_metadata_the_cli_and_the_changelog():
    version = sklearn_ae.__version__
    # The metadata of the installed package (`pip install -e .` records it).
    assert importlib.metadata.version("sklearn-ae") == version
    assert _changelog_versions()[0] == version
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_ae", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.strip() == f"sklearn-ae {version}"


def test_readme_is_short_and_names_no_commit():
    assert len(README.splitlines()) <= 250
    assert COMMIT.findall(README) == []


@pytest.mark.parametrize(
    "text, is_hash",
    [("at commit 8c9f43a", True), ("5dcf5cb", True), ("1797 x 64", False), ("defaced", False)],
)
def test_the_commit_pattern(text, is_hash):
    assert bool(COMMIT.search(text)) is is_hash


def _paragraphs_saying_never_worse():
    """(where, paragraph) for each paragraph of the words users read that says "never worse"."""
    texts = {"README.md": README}
    # The documentation's sources, not what the build writes beside them.
    built = {"_build", "generated", "auto_examples"}
    for path in sorted((ROOT / "docs").rglob("*.rst")) + sorted(ROOT.glob("examples/*.py")):
        if not built & set(path.relative_to(ROOT).parts):
            texts[str(path.relative_to(ROOT))] = path.read_text()
    for cls in (AutoencoderTransformer, VAETransformer):
        texts[cls.__name__] = cls.__doc__
    for where, text in texts.items():
        for paragraph in re.split(r"\n\s*\n", text):
            if re.search(r"never\s+worse", paragraph, re.I):
                yield where, " ".join(paragraph.split())


def test_every_never_worse_says_what_it_compares():
    found = list(_paragraphs_saying_never_worse())
    assert {where for where, _ in found} >= {"README.md", "docs/index.rst", "VAETransformer"}
    for where, paragraph in found:
        # A mean, on the rows fit holds out, beyond that split's noise.
        assert "mean" in paragraph, (where, paragraph)
        assert re.search(r"validation|held[- ]out", paragraph), (where, paragraph)
        assert "noise" in paragraph, (where, paragraph)


def test_the_vae_docstring_says_how_it_compares_with_factor_analysis():
    doc = " ".join(VAETransformer.__doc__.split())
    # A lower bound against an exact log-likelihood, and the estimate closer to it.
    assert "lower bound" in doc and "log_likelihood" in doc
    # Factor analysis's near-zero variances on training-constant columns.
    assert "constant in the training rows" in doc and "VarianceThreshold" in doc


def test_sample_points_data_in_0_1_to_the_bernoulli_likelihood():
    doc = " ".join(VAETransformer.sample.__doc__.split())
    assert 'likelihood="bernoulli"' in doc and "[0, 1]" in doc
    example = (ROOT / "examples" / "plot_vae_digits.py").read_text()
    assert 'likelihood="bernoulli"' in example and "outside [0, 1]" in example


def _markdown_section(title):
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.M | re.S)
    assert match, f"no '## {title}' section"
    return match.group(1)


def test_choosing_n_components_prints_as_it_goes_and_states_its_time():
    section = _markdown_section("Choosing n_components")
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    assert "VarianceThreshold()" in code and "FactorAnalysis(" in code
    loop = code[code.index("for d in") :]
    assert "print(" in loop and "flush=True" in loop
    # How long it runs, in the text beside it.
    assert re.search(r"\bran in \d+ s\b", section)


def _assignments(tree):
    """Top-level ``name = <literal>`` assignments of a module, evaluated."""
    values = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                try:
                    values[target.id] = ast.literal_eval(node.value)
                except ValueError:
                    pass
    return values


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple | set):
        for item in value:
            yield from _strings(item)


def test_docs_configuration_names_no_remote_script():
    # Read, not imported: importing conf.py sets thread counts for the whole process.
    config = _assignments(ast.parse(CONF.read_text()))
    extensions = config["extensions"]
    if "sphinx.ext.mathjax" in extensions:
        # MathJax from the built site, not from sphinx's default CDN.
        assert "sphinx-mathjax-offline" in extensions
        assert not re.match(r"(https?:)?//", config["mathjax_path"])
    for name in ("html_js_files", "html_css_files", "mathjax_path", "html_static_path"):
        for value in _strings(config.get(name, [])):
            assert not re.match(r"(https?:)?//", value), (name, value)
    # sphinx-gallery's pages of execution times load jQuery and DataTables from CDNs.
    assert config["sphinx_gallery_conf"]["write_computation_times"] is False
    # Code blocks wrap or scroll.
    assert config["html_css_files"] and (ROOT / "docs" / "_static" / "code.css").is_file()


def test_built_docs_load_no_script_from_another_host():
    pages = sorted(BUILT_HTML.rglob("*.html")) if BUILT_HTML.is_dir() else []
    if not pages:
        pytest.skip("the documentation is not built (make docs)")
    remote = [
        str(page.relative_to(BUILT_HTML))
        for page in pages
        if REMOTE_SCRIPT.search(text := page.read_text(errors="replace"))
        or REMOTE_STYLESHEET.search(text)
    ]
    assert remote == []
    # The formulas' renderer is part of the site.
    assert (BUILT_HTML / "_static" / "mathjax" / "tex-chtml.js").is_file()


@pytest.mark.parametrize(
    "html, remote",
    [
        ('<script src="https://cdn.example.org/x.js"></script>', True),
        ("<script defer src='//cdn.example.org/x.js'></script>", True),
        ('<link rel="stylesheet" href="https://cdn.example.org/x.css" />', True),
        ('<script defer="defer" src="../_static/mathjax/tex-chtml.js"></script>', False),
        ('<a href="https://scikit-learn.org/stable/">scikit-learn</a>', False),
    ],
)
def test_the_remote_patterns(html, remote):
    assert bool(REMOTE_SCRIPT.search(html) or REMOTE_STYLESHEET.search(html)) is remote
