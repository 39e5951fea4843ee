"""The head of a PSRO (or JPSRO) report: title, configuration table and result table.

The other PSRO sections live by family -- :mod:`.convergence` (exploitability),
:mod:`.population` (meta-strategy), :mod:`.metagame` (final meta-game), :mod:`.markov`
(game metrics of a Markov game) -- and :func:`popgames.analysis.reports.write_report`
puts them together.
"""

from __future__ import annotations

from popgames.analysis.reports.convergence import kind_key, result_rows
from popgames.analysis.reports.population import final_sizes
from popgames.analysis.reports.run_data import Run, fmt


def _algorithm(kind: str, meta_solver: str, answered_by: str) -> str:
    if answered_by.startswith("mean_field_"):
        return f"mean-field PSRO with `{meta_solver}` meta-solver (Muller et al. 2022)"
    if kind in ("cce_gap", "ce_gap"):
        return f"JPSRO with {kind[:-4].upper()} meta-solver (Marris et al. 2021)"
    if meta_solver == "rae":
        return "PSRO-RAE (risk-averse equilibrium meta-solver)"
    return f"PSRO with `{meta_solver}` meta-solver (Lanctot et al. 2017)"


def overview_section(run: Run) -> list[str]:
    """Title, "## Configuration" and "## Result" tables."""
    config, last, done = run.config, run.last, len(run.records)
    stopped = (" (stopped early: the meta-strategy is an equilibrium of the full game)"
               if done < config.get("iterations", done) else "")
    options = config.get("solver_options") or {}
    return [
        f"# {config.get('game_name', '?')}: {_algorithm(kind_key(run), config.get('meta_solver', '?'), str(last.get('meta_solver', '')))}",
        "", "## Configuration", "", "| setting | value |", "|---|---|",
        f"| game | `{config.get('game_name')}` (card `{config.get('game')}`, sha256 "
        f"`{config.get('card_sha256')}`) |",
        f"| meta-solver | `{config.get('meta_solver')}`, options "
        f"{', '.join(f'`{k}={v}`' for k, v in options.items()) or 'none'}; answered by "
        f"`{last['meta_solver']}` |",
        f"| best-response oracle | {config.get('oracle', 'exact')}, ties broken by "
        f"`{'lowest' if str(last.get('meta_solver', '')).startswith('mean_field_') else config.get('tie_break', 'lowest')}` |",
        f"| iterations | {done} of {config.get('iterations', done)}{stopped} |",
        f"| seed | {config.get('seed')} |",
        f"| device | {config.get('device', 'cpu')} |",
        f"| wall-clock | {last['wall_time']:.2f} s |",
        f"| popgames | {config.get('popgames_version')} |",
        "", "## Result", "", "| | value |", "|---|---|",
        *result_rows(run),
        f"| meta-strategy payoffs | {', '.join(fmt(v) for v in last.get('meta_payoffs', []))} |",
        f"| meta-game solve gap | {fmt(last['meta_gap'])} |",
        f"| population size (final meta-game) | {last['population_size']} ({final_sizes(run)}) |",
        "",
    ]
