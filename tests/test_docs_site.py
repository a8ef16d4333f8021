"""The documentation's contracts that need no build: the API reference names every public
name, the README stays a short product page whose second command is CI's test command.
(The site itself is built with warnings as errors by ``.ci/run``.)"""
import re
from pathlib import Path

import sksid

ROOT = Path(__file__).resolve().parents[1]


def test_the_api_reference_lists_every_name_of_sksid_all():
    api = (ROOT / "docs" / "api" / "index.rst").read_text()
    listed = set(re.findall(r"^   (\w+)$", api, re.M)) | set(re.findall(r"^\.\. data:: (\w+)", api, re.M))
    assert set(sksid.__all__) <= listed, sorted(set(sksid.__all__) - listed)


def test_the_readme_is_short_and_its_second_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    first_block = re.search(r"```bash\n(.*?)```", readme, re.S).group(1)
    commands = [line for line in first_block.splitlines() if line and not line.startswith("#")]
    assert len(commands) == 2 and commands[0].endswith("python -m sksid.quickstart")
    assert commands[1].endswith("python -m pytest")
    assert (ROOT / ".ci" / "run").read_text().rstrip().splitlines()[-1] == commands[1]
