"""Power and false alarms: `run_grid`'s rows summed up per (kind, p, watermark, strength, role) — the share of
suspects the calibrated verifier catches (with an interval), and how often it flags its own controls — and the one
sentence of verdict (`grid_verdict`) that never claims more than the controls allow."""

from __future__ import annotations

import polars as pl

from core.watermark.grid import CONTROLS
from core.watermark.verify import LEVEL, Calibration, false_alarms, interval

SUMMARY_SCHEMA = {
    "kind": pl.Utf8,
    "p": pl.Float64,
    "watermark": pl.Utf8,
    "strength": pl.Float64,
    "role": pl.Utf8,  # 'marked', or 'removed' / 'cse' (after that removal attack)
    "calibrated": pl.Boolean,  # False: the controls did not vary (no line can be set; power is left empty)
    "suspects": pl.Int64,
    "caught": pl.Int64,
    "power": pl.Float64,
    "power_low": pl.Float64,
    "power_high": pl.Float64,
    "false_alarms": pl.Int64,  # its controls (CONTROLS[role]) flagged by the others (leave one out, every seed's key)
    "controls_tested": pl.Int64,
    "false_alarm_rate": pl.Float64,
    "false_alarm_low": pl.Float64,
    "false_alarm_high": pl.Float64,
    "raw_power": pl.Float64,  # the plain KS test at 5 %, no controls
    "raw_false_alarm_rate": pl.Float64,  # the same plain test on the controls: how often it cries wolf
    "statistic": pl.Float64,  # the suspects' mean statistic
    "control_statistic": pl.Float64,  # the controls' mean statistic
    "heldout_cosine": pl.Float64,  # the suspects' mean held-out cosine to the clean teacher
    "control_heldout_cosine": pl.Float64,
}


def summarize(rows: pl.DataFrame, level: float = LEVEL) -> pl.DataFrame:
    """One row per (kind, p, watermark, strength, role) of `run_grid`'s rows: detection power (suspects caught by
    the calibrated verifier; empty where the controls did not vary) and the verifier's false alarms on its controls
    (CONTROLS: the clean students put through the same removal attack as the suspects, or none),
    each with a 95 % Clopper–Pearson interval, the plain test's rates beside them, the statistics and held-out
    cosines."""
    out = []
    if rows.is_empty():
        return pl.DataFrame(schema=SUMMARY_SCHEMA)
    for (kind, p, w), cell in rows.group_by(["kind", "p", "watermark"], maintain_order=True):
        suspects = cell.filter(~pl.col("role").is_in(list(CONTROLS.values())))
        for (strength, role), group in suspects.group_by(["strength", "role"], maintain_order=True):
            # Each suspect is judged against the clean students that went through what it went through.
            controls = cell.filter(pl.col("role") == CONTROLS.get(role, "control"))
            if controls.is_empty():  # a grid stored before attacked controls existed: no honest line for it
                continue
            by_key = {
                k: part.sort("seed")["statistic"].to_list()
                for (k,), part in controls.group_by(["key_seed"], maintain_order=True)
            }
            flagged = tested = 0
            for values in by_key.values():
                f, t = false_alarms(values, level)
                flagged, tested = flagged + f, tested + t
            alarms = interval(flagged, tested)
            lines = {k: Calibration.from_controls(v, level) for k, v in by_key.items()}
            calibrated = all(c.usable for c in lines.values())
            caught = sum(lines[r["key_seed"]].flags(r["statistic"]) for r in group.iter_rows(named=True))
            power = interval(caught, group.height)
            out.append(
                {
                    "kind": kind,
                    "p": p,
                    "watermark": w,
                    "strength": strength,
                    "role": role,
                    "calibrated": calibrated,
                    "suspects": group.height,
                    "caught": caught if calibrated else None,
                    "power": power.value if calibrated else None,
                    "power_low": power.low if calibrated else None,
                    "power_high": power.high if calibrated else None,
                    "false_alarms": flagged,
                    "controls_tested": tested,
                    "false_alarm_rate": alarms.value,
                    "false_alarm_low": alarms.low,
                    "false_alarm_high": alarms.high,
                    "raw_power": group["raw_flag"].mean(),
                    "raw_false_alarm_rate": controls["raw_flag"].mean(),
                    "statistic": group["statistic"].mean(),
                    "control_statistic": controls["statistic"].mean(),
                    "heldout_cosine": group["heldout_cosine"].mean(),
                    "control_heldout_cosine": controls["heldout_cosine"].mean(),
                }
            )
    return pl.DataFrame(out, schema=SUMMARY_SCHEMA)


def grid_verdict(summary: pl.DataFrame, kind: str, strength: float, role: str = "marked") -> str:
    """One sentence over a student kind's row of the grid: from which p each watermark catches every imitator,
    and how often the verifier flagged a clean student (with its interval). Never more than the controls allow."""
    cell = summary.filter(
        (pl.col("kind") == kind) & ((pl.col("strength") - strength).abs() < 1e-9) & (pl.col("role") == role)
    )
    if cell.is_empty():
        return "There is no grid for this student and strength yet."
    parts = []
    uncalibrated = sorted(set(cell.filter(~pl.col("calibrated"))["p"].to_list()))
    cell = cell.filter(pl.col("calibrated"))
    for (w,), rows in cell.sort("p").group_by(["watermark"], maintain_order=True):
        caught = rows.filter(pl.col("caught") == pl.col("suspects"))["p"].to_list()
        ps = rows["p"].to_list()
        # The smallest p from which every larger p in the grid also catches every suspect.
        from_p = next((p for i, p in enumerate(ps) if all(q in caught for q in ps[i:])), None)
        name = {"trigger": "the trigger-word watermark", "region": "the region watermark"}[w]
        if from_p is None and int(rows["caught"].max() or 0) == 0:
            parts.append(f"{name} catches no imitator at any p")
        elif from_p is None:
            best = rows.sort("power", descending=True).row(0, named=True)
            parts.append(
                f"{name} never catches every imitator (at best {best['caught']} of {best['suspects']}, at p = {best['p']:g})"
            )
        else:
            parts.append(f"{name} catches every imitator from p = {from_p:g}")
    if uncalibrated:
        parts.append(
            f"at p = {', '.join(f'{p:g}' for p in uncalibrated)} no verdict is possible (every clean student is the "
            "same student there, so the controls cannot say how far a clean one may land)"
        )
    if not parts:
        return "No verdict: the clean students never varied, so no line could be set."
    hits, n = int(cell["false_alarms"].sum()), int(cell["controls_tested"].sum())
    alarms = interval(hits, n)
    found = "; ".join(parts)
    return (
        f"{found[0].upper() + found[1:]}. The verifier flagged {hits} of {n} clean students "
        f"(false alarms up to {100 * alarms.high:.0f} % at 95 % confidence), so a catch here is evidence, not proof."
    )
