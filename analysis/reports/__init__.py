"""Run reports: ``report.md`` with PNG plots, rebuilt from a run folder's files alone.

``python -m popgames.report RUN_DIR`` (or :func:`write_report`) reads ``config.toml``,
``metrics.jsonl``, ``game_facts.json`` and, when present, the checkpoint -- data only,
it never loads the game -- and writes ``report.md`` with its figures. One module per
section family:

* :mod:`.run_data` -- reading the run folder (once), number formats, table thinning;
* :mod:`.plotting` -- figures (matplotlib imported on first use, Agg, fixed margins);
* :mod:`.psro` -- a PSRO report's title, configuration and result tables;
* :mod:`.convergence` -- exploitability: ``exploitability.png``, the by-iteration table;
* :mod:`.population` -- the meta-strategy: ``meta_strategy.png``, the final strategy table;
* :mod:`.metagame` -- the final meta-game: ``meta_game.png``;
* :mod:`.markov` -- a Markov game's metrics and the sampled meta-game's equilibria;
* :mod:`.fxp` -- FXP's sections (:func:`.fxp.write_fxp_report`);
* :mod:`.mean_field` -- a mean-field or graphon run: exploitability, the distribution flow,
  each agent's exploitability.

:func:`write_report` picks the sections by what the run's records hold.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from popgames.analysis.reports import convergence, fxp, markov, mean_field, metagame, population, psro
from popgames.analysis.reports.run_data import Run

Section = Callable[[Run], list[str]]

#: A PSRO (or JPSRO) report, in order.
PSRO_SECTIONS: list[Section] = [psro.overview_section, convergence.figure_section,
                                population.figure_section, metagame.figure_section,
                                population.strategy_section, convergence.by_iteration_section]


def sections(run: Run) -> list[Section]:
    """The sections the run's records call for: FXP's for FXP records (their config says
    ``algorithm = "fxp"``, their records count ``main_versions``); mean-field ones for
    records of a mean-field exploitability; else PSRO's, with the
    game-metrics section of a Markov game where the records carry ``game`` metrics."""
    if fxp.is_fxp(run):
        return fxp.SECTIONS
    if mean_field.is_mean_field(run):
        return mean_field.SECTIONS
    return PSRO_SECTIONS + ([markov.section] if "game" in run.last else [])


def write_report(run_dir: str | Path) -> Path:
    """Write ``RUN/report.md`` (and its plots) for the run in ``run_dir``; returns its path.
    A folder that is not a run is a one-line :class:`~popgames.core.errors.PopgamesError`."""
    run = Run(run_dir)
    return run.write(sections(run))


__all__ = ["write_report", "sections", "Run"]
