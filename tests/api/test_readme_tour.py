"""The README's five-minute tour works as written.

The tour's shell blocks run one after another in one bash, from a fresh directory that holds
only ``.venv`` (as a fresh clone after ``make run`` does), against ``zhengyin serve`` started
as ``make run`` starts it. The one change made to the text: the tour's port 8000 becomes a
free port, so the test never collides with a service already running.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

from zhengyin.api.settings import Settings

from ..support import require_tool, serving

README = Path(__file__).resolve().parents[2] / "README.md"
VENV = Path(sys.executable).parent.parent
TOUR_HEADING = "## A five-minute tour"


def _tour() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split(TOUR_HEADING, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) >= 3, "the tour has lost its shell blocks"
    return "\n".join(blocks)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_tour_seals_a_pdf_issues_a_licence_and_verifies_both(tmp_path: Path) -> None:
    require_tool("curl")
    port = _free_port()
    (tmp_path / ".venv").symlink_to(VENV)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHENGYIN_")}
    env.update(ZHENGYIN_PORT=str(port), ZHENGYIN_PUBLIC_BASE_URL=f"http://127.0.0.1:{port}")
    zhengyin = str(tmp_path / ".venv" / "bin" / "zhengyin")
    # What `make run` does: migrate, then serve.
    upgraded = subprocess.run([zhengyin, "db", "upgrade"], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=120, check=False)
    assert upgraded.returncode == 0, upgraded.stderr
    script = _tour().replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    with serving(env, port, tmp_path):
        tour = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=600,
                              check=False)
    assert tour.returncode == 0, tour.stdout + tour.stderr
    verdicts = [line for line in tour.stdout.splitlines() if line.startswith("TOTAL-")]
    assert verdicts == ["TOTAL-PASSED"] * 3
    assert (tmp_path / "zhengyin-data" / "zhengyin.db").is_file()


def test_the_tour_says_where_the_service_listens_and_keeps_its_data() -> None:
    text = README.read_text(encoding="utf-8").split(TOUR_HEADING, 1)[1]
    defaults = Settings.model_fields
    listens = f"http://{defaults['host'].default}:{defaults['port'].default}"
    assert f"**{listens}**" in text
    assert defaults["public_base_url"].default == listens
    assert f"**`./{defaults['data_dir'].default}`**" in text
    assert "**`.venv/bin/zhengyin`**" in text
