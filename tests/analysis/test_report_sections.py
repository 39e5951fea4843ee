"""How reports are put together: sections chosen by the records, matplotlib only on use."""

from __future__ import annotations

import json
import subprocess
import sys

from popgames.analysis.reports import fxp, markov, sections
from popgames.analysis.reports.run_data import Run, table_records


def _run(tmp_path, config: str, record: dict) -> Run:
    (tmp_path / "config.toml").write_text(config)
    (tmp_path / "metrics.jsonl").write_text(json.dumps(record) + "\n")
    return Run(tmp_path)


def test_sections_follow_the_records(tmp_path):
    psro = {"iteration": 0, "population_size": [1, 1], "meta_strategy": [[1.0], [1.0]]}
    plain = sections(_run(tmp_path, 'game_name = "g"\n', psro))
    assert markov.section not in plain and plain != fxp.SECTIONS
    assert sections(_run(tmp_path, 'game_name = "g"\n', {**psro, "game": {"x": 1.0}}))[-1] is markov.section
    # FXP records (main versions counted), with or without the config saying so; their
    # game metrics are FXP's own section, not the PSRO Markov one.
    fxp_record = {**psro, "main_versions": 1, "game": {"x": 1.0}}
    assert sections(_run(tmp_path, 'game_name = "g"\n', fxp_record)) == fxp.SECTIONS
    assert sections(_run(tmp_path, 'algorithm = "fxp"\n', psro)) == fxp.SECTIONS


def test_by_iteration_tables_keep_the_last_iteration():
    records = [{"iteration": i} for i in range(60)]
    shown = [r["iteration"] for r in table_records(records)]
    assert shown[:3] == [0, 2, 4] and shown[-1] == 59 and len(shown) <= 31
    assert table_records(records[:10]) == records[:10]


def test_importing_the_reports_does_not_import_matplotlib():
    code = ("import sys, popgames.report, popgames.analysis.reports.fxp, "
            "popgames.analysis.reports.markov; assert 'matplotlib' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
