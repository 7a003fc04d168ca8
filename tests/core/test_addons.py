"""Add-on enhancers and image backends arrive through real entry points (`promptrag.enhancers`,
`promptrag.image_backends`) of an installed distribution: here a tiny one written to a folder on
sys.path, read by importlib.metadata exactly as pip's would be."""

from __future__ import annotations

import textwrap

import pytest

from core.errors import ConfigError
from enhancers.base import EnhanceRequest
from enhancers.registry import ENHANCERS, enhancer_names, enhancer_status, get_enhancer
from generate.registry import IMAGE_BACKENDS, get_image_backend, image_backend_names, image_backend_status

ADDON_MODULE = '''
from enhancers.base import Candidate, Enhancer
from generate.base import ImageBackend


class ShoutEnhancer(Enhancer):
    name = "shout"
    thread_safe = True

    @classmethod
    def status(cls, settings):
        return True, "shouts the idea"

    def _enhance(self, request):
        import time

        prompt = request.idea.upper() + ", (LOUD:1.4), by greg rutkowski"
        return self.make_result(request, [Candidate(prompt, "quiet")], style="artistic",
                                started=time.perf_counter())


class FlatBackend(ImageBackend):
    name = "flat"

    def generate(self, request, *, on_progress=None, cancel=None):
        raise NotImplementedError
'''

ENTRY_POINTS = """
[promptrag.enhancers]
shout = promptrag_shout_addon:ShoutEnhancer
broken = promptrag_shout_missing_module:Nope
rules = promptrag_shout_addon:ShoutEnhancer

[promptrag.image_backends]
flat = promptrag_shout_addon:FlatBackend
"""


@pytest.fixture
def installed_addon(tmp_path, monkeypatch):
    """A distribution `promptrag-shout` installed in a folder on sys.path (module + .dist-info)."""
    (tmp_path / "promptrag_shout_addon.py").write_text(textwrap.dedent(ADDON_MODULE), encoding="utf-8")
    dist = tmp_path / "promptrag_shout-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: promptrag-shout\nVersion: 0.1\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text(ENTRY_POINTS, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    for registry in (ENHANCERS, IMAGE_BACKENDS):  # the registries as they were, restored afterwards
        monkeypatch.setattr(registry, "_factories", dict(registry._factories))
        monkeypatch.setattr(registry, "problems", dict(registry.problems))
        registry.discover_addons()
    return tmp_path


def test_an_installed_addon_enhancer_is_listed_built_and_checked_like_a_built_in(installed_addon, monkeypatch):
    blocklist = installed_addon / "blocklist.txt"
    blocklist.write_text("greg rutkowski\n", encoding="utf-8")
    monkeypatch.setenv("PROMPTRAG_BLOCKLIST", str(blocklist))
    assert {"shout", "broken"} <= set(enhancer_names())
    result = get_enhancer("shout").enhance(EnhanceRequest(idea="a red fox", model_family="sd3"))
    # the base class's policy applies to an add-on too: no weights for sd3, no blocked artist
    assert result.enhancer == "shout" and result.prompt.startswith("A RED FOX")
    assert "rutkowski" not in result.prompt and ":1.4" not in result.prompt
    status = {s.name: s for s in enhancer_status()}
    assert status["shout"].ready and status["shout"].detail == "shouts the idea"


def test_an_addon_that_fails_to_load_is_reported_by_name_and_breaks_nothing(installed_addon):
    with pytest.raises(ConfigError, match=r"add-on enhancer 'broken' .*promptrag-shout 0\.1.*ModuleNotFoundError"):
        get_enhancer("broken")
    status = {s.name: s for s in enhancer_status()}
    assert not status["broken"].ready and "promptrag_shout_missing_module" in status["broken"].detail
    assert status["rules"].ready and get_enhancer("rules").enhance(EnhanceRequest(idea="a fox")).prompt


def test_an_addon_cannot_take_a_built_in_name(installed_addon):
    assert type(get_enhancer("rules")).__name__ == "RuleBasedEnhancer"
    assert "name is taken" in ENHANCERS.problems["rules"]


def test_an_addon_image_backend_is_listed_and_built(installed_addon):
    assert "flat" in image_backend_names()
    assert type(get_image_backend("flat")).__name__ == "FlatBackend"
    status = {s.name: s for s in image_backend_status()}
    assert status["flat"].ready and status["flat"].detail == "add-on (no readiness check)"
