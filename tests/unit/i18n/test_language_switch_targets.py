"""Where the console's 中文 / English switch may send you back to (pure URL rules, no app)."""

from __future__ import annotations

import pytest

from console.i18n_pages import back_target, without_lang


def test_a_stale_lang_parameter_is_dropped_so_the_choice_sticks():
    """Going back to /x?lang=zh after choosing English would undo the choice: the lang parameter goes."""
    assert without_lang("/console/requests?lang=zh&status=open") == "/console/requests?status=open"
    assert without_lang("/console/requests?lang=en") == "/console/requests"


def test_other_parameters_and_the_path_are_kept():
    """Filters on a list page survive the switch."""
    assert back_target("/console/requests?status=open&page=2") == "/console/requests?status=open&page=2"


@pytest.mark.parametrize("target", [None, "", "https://evil.example/", "//evil.example/", "/\\evil.example",
                                    "javascript:alert(1)", "evil.example/console"])
def test_only_same_site_paths_are_accepted(target):
    """Anything that could leave the site is refused (the route then goes to the console home)."""
    assert back_target(target) is None
