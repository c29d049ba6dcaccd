"""Tags and exclusions: what a curator decides about rows, stored beside the samples (which are never rewritten).

Every change is an action (tag, untag, exclude, include) recording exactly the rows it changed, so it can be undone,
and listed. An exclusion takes the row out of the dataset's default view ("kept"): every score, curve, map, selection
and export of the dataset then describes the kept rows, and since the kept rows' fingerprint is what those results
are keyed by (samples.content_fingerprint), an exclusion never serves a stale one. The "all" view shows every row.
"""
from __future__ import annotations

import dataclasses
import json
import time
import uuid

from core.data.samples import refresh_kept_fp

OPS = ("tag", "untag", "exclude", "include")


@dataclasses.dataclass(frozen=True)
class Action:
    action_id: str
    dataset: str
    op: str
    value: str
    n: int  # rows it changed
    created_at: float
    undone: bool


class MarkTables:
    """Mixin of Store: the marks and mark_actions tables."""

    def mark(self, dataset: str, ids: list[str], op: str, value: str = "") -> Action:
        """Apply one action to the rows `ids` (all must exist: an unknown id is an error, and nothing is stored)."""
        if op not in OPS:
            raise ValueError(f"op must be one of {OPS}, not {op!r}")
        value = value.strip() if op in ("tag", "untag") else ""
        if op in ("tag", "untag") and not value:
            raise ValueError("a tag needs a text")
        ids = list(dict.fromkeys(ids))
        known = {r[0] for r in self.query("SELECT sample_id FROM samples WHERE dataset = ? AND sample_id IN "
                                          "(SELECT unnest(?))", [dataset, ids])}
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise KeyError(f"{len(unknown)} id(s) not in dataset {dataset!r}: {', '.join(unknown[:5])}")
        kind = "tag" if op in ("tag", "untag") else "exclude"
        adding = op in ("tag", "exclude")
        action_id, now = uuid.uuid4().hex[:12], time.time()
        with self.transaction() as cur:
            have = {r[0] for r in cur.execute("SELECT sample_id FROM marks WHERE dataset = ? AND kind = ? AND value = ? "
                                              "AND sample_id IN (SELECT unnest(?))", [dataset, kind, value, ids]).fetchall()}
            changed = [i for i in ids if (i not in have) == adding]
            if adding and changed:
                cur.executemany("INSERT INTO marks VALUES (?, ?, ?, ?, ?, ?)",
                                [[dataset, i, kind, value, action_id, now] for i in changed])
            elif changed:
                cur.execute("DELETE FROM marks WHERE dataset = ? AND kind = ? AND value = ? AND sample_id IN "
                            "(SELECT unnest(?))", [dataset, kind, value, changed])
            cur.execute("INSERT INTO mark_actions VALUES (?, ?, ?, ?, ?, ?, ?, false)",
                        [action_id, dataset, op, value, json.dumps(changed), len(changed), now])
            if kind == "exclude":
                refresh_kept_fp(cur, dataset)
        return Action(action_id, dataset, op, value, len(changed), now, False)

    def undo(self, action_id: str, dataset_name: str | None = None) -> Action:
        """Reverse an action (the rows it changed, exactly: those the dataset still has, after a replace dropped
        some ids); an action undone twice is an error."""
        rows = self.query("SELECT dataset, op, value, ids, undone FROM mark_actions WHERE action_id = ?", [action_id])
        if not rows:
            raise KeyError(f"no action {action_id!r}")
        dataset, op, value, ids, undone = rows[0]
        if dataset_name is not None and dataset != dataset_name:  # `tag other --undo <t's action>` must not touch t
            raise ValueError(f"action {action_id} belongs to dataset {dataset!r}, not {dataset_name!r}: nothing undone")
        if undone:
            raise ValueError(f"action {action_id} was undone already")
        inverse = {"tag": "untag", "untag": "tag", "exclude": "include", "include": "exclude"}[op]
        ids = json.loads(ids)
        present = {r[0] for r in self.query("SELECT sample_id FROM samples WHERE dataset = ? AND sample_id IN "
                                            "(SELECT unnest(?))", [dataset, ids])}
        done = self.mark(dataset, [i for i in ids if i in present], inverse, value)
        self.query("UPDATE mark_actions SET undone = true WHERE action_id IN (?, ?)", [action_id, done.action_id])
        return done

    def actions(self, dataset: str, limit: int = 100) -> list[Action]:
        rows = self.query("SELECT action_id, dataset, op, value, n, created_at, undone FROM mark_actions WHERE "
                          "dataset = ? ORDER BY created_at DESC LIMIT ?", [dataset, limit])
        return [Action(*r) for r in rows]

    def tags(self, dataset: str) -> dict[str, list[str]]:
        """id -> its tags."""
        out: dict[str, list[str]] = {}
        for sid, value in self.query("SELECT sample_id, value FROM marks WHERE dataset = ? AND kind = 'tag' "
                                     "ORDER BY value", [dataset]):
            out.setdefault(sid, []).append(value)
        return out

    def tagged(self, dataset: str, tag: str) -> list[str]:
        """The ids carrying one tag, sorted."""
        return [r[0] for r in self.query("SELECT sample_id FROM marks WHERE dataset = ? AND kind = 'tag' AND value = ? "
                                         "ORDER BY sample_id", [dataset, tag])]

    def tag_counts(self, dataset: str) -> dict[str, int]:
        return dict(self.query("SELECT value, count(*) FROM marks WHERE dataset = ? AND kind = 'tag' GROUP BY value "
                               "ORDER BY 2 DESC", [dataset]))

    def excluded(self, dataset: str) -> list[str]:
        return [r[0] for r in self.query("SELECT sample_id FROM marks WHERE dataset = ? AND kind = 'exclude' "
                                         "ORDER BY sample_id", [dataset])]

