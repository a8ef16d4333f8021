"""Sphinx configuration of the sksid documentation site.

Build: ``python -m sphinx -W --keep-going -b html docs docs/_build/html``. The markdown
guides are read by MyST, the notebooks of ``notebooks/`` are rendered with their stored
outputs (never executed here), the API reference is generated from the docstrings.
"""
import os
import pathlib
import shutil
import sys

DOCS = pathlib.Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import sksid  # noqa: E402

project = "sksid"
author = "the sksid authors"
copyright = "the sksid authors"
release = version = sksid.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_nb",  # MyST markdown (myst-parser) and notebooks
]

# The notebooks live in notebooks/ (CI runs them there); the site renders copies of them.
NOTEBOOKS = DOCS / "notebooks"
NOTEBOOKS.mkdir(exist_ok=True)
for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
    target = NOTEBOOKS / nb.name
    if not target.exists() or target.read_bytes() != nb.read_bytes():
        shutil.copyfile(nb, target)

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "results/*_notes.md",  # appended to their page by the benchmark
                    "_templates", "**.ipynb_checkpoints", "api/generated/*.examples"]
templates_path = ["_templates"]

nb_execution_mode = "off"  # stored outputs only
nb_output_stderr = "remove"
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3

autosummary_generate = True
autosummary_ignore_module_all = False
# names of sksid.__all__ have their page under sksid.X; submodule pages link to it
autosummary_context = {"top_level": [n for n in sksid.__all__ if n != "__version__"]}
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

html_theme = "pydata_sphinx_theme"
html_title = f"sksid {version}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path = []


def _skip_metadata_routing(app, what, name, obj, skip, options):
    """scikit-learn's generated ``set_*_request`` methods document scikit-learn's own glossary."""
    if name.startswith("set_") and name.endswith("_request") or name == "get_metadata_routing":
        return True
    return None


def _repository_links(app, docname, source):
    """The guides link the notebooks by their path in the repository (``../notebooks/X.ipynb``);
    on the site they are ``notebooks/X``."""
    source[0] = source[0].replace("](../notebooks/", "](notebooks/")


def setup(app):
    from pygments.lexers.special import TextLexer

    app.add_lexer("mermaid", TextLexer)  # architecture.md's diagram renders on GitHub; here as text
    app.connect("autodoc-skip-member", _skip_metadata_routing)
    app.connect("source-read", _repository_links)
