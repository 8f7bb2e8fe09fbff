"""Training log: rows for train_log.csv, optional TensorBoard scalars, a progress bar."""

from __future__ import annotations

import csv
import os
import sys
import warnings
from pathlib import Path

LOG_COLUMNS = (
    "step",
    "tokens",
    "bytes",
    "loss",
    "val_loss",
    "val_bpb",
    "lr",
    "tokens_per_s",
    "mfu",
)


class TrainLog:
    """Collects log rows (kept in checkpoints) and mirrors them to TensorBoard and a bar."""

    def __init__(
        self,
        rows: list[dict] | None = None,
        tensorboard_dir: str | Path | None = None,
        total_steps: int = 0,
        initial_step: int = 0,
        enabled: bool = True,
        desc: str = "train",
    ):
        self.rows = list(rows or [])
        self.enabled = enabled
        self.writer = None
        self.bar = None
        if not enabled:
            return
        if tensorboard_dir is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                warnings.warn(
                    "training.tensorboard is on but tensorboard is not installed "
                    "(pip install 'tokattn[tensorboard]'); writing train_log.csv only",
                    stacklevel=2,
                )
            else:
                self.writer = SummaryWriter(str(tensorboard_dir), purge_step=initial_step + 1)
        from tqdm import tqdm

        self.bar = tqdm(
            total=total_steps,
            initial=initial_step,
            desc=desc,
            unit="step",
            file=sys.stderr,
            mininterval=2.0,
            dynamic_ncols=True,
        )

    def add(self, row: dict) -> None:
        """Append one row (missing columns stay empty) and mirror it."""
        self.rows.append({k: row.get(k) for k in LOG_COLUMNS})
        if not self.enabled:
            return
        if self.writer is not None:
            for key in ("loss", "val_loss", "val_bpb", "lr", "tokens_per_s", "mfu"):
                if row.get(key) is not None:
                    self.writer.add_scalar(f"train/{key}", row[key], row["step"])
            self.writer.flush()
        if self.bar is not None:
            shown = {"loss": row.get("loss"), "tok/s": row.get("tokens_per_s")}
            if row.get("val_bpb") is not None:
                shown["val_bpb"] = row["val_bpb"]
            self.bar.set_postfix(
                {k: f"{v:.4g}" for k, v in shown.items() if v is not None}, refresh=False
            )

    def advance(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.writer is not None:
            self.writer.close()

    def write_csv(self, path: str | Path) -> None:
        """Write the rows to `path` atomically."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=LOG_COLUMNS)
            writer.writeheader()
            for row in self.rows:
                writer.writerow({k: "" if v is None else v for k, v in row.items()})
        os.replace(tmp, path)
