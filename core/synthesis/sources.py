"""Where a round's candidates come from. Both sources turn one step of work into candidate rows; a row with a
`content_hash` goes on to the gradient filter, a row with a `reason` already set was rejected at the source.

- GeneratorSource: planned requests (plan.py: few-shot examples from a target sparse cluster, the exact prompt) ->
  problems -> m solutions each -> the majority answer (the method's recipe). One step = `request_batch` requests.
- PoolSource: the next unused rows of another dataset in the workspace, in a seeded order. One step = `pool_batch`
  rows. Their features are the pool's own, cached by content hash (a pool featurised once serves every run).
"""
from __future__ import annotations

import random

from core.data.ingest import content_hash
from core.data.store import Store
from core.synthesis.answers import SOLVE_PROMPT, answer_text, extract_answer, majority, parse_problems
from core.synthesis.config import SynthesisConfig
from core.synthesis.generators import Generator, Request
from core.synthesis.plan import PlannedRequest
from core.synthesis.stages import SOLVING, WRITING, Stage, StageFn

Row = dict  # one candidate: round, request_idx, problem_idx, target_cluster, problem, solution, ..., reason


class GeneratorSource:
    def __init__(self, generator: Generator, config: SynthesisConfig):
        self.generator, self.config = generator, config
        self.name = generator.name

    @property
    def notices(self) -> list[str]:
        """What the generator had to say about how it ran (a fallback and its reason)."""
        return list(getattr(self.generator, "notices", []))

    def run(self, rnd: int, step: list[PlannedRequest], stage: StageFn = lambda s: None) -> list[Row]:
        """The step's candidate rows: each planned request's prompt sent as is, its problems solved m times."""
        config = self.config
        requests = [Request((("user", planned.prompt),), config.problem_temperature, config.top_p,
                            config.max_problem_tokens, sample=0) for planned in step]
        stage(Stage(WRITING, rnd, len(requests), config.rounds))
        replies = self.generator.generate(requests)
        rows: list[Row] = []
        problems = []  # (row index, problem)
        for planned, reply in zip(step, replies):
            base = {"round": rnd, "request_idx": planned.index, "target_cluster": planned.target,
                    "raw_output": reply.text or ""}
            if reply.text is None:
                rows.append(base | {"problem_idx": -1, "reason": "generation error", "raw_output": reply.error or ""})
                continue
            found = parse_problems(reply.text, config.problems_per_request)
            if not found:
                rows.append(base | {"problem_idx": -1, "reason": "parse failure"})
            for p_idx, problem in enumerate(found):
                rows.append(base | {"problem_idx": p_idx, "problem": problem})
                problems.append((len(rows) - 1, problem))
        m = config.solutions_per_problem
        solve = [Request((("user", SOLVE_PROMPT.format(problem=p)),), config.solution_temperature, config.top_p,
                         config.max_solution_tokens, sample=s) for _, p in problems for s in range(m)]
        if solve:
            stage(Stage(SOLVING, rnd, len(solve), config.rounds))
        solutions = self.generator.generate(solve) if solve else []
        for n, (row_idx, problem) in enumerate(problems):
            row = rows[row_idx]
            texts = [o.text for o in solutions[n * m:(n + 1) * m]]
            row["solutions"] = texts
            if all(t is None for t in texts):
                row["reason"] = "solution error"
                continue
            answers = [extract_answer(t, config.answer_mode) if t else None for t in texts]
            row["answers"] = [answer_text(a, config.answer_mode) for a in answers]
            winner, row["votes"] = majority(answers, config.answer_mode)
            if all(a is None for a in answers):
                row["reason"] = "no answer"
            elif winner is None:
                row["reason"] = "no majority"
            else:
                row["answer"], row["solution"] = row["answers"][winner], texts[winner]
                row["content_hash"] = content_hash(problem, texts[winner])
        return rows


class PoolSource:
    def __init__(self, store: Store, config: SynthesisConfig):
        if not store.has_dataset(config.pool):
            raise KeyError(f"no candidate pool named {config.pool!r} in {store.path}")
        self.store, self.config = store, config
        self.name = f"pool:{config.pool}"
        ids = store.sample_ids(config.pool)
        random.Random(f"pool-order:{config.pool}:{config.seed}").shuffle(ids)
        self.order = ids  # the seeded order every run with this seed draws in

    def plan(self, used: set[str]) -> list[str]:
        """The pool rows not drawn yet by this run, in the run's order."""
        return [i for i in self.order if i not in used]

    def run(self, rnd: int, ids: list[str], first_index: int) -> list[Row]:
        by_id = self.store.rows_by_id(self.config.pool, ids)
        return [{"round": rnd, "request_idx": first_index + j, "problem_idx": 0, "target_cluster": None,
                 "source_id": sid, "problem": by_id[sid].prompt, "solution": by_id[sid].response,
                 "content_hash": by_id[sid].content_hash} for j, sid in enumerate(ids)]
