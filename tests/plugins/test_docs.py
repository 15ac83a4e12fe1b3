"""The plugin API's documentation keeps up with the code (datasette's ``test_docs.py``): every
hook has a page whose heading is its full signature, documents each argument and says whether it
is ``firstresult``; every built-in option is in the reference; the worked example is short."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from asset_service.plugins import hookspecs
from asset_service.plugins.builtin import BUILTIN_PLUGINS
from asset_service.plugins.inspector import PluginInspector
from asset_service.plugins.loading import candidates

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "plugins"
HOOKS = PluginInspector.hook_names()


def signature_of(hook: str) -> str:
    """``name(arg: Type, ...) -> Return``, as the hook's page heading spells it."""
    signature = inspect.signature(getattr(hookspecs, hook))
    arguments = ", ".join(f"{p.name}: {p.annotation}" for p in signature.parameters.values())
    return f"{hook}({arguments}) -> {signature.return_annotation}"


def is_firstresult(hook: str) -> bool:
    return bool(getattr(getattr(hookspecs, hook), f"{hookspecs.PROJECT_NAME}_spec")["firstresult"])


def test_the_hooks_are_the_documented_ones():
    hooks = ["asset_types", "sniff", "validate", "extract_metadata", "on_event", "previewers"]
    assert sorted(hooks) == HOOKS
    pages = sorted(page.stem for page in (DOCS / "hooks").glob("*.md"))
    assert pages == HOOKS, "a page per hook, and no page for a hook that does not exist"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_page_headed_by_its_signature(hook):
    page = DOCS / "hooks" / f"{hook}.md"
    assert page.exists(), f"hook {hook} is undocumented: write {page.relative_to(ROOT)}"
    text = page.read_text()
    assert text.splitlines()[0] == f"# {signature_of(hook)}"
    for argument in inspect.signature(getattr(hookspecs, hook)).parameters:
        assert f"`{argument}`" in text, f"{hook}: argument {argument} is not documented"
    for section in ("**Arguments:**", "**Returns:**", "**When it is called:**", "**Example**"):
        assert section in text, f"{hook}: no {section} section"
    expected = "**firstresult:** yes" if is_firstresult(hook) else "**firstresult:** no"
    assert expected in text
    assert "```python" in text and "@hookimpl" in text, f"{hook}: no example implementation"
    assert f"(hooks/{hook}.md)" in (DOCS / "README.md").read_text(), "not linked from the guide"


@pytest.mark.parametrize("hook", HOOKS)
def test_hookspec_docstring_names_each_argument_and_firstresult(hook):
    spec = getattr(hookspecs, hook)
    doc = " ".join((inspect.getdoc(spec) or "").split())
    assert len(doc) > 200, f"{hook}: the hookspec needs a docstring"
    for argument in inspect.signature(spec).parameters:
        assert f":param {argument}:" in doc, f"{hook}: argument {argument} undocumented"
    if is_firstresult(hook):
        assert "Stops at first non-None result" in doc
    else:
        assert "Not ``firstresult``" in doc


@pytest.mark.parametrize("name", sorted(BUILTIN_PLUGINS))
def test_every_builtin_option_is_in_the_reference(name):
    factory = candidates(installed=False)[name].entry_point.load()
    options = [p for p in inspect.signature(factory).parameters if not p.startswith("_")]
    guide = (DOCS / "README.md").read_text()
    section = guide.split(f"### `{name}`", 1)[1].split("\n### ", 1)[0]
    for option in options:
        assert re.search(rf"^\| `{option}` \|", section, re.M), f"{name}.{option} undocumented"
        assert f"``{option}``" in (factory.__doc__ or ""), f"{name}.{option}: not in its docstring"


def test_the_worked_example_is_about_50_lines_and_documented():
    source = ROOT / "examples" / "glb" / "asset_service_glb.py"
    assert len(source.read_text().splitlines()) < 55
    assert "examples/glb" in (DOCS / "README.md").read_text()


@pytest.mark.parametrize("page", sorted(DOCS.rglob("*.md")), ids=lambda p: str(p.relative_to(DOCS)))
def test_python_examples_in_the_docs_compile(page):
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), re.S)
    for block in blocks:
        compile(block, str(page), "exec")
