"""The documentation's Python examples run, and print what the documentation shows.

Every python block of docs/api.md runs in a fresh namespace; when the next block is a plain one,
it is that example's output, and what the example prints must match it line by line: the same
text, and the same numbers up to one unit in the last digit shown (integers such as spike counts
exactly). README.md's Python API block and the docstring example of :mod:`eventsim.network` run too.
"""

import contextlib
import doctest
import io
import pathlib
import re

import pytest

import eventsim.network

ROOT = pathlib.Path(__file__).resolve().parents[1]
_BLOCK = re.compile(r"^```(\w*)\n(.*?)^```$", re.S | re.M)
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:,\d{3})*(?:\.\d+)?(?:e[-+]?\d+)?(?!\w)")  # 9,630 -1.5 2e-07


def examples(text: str) -> list[tuple[str, str | None]]:
    """(code, shown output or None) of each python block of a markdown text."""
    blocks = _BLOCK.findall(text)
    found = []
    for k, (lang, body) in enumerate(blocks):
        if lang == "python":
            shown = blocks[k + 1][1] if k + 1 < len(blocks) and blocks[k + 1][0] == "" else None
            found.append((body, shown))
    return found


def run_example(code: str) -> str:
    """Run ``code`` in a fresh namespace; returns what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<docs example>", "exec"), {"__name__": "__docs__"})  # noqa: S102
    return out.getvalue()


def _value(token: str) -> float:
    return float(token.replace(",", ""))


def _unit(token: str) -> float:
    """One unit in the last digit of a shown number: 0.01 for 48.16, 1e-08 for 1.4e-07, 0 for 9,630."""
    mantissa, _, exponent = token.replace(",", "").partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 0.0 if not decimals and not exponent else 10.0 ** (int(exponent or 0) - decimals)


def assert_same_output(printed: str, shown: str) -> None:
    """Lines equal once numbers are masked; each number within one unit of its last shown digit."""
    got, want = printed.strip().splitlines(), shown.strip().splitlines()
    assert len(got) == len(want), f"printed {len(got)} lines, the docs show {len(want)}:\n{printed}"
    for g, w in zip(got, want):
        assert _NUMBER.sub("#", g) == _NUMBER.sub("#", w), f"printed {g!r}, the docs show {w!r}"
        for x, y in zip(_NUMBER.findall(g), _NUMBER.findall(w)):
            assert abs(_value(x) - _value(y)) <= _unit(y) * (1 + 1e-9), f"printed {x} in {g!r}, the docs show {y}"


API_EXAMPLES = examples((ROOT / "docs" / "api.md").read_text())


def test_api_md_has_examples_with_output():
    assert len(API_EXAMPLES) >= 3 and sum(shown is not None for _, shown in API_EXAMPLES) >= 3


@pytest.mark.parametrize("code, shown", API_EXAMPLES, ids=[f"api.md-{k}" for k in range(len(API_EXAMPLES))])
def test_api_md_examples_print_what_is_shown(code, shown):
    printed = run_example(code)
    if shown is not None:
        assert_same_output(printed, shown)


def test_readme_python_api_example_runs():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Python API"):]
    code, _ = examples(section)[0]
    namespace = {}
    with contextlib.redirect_stdout(io.StringIO()) as out:
        exec(compile(code, "<README example>", "exec"), namespace)  # noqa: S102
    assert set(namespace["res"].rates()) == {"exc", "inh"} and "exc" in out.getvalue()
    assert namespace["v"].shape == (3, 200)


def test_network_docstring_example():
    result = doctest.testmod(eventsim.network, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("printed, shown", [
    ("spikes: 9630", "spikes: 9517"),                  # a stale count
    ("Results: 9,630 spikes", "Results: 9,517 spikes"),
    ("rates: 48.16 Hz", "rates: 47.48 Hz"),            # a stale rate
    ("rates: 48.18 Hz", "rates: 48.16 Hz"),            # two units in the last digit
    ("mean V = 14.737 mV", "mean V = 14.7 mV (about)"),  # other text
    ("a\nb", "a"),                                     # another number of lines
])
def test_output_comparison_catches_differences(printed, shown):
    with pytest.raises(AssertionError):
        assert_same_output(printed, shown)


@pytest.mark.parametrize("printed, shown", [
    ("rates: 48.161 Hz", "rates: 48.16 Hz"),
    ("first: [(927, 0.2224714)]", "first: [(927, 0.222471)]"),
    ("x = 1.5e-07", "x = 1.4e-07"),
    ("stimuli[0].rate: got str '10'", "stimuli[0].rate: got str '10'"),
])
def test_output_comparison_allows_one_unit_in_the_last_digit(printed, shown):
    assert_same_output(printed, shown)
