"""The exploitability (convergence) sections of a PSRO report.

The final and best exploitability with each player's regret, ``exploitability.png``
(against iteration and wall-clock time) and the by-iteration table. The exploitability
is the record's ``exploitability_kind``: NashConv, or the CCE / CE gap of JPSRO, exact
or estimated by PPO best responses.
"""

from __future__ import annotations

from popgames.analysis.reports.plotting import plot_exploitability
from popgames.analysis.reports.run_data import Run, fmt, table_records

KIND_LABEL = {"nash_conv": "NashConv", "cce_gap": "CCE gap", "ce_gap": "CE gap",
              "approx_nash_conv": "NashConv (PPO estimate)", "approx_cce_gap": "CCE gap (PPO estimate)",
              "approx_ce_gap": "CE gap (PPO estimate)"}


def kind_key(run: Run) -> str:
    return run.last.get("exploitability_kind", "nash_conv")


def kind_label(run: Run) -> str:
    """What the run's exploitability measures, for headings and axes."""
    return KIND_LABEL.get(kind_key(run), "exploitability")


def result_rows(run: Run) -> list[str]:
    """Rows of the result table: final exploitability, each player's regret, the best."""
    last, kind = run.last, kind_label(run)
    best = min(run.records, key=lambda r: r["exploitability"])
    return ([f"| final {kind} (iteration {last['iteration']}) | {fmt(last['exploitability'])} |"]
            + [f"| player {p}'s regret (best-response gain in the full game) | {fmt(g)} |"
               for p, g in enumerate(last["per_player"])]
            + [f"| best {kind} (iteration) | {fmt(best['exploitability'])} ({best['iteration']}) |"])


def figure_section(run: Run) -> list[str]:
    """``exploitability.png`` and its line."""
    kind = kind_label(run)
    plot_exploitability(run.dir / "exploitability.png",
                        [(r["iteration"], r["wall_time"], r["exploitability"]) for r in run.records],
                        kind, f"{kind} of the meta-strategy in the full game")
    return [f"![{kind} against iteration and wall-clock time](exploitability.png)", ""]


def by_iteration_section(run: Run) -> list[str]:
    kind = kind_label(run)
    lines = ["", f"## {kind} by iteration", "",
             "| iteration | " + kind + " | per player | population | wall-clock (s) |",
             "|---|---|---|---|---|"]
    for r in table_records(run.records):
        lines.append(f"| {r['iteration']} | {fmt(r['exploitability'])} | "
                     f"{', '.join(fmt(g) for g in r['per_player'])} | {r['population_size']} | "
                     f"{r['wall_time']:.2f} |")
    return lines
