"""The README's commands and example stay true."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    blocks = re.findall(r"```bash\n(.*?)```", README, re.S)
    commands = [line for block in blocks for line in block.splitlines() if line and not line.startswith("#")]
    assert ci in commands, "README quick start and .ci/run disagree"
    assert len(commands) == 2, "the quick start has exactly two commands"


def test_readme_quick_start_uses_a_bundled_scenario():
    blocks = re.findall(r"```bash\n(.*?)```", README, re.S)
    scenario = re.search(r"eventsim run (\S+\.toml)", blocks[0]).group(1)
    assert (ROOT / scenario).is_file()

