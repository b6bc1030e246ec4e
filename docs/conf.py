"""Sphinx configuration of the sklearn-ae documentation.

Build with ``make docs`` (``python -m sphinx -W --keep-going -b html docs
docs/_build/html``; ``pip install "sklearn-ae[docs]"``). Warnings are errors.
The build runs every ``examples/plot_*.py`` for the gallery and needs no
network, and the site it builds loads nothing from another host: MathJax is
copied into it (sphinx-mathjax-offline), no intersphinx inventories are
fetched and sphinx-gallery downloads nothing. Add ``-D plot_gallery=0`` to
skip running the examples.
"""

import json
import os
import re
import sys

# The build machines have 2 CPU cores shared with other jobs, and the examples
# fit small networks: competing thread pools made such fits up to 30x slower
# (see the README), so torch and BLAS get one thread each. The variables must
# be set before torch, numpy and scipy are first imported; torch, imported
# here first, also gets the limit directly.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
# The examples run headless while the gallery is built.
os.environ.setdefault("MPLBACKEND", "Agg")

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(_HERE, ".."))
sys.path.insert(0, os.path.join(_HERE, "sphinxext"))

import torch  # noqa: E402

import sklearn_ae  # noqa: E402

torch.set_num_threads(1)

# -- Project -----------------------------------------------------------------

project = "sklearn-ae"
author = "The sklearn-ae developers"
copyright = "2025, The sklearn-ae developers"
version = release = sklearn_ae.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    # Copies MathJax 3 into _static/mathjax/ and points mathjax_path there, so
    # that formulas render without a network (the default is a CDN).
    "sphinx-mathjax-offline",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
# sg_execution_times.rst: left by builds before write_computation_times was
# turned off (see the gallery's configuration below).
exclude_patterns = [
    "_build",
    "_templates",
    "sphinxext",
    "sg_execution_times.rst",
    "auto_examples/sg_execution_times.rst",
]
default_role = "literal"

# -- API pages: autosummary stubs from _templates/class.rst, numpydoc ----------

autosummary_generate = True
autodoc_typehints = "none"

# numpydoc renders the class docstrings and a table of the methods;
# _templates/class.rst documents each method below it.
numpydoc_show_class_members = True
# The estimators list the methods they inherit from scikit-learn; the networks
# of sklearn_ae.nn would list every method of torch.nn.Module, whose docstrings
# are not numpydoc: they list their own methods only.
numpydoc_show_inherited_class_members = {
    f"sklearn_ae.nn.{name}": False
    for name in ("Autoencoder", "VariationalAutoencoder", "ResidualMap")
}
# A warning class: its inherited members are those of every exception.
numpydoc_show_inherited_class_members["sklearn_ae.InconsistentVersionWarning"] = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- No network: no intersphinx -------------------------------------------------
#
# Neither this machine nor CI can reach the internet, so no inventory is
# fetched. References to scikit-learn and torch objects (``:class:`sklearn.
# decomposition.PCA``` in the docstrings) are resolved below into plain links to
# their pages by name, without an inventory.

intersphinx_mapping = {}

_EXTERNAL_DOCS = {
    "sklearn": "https://scikit-learn.org/stable/modules/generated/{}.html",
    "torch": "https://docs.pytorch.org/docs/stable/generated/{}.html",
}


def _external_page(target):
    """URL of the page documenting ``target`` (e.g. ``sklearn.decomposition.PCA.score``)."""
    package = target.split(".", 1)[0]
    if package not in _EXTERNAL_DOCS:
        return None
    parts = target.split(".")
    # A method's page is its class's: the last capitalised part names the class.
    classes = [i for i, part in enumerate(parts) if part[:1].isupper()]
    page = ".".join(parts[: classes[-1] + 1]) if classes else target
    url = _EXTERNAL_DOCS[package].format(page)
    return url if page == target else f"{url}#{target}"


# Labels of scikit-learn's documentation that the docstrings of inherited
# methods (set_output, get_metadata_routing) refer to: (URL, link text).
_SKLEARN_LABELS = {
    "metadata_routing": (
        "https://scikit-learn.org/stable/metadata_routing.html",
        "Metadata Routing",
    ),
    "df_output_transform": (
        "https://scikit-learn.org/stable/auto_examples/miscellaneous/plot_set_output.html",
        "Pandas/Polars output with the set_output API",
    ),
    "sphx_glr_auto_examples_miscellaneous_plot_set_output.py": (
        "https://scikit-learn.org/stable/auto_examples/miscellaneous/plot_set_output.html",
        "Introducing the set_output API",
    ),
}


def _resolve_external(app, env, node, contnode):
    from docutils import nodes

    target = node.get("reftarget", "")
    if node.get("refdomain") == "py":
        url = _external_page(target)
    elif node.get("refdomain") == "std" and node.get("reftype") == "ref":
        url, title = _SKLEARN_LABELS.get(target, (None, None))
        if url is not None and contnode.astext() == target:
            contnode = nodes.inline(title, title)
    else:
        url = None
    if url is None:
        return None
    reference = nodes.reference("", "", internal=False, refuri=url)
    reference.append(contnode)
    return reference


# -- The changelog: CHANGELOG.md, included by changelog.rst ----------------------
#
# The repository keeps one changelog, in markdown (Keep a Changelog). Its
# bullets and `code` spans read the same in reStructuredText (default_role is
# literal); only the headings and links need rewriting, done here as the file
# is included, so no markdown parser is needed.

_HEADING_UNDERLINES = {2: "=", 3: "-"}


def _markdown_changelog_to_rst(text):
    lines = []
    for line in text.splitlines():
        heading = re.match(r"^(#+) (.*)$", line)
        if heading:
            level, title = len(heading.group(1)), heading.group(2)
            if level == 1:
                # The page's own title stands in for the file's.
                continue
            lines += [title, _HEADING_UNDERLINES[level] * len(title), ""]
            continue
        lines.append(re.sub(r"\[([^\]]+)\]\((\S+)\)", r"`\1 <\2>`__", line))
    return "\n".join(lines) + "\n"


def _include_changelog(app, relative_path, parent_docname, content):
    if relative_path.name == "CHANGELOG.md":
        content[0] = _markdown_changelog_to_rst(content[0])


# -- Benchmark tables: generated from benchmarks/results/*.json -----------------
#
# Every benchmark writes its tables, with the commit, machine and date measured,
# to benchmarks/results/NAME.json (``--save``); figures published before the
# harness existed were transcribed into such files. ``.. benchmark-table:: NAME
# TABLE`` shows one table of one file, followed by where it was measured, so
# that a figure lives in one place: re-measuring is a run with --save.

_RESULTS = os.path.join(_HERE, "..", "benchmarks", "results")


def _rst_cell(text):
    """A cell as reStructuredText text: markup characters escaped, so that "(a) ..." is
    no enumerated list, "-" no bullet and "score_samples" no reference."""
    text = re.sub(r"([\\`*_|])", r"\\\1", str(text))
    return "\\" + text if text and not text[0].isalnum() and text[0] != "\\" else text


def _benchmark_table(name, table):
    """The lines of a list-table of ``table`` in results file ``name``, and its source."""
    path = os.path.join(_RESULTS, f"{name}.json")
    with open(path, encoding="utf-8") as f:
        result = json.load(f)
    found = next(t for t in result["tables"] if t["name"] == table)
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [found["header"], *found["rows"]]:
        cells = [_rst_cell(cell) for cell in row]
        lines += [f"   * - {cells[0]}".rstrip(), *(f"     - {c}".rstrip() for c in cells[1:])]
    commit = (result.get("commit") or "")[:7] or "a commit not recorded"
    commit += " + uncommitted changes" * bool(result.get("dirty"))
    source = f"Measured at {commit} with ``{result['command']}``"
    transcribed, machine = result.get("transcribed"), result.get("machine", {})
    if transcribed:
        published = transcribed["published_in"][:7], transcribed["published_date"]
        source += "; published in {} ({})".format(*published)
        source += f" and transcribed into ``benchmarks/results/{name}.json``"
        source += f": {transcribed['note']}" if transcribed.get("note") else ""
    else:
        source += f" on {result['date']}, ``benchmarks/results/{name}.json``: {machine['cpu']}, "
        source += f"{machine['cores']} cores, torch {machine['torch']}"
    return lines + ["", source + "."], path


def setup(app):
    from docutils import nodes
    from docutils.statemachine import StringList
    from sphinx.util.docutils import SphinxDirective

    class BenchmarkTable(SphinxDirective):
        required_arguments = 2

        def run(self):
            lines, path = _benchmark_table(*self.arguments)
            self.env.note_dependency(path)
            container = nodes.container()
            self.state.nested_parse(StringList(lines, path), self.content_offset, container)
            return container.children

    app.add_directive("benchmark-table", BenchmarkTable)
    app.connect("missing-reference", _resolve_external)
    app.connect("include-read", _include_changelog)


# -- HTML ---------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"sklearn-ae {release}"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc", "sg_download_links", "sg_launcher_links"],
}
html_sidebars = {"index": []}
html_show_sourcelink = False
# MathJax from the site itself (sphinx-mathjax-offline copies it there); set
# here too so that the configuration names no other host.
mathjax_path = "mathjax/tex-chtml.js"
# code.css: code blocks wrap their long lines instead of cutting them off.
html_static_path = ["_static"]
html_css_files = ["code.css"]

# -- Gallery ------------------------------------------------------------------


sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "gallery_order.ExampleOrder",
    "doc_module": ("sklearn_ae",),
    "reference_url": {"sklearn_ae": None},
    "backreferences_dir": "generated",
    "inspect_global_variables": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "min_reported_time": 1,
    "show_memory": False,
    "abort_on_example_error": False,
    # Its pages of execution times load jQuery and DataTables from CDNs; the
    # site loads nothing from another host.
    "write_computation_times": False,
}
