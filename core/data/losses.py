"""Per-row losses of the proxy model, for the quality read (core/analysis/quality.py): the response's mean token loss
given its prompt (taken from the feature pass itself) and given no prompt (one extra forward pass), keyed like the
features by (feature config key, content hash). A row's IFD is their ratio."""
from __future__ import annotations

import numpy as np

from core.data.samples import in_view

KINDS = ("loss", "loss_alone")


class LossTables:
    """Mixin of Store: the row_losses table (self.query / self.transaction come from Store)."""

    @staticmethod
    def _write_losses(cur, key: str, hashes: list[str], kind: str, values: np.ndarray) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (len(hashes),):
            raise ValueError(f"{len(values)} losses for {len(hashes)} rows")
        if not np.isfinite(values).all():
            raise ValueError("a loss is not finite")
        first = {h: i for i, h in reversed(list(enumerate(hashes)))}  # one row per hash (an upsert touches it once)
        if len(first) < len(hashes):
            keep = sorted(first.values())
            hashes, values = [hashes[i] for i in keep], values[keep]
        import pyarrow as pa

        # through Arrow, not executemany (milliseconds per row there): a batch is one statement
        cur.register("incoming_losses", pa.table({"h": pa.array(hashes, pa.string()),
                                                  "v": pa.array(values, pa.float32())}))
        try:
            cur.execute(f"INSERT INTO row_losses (config_key, content_hash, {kind}) SELECT ?, h, v FROM "
                        f"incoming_losses ON CONFLICT (config_key, content_hash) DO UPDATE SET {kind} = "
                        f"excluded.{kind}", [key])
        finally:
            cur.unregister("incoming_losses")

    def write_losses(self, key: str, hashes: list[str], kind: str, values: np.ndarray) -> None:
        """One batch of one kind of loss, in one transaction (the other kind of a row is kept)."""
        with self.transaction() as cur:
            self._write_losses(cur, key, hashes, kind, values)

    def missing_loss_hashes(self, dataset: str, key: str, kind: str, view: str = "all") -> list[str]:
        """Content hashes of the dataset's rows without this kind of loss under the key."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        rows = self.query(f"SELECT DISTINCT s.content_hash FROM samples s LEFT JOIN row_losses l ON l.content_hash = "
                          f"s.content_hash AND l.config_key = ? WHERE s.dataset = ? AND l.{kind} IS NULL AND "
                          f"{in_view(view)} ORDER BY s.content_hash", [key, dataset])
        return [r[0] for r in rows]

    def losses_by_hash(self, key: str, hashes: list[str]) -> dict[str, tuple[float | None, float | None]]:
        if not hashes:
            return {}
        rows = self.query("SELECT content_hash, loss, loss_alone FROM row_losses WHERE config_key = ? AND "
                          "content_hash IN (SELECT unnest(?))", [key, hashes])
        return {h: (a, b) for h, a, b in rows}

    def loss_coverage(self, dataset: str, key: str, view: str = "kept") -> int:
        """The view's rows holding both losses under the key (what a quality read of them can use)."""
        return self.query(f"SELECT count(*) FROM samples s JOIN row_losses l ON l.content_hash = s.content_hash AND "
                          f"l.config_key = ? WHERE s.dataset = ? AND l.loss IS NOT NULL AND l.loss_alone IS NOT NULL "
                          f"AND {in_view(view)}", [key, dataset])[0][0]

    def dataset_losses(self, dataset: str, key: str, view: str = "kept") -> dict[str, tuple]:
        """content hash -> (loss, loss_alone) of the view's rows that have any loss under the key."""
        rows = self.query(f"SELECT DISTINCT s.content_hash, l.loss, l.loss_alone FROM samples s JOIN row_losses l ON "
                          f"l.content_hash = s.content_hash AND l.config_key = ? WHERE s.dataset = ? AND "
                          f"{in_view(view)}", [key, dataset])
        return {h: (a, b) for h, a, b in rows}
