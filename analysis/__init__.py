"""Analysis: exploitability, social-dilemma metrics, reports and plots."""

from popgames.analysis.exploitability import (Exploitability, cce_gaps, ce_gaps, exploitability,
                                              nash_regrets, risk_averse_regrets)

__all__ = ["Exploitability", "exploitability", "nash_regrets", "ce_gaps", "cce_gaps",
           "risk_averse_regrets"]
