"""Writing generated traffic to disk."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .. import schema as SC

FORMATS = ("parquet", "jsonl", "csv")


def write_traffic(out_dir: str | Path, requests: pd.DataFrame, labels: pd.DataFrame,
                  fmt: str = "parquet") -> dict[str, Path]:
    """Write ``requests.<fmt>`` and ``labels.parquet`` into ``out_dir`` (created if missing).

    ``fmt`` is ``parquet``, ``jsonl`` (timestamps as ISO-8601 UTC strings) or ``csv``.
    Returns the paths written.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, not {fmt!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    req_path = out / f"requests.{fmt}"
    if fmt == "parquet":
        requests.to_parquet(req_path, index=False)
    else:
        df = requests.copy()
        for c in (SC.TIMESTAMP, SC.ACCOUNT_CREATED_AT):
            if c in df.columns:
                s = df[c].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                df[c] = s.where(df[c].notna(), None)
        if fmt == "jsonl":
            df.to_json(req_path, orient="records", lines=True, force_ascii=False)
        else:
            df.to_csv(req_path, index=False)
    lab_path = out / "labels.parquet"
    labels.to_parquet(lab_path, index=False)
    return {"requests": req_path, "labels": lab_path}
