"""Telco churn anchor: 5-fold CV ROC-AUC and Brier of the churn model family.

Data: ``$SHARED_DATA_DIR/telco_churn/WA_Fn-UseC_-Telco-Customer-Churn.csv`` (IBM sample,
7,043 customers). Split: ``StratifiedKFold(5, shuffle=True, random_state=seed)``; the same
folds for logistic regression, gradient boosting and the calibrated family model
(:class:`analytics.brain.churn.ChurnModel`, which picks between the two on an inner holdout of its
training fold, calibrates (sigmoid or isotonic, lower holdout Brier) and refits). Repeated for several seeds.

Run: ``.venv/bin/python -m bench.brain.telco [--seeds 42 0 1 2 3] [--no-write]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold

from analytics.brain.churn import ChurnModel, ReasonTemplate, make_candidate, reliability_table
from bench.brain._common import md_table, provenance, shared_data_dir, write_subsection

SERVICES = [
    "PhoneService",
    "MultipleLines",
    "OnlineSecurity",
    "OnlineBackup",
    "DeviceProtection",
    "TechSupport",
    "StreamingTV",
    "StreamingMovies",
]

TELCO_TEMPLATES = {
    "tenure": ReasonTemplate(
        high=("Customer for {value:.0f} months", "已在网 {value:.0f} 个月"),
        low=("Customer for only {value:.0f} months", "在网仅 {value:.0f} 个月"),
    ),
    "log_tenure": ReasonTemplate(
        high=("Long-standing customer", "老用户"), low=("Joined recently", "入网时间短")
    ),
    "log_total": ReasonTemplate(
        high=("High total spend so far", "累计消费较高"),
        low=("Low total spend so far", "累计消费较低"),
    ),
    "Contract": ReasonTemplate(high=("{value} contract", "合同类型：{value}")),
    "InternetService": ReasonTemplate(high=("Internet service: {value}", "宽带类型：{value}")),
    "PaymentMethod": ReasonTemplate(high=("Pays by {value}", "付款方式：{value}")),
    "MonthlyCharges": ReasonTemplate(
        high=("High monthly bill ({value:.0f})", "月费较高（{value:.0f}）"),
        low=("Low monthly bill ({value:.0f})", "月费较低（{value:.0f}）"),
    ),
    "TechSupport": ReasonTemplate(high=("Tech support: {value}", "技术支持：{value}")),
    "OnlineSecurity": ReasonTemplate(high=("Online security: {value}", "网络安全服务：{value}")),
}


def load_telco() -> tuple[pd.DataFrame, np.ndarray]:
    """Features (with a few engineered columns) and the 0/1 churn label."""
    path = shared_data_dir() / "telco_churn" / "WA_Fn-UseC_-Telco-Customer-Churn.csv"
    df = pd.read_csv(path)
    total = pd.to_numeric(df["TotalCharges"].astype(str).str.strip().replace("", np.nan))
    df["TotalCharges"] = total.fillna(0.0)  # the 11 blanks are customers with tenure 0
    y = (df["Churn"] == "Yes").astype(int).to_numpy()
    X = df.drop(columns=["customerID", "Churn"])
    X["SeniorCitizen"] = X["SeniorCitizen"].map({0: "No", 1: "Yes"})
    X["log_tenure"] = np.log1p(X["tenure"])
    X["log_total"] = np.log1p(X["TotalCharges"])
    X["n_services"] = (X[SERVICES] == "Yes").sum(axis=1) + (X["InternetService"] != "No")
    X["charge_per_service"] = X["MonthlyCharges"] / (X["n_services"] + 1)
    X["charge_gap"] = X["MonthlyCharges"] - X["TotalCharges"] / np.maximum(X["tenure"], 1)
    return X, y


def run(seeds: list[int]) -> dict[str, object]:
    """Cross-validates the churn models once per seed.

    Args:
        seeds: Random seeds of the train/test splits.

    Returns:
        The per-seed results table (``res``), wall times, selected features, the pooled
        reliability table and example reasons.
    """
    X, y = load_telco()
    cat = [c for c in X.columns if X[c].dtype == object or pd.api.types.is_string_dtype(X[c])]
    num = [c for c in X.columns if c not in cat]
    rows = []
    pooled_y: list[np.ndarray] = []
    pooled_p: list[np.ndarray] = []
    selected: list[str] = []
    t0 = time.perf_counter()
    for seed in seeds:
        skf = StratifiedKFold(5, shuffle=True, random_state=seed)
        for fold, (tr, te) in enumerate(skf.split(X, y)):
            Xtr, Xte, ytr, yte = X.iloc[tr], X.iloc[te], y[tr], y[te]
            r: dict[str, object] = {"seed": seed, "fold": fold}
            for kind in ("logreg", "hgb"):
                m = make_candidate(kind, num, cat, random_state=0).fit(Xtr, ytr)
                p = m.predict_proba(Xte)[:, 1]
                r[f"{kind}_auc"] = roc_auc_score(yte, p)
                r[f"{kind}_brier"] = brier_score_loss(yte, p)
            fam = ChurnModel(
                categorical_features=cat, reason_templates=TELCO_TEMPLATES, random_state=0
            ).fit(Xtr, ytr)
            p = fam.predict_proba(Xte)[:, 1]
            r["family_auc"] = roc_auc_score(yte, p)
            r["family_brier"] = brier_score_loss(yte, p)
            selected.append(fam.selected_)
            if seed == seeds[0]:
                pooled_y.append(yte)
                pooled_p.append(p)
            rows.append(r)
            print(
                f"seed {seed} fold {fold}: "
                + ", ".join(f"{k}={v:.4f}" for k, v in r.items() if isinstance(v, float)),
                flush=True,
            )
    wall = time.perf_counter() - t0
    res = pd.DataFrame(rows)
    example = ChurnModel(
        categorical_features=cat, reason_templates=TELCO_TEMPLATES, random_state=0
    ).fit(X, y)
    risky = int(np.argmax(example.predict_proba(X)[:, 1]))
    reasons = [r.as_dict() for r in example.reasons(X.iloc[[risky]])[0]]
    return {
        "res": res,
        "wall": wall,
        "selected": selected,
        "reliability": reliability_table(np.concatenate(pooled_y), np.concatenate(pooled_p)),
        "reasons": reasons,
    }


def report(out: dict[str, object], seeds: list[int]) -> str:
    """Renders the results of :func:`run` as Markdown.

    Args:
        out: What :func:`run` returned.
        seeds: The seeds it ran with (the first one is shown in detail).

    Returns:
        The Markdown report.
    """
    res = out["res"]
    assert isinstance(res, pd.DataFrame)
    first = res[res["seed"] == seeds[0]]
    summary = []
    for kind, label in (
        ("logreg", "Logistic regression (one-hot + scaled)"),
        ("hgb", "HistGradientBoosting"),
        ("family", "Family model (selected + calibrated)"),
    ):
        summary.append(
            {
                "model": label,
                f"AUC seed {seeds[0]} (mean ± sd of 5 folds)": f"{first[f'{kind}_auc'].mean():.4f} ± {first[f'{kind}_auc'].std():.4f}",
                f"AUC all {len(seeds)}x5 folds": f"{res[f'{kind}_auc'].mean():.4f}",
                f"Brier seed {seeds[0]}": f"{first[f'{kind}_brier'].mean():.4f}",
                f"Brier all {len(seeds)}x5": f"{res[f'{kind}_brier'].mean():.4f}",
            }
        )
    sel = pd.Series(out["selected"]).value_counts().to_dict()
    rel = out["reliability"]
    assert isinstance(rel, pd.DataFrame)
    best = max(("logreg", "hgb", "family"), key=lambda k: first[f"{k}_auc"].mean())
    target_met = first[f"{best}_auc"].mean() >= 0.85
    lines = [
        provenance("bench.brain.telco"),
        "",
        "Data: `telco_churn/WA_Fn-UseC_-Telco-Customer-Churn.csv` (7,043 rows, 26.5% churn). "
        f"Split: `StratifiedKFold(5, shuffle=True, random_state=seed)`, seeds {seeds}; the same "
        "folds for every model. Features: the 19 raw columns plus log tenure, log total charges, "
        "number of services, charge per service and (monthly - average) charge. "
        f"Wall time {out['wall']:.0f} s on 2 cores.",
        "",
        md_table(summary),
        "",
        f"Family model choice per fold: {sel}. Target ROC-AUC >= 0.85: "
        f"{'met' if target_met else 'NOT met'} (best mean AUC {first[f'{best}_auc'].mean():.4f}, "
        f"{best}); published: LR 0.842-0.845, GB 0.843-0.847.",
        "",
        f"Reliability of the family model (pooled out-of-fold predictions, seed {seeds[0]}):",
        "",
        md_table(rel.to_dict("records"), floatfmt="{:.3f}"),
        "",
        "Reasons for the riskiest customer (model fit on all rows): "
        + "; ".join(f"{r['en']} / {r['zh']}" for r in out["reasons"]),  # type: ignore[attr-defined]
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Runs the churn benchmark on the Telco data over several seeds and writes the report.

    Args:
        argv: Command-line arguments (default ``sys.argv[1:]``).
    """
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, nargs="+", default=[42, 0, 1, 2, 3])
    ap.add_argument("--no-write", action="store_true", help="print only")
    a = ap.parse_args(argv)
    out = run(a.seeds)
    text = report(out, a.seeds)
    print(text)
    if not a.no_write:
        write_subsection("Telco churn (public anchor)", text)


if __name__ == "__main__":
    main()
