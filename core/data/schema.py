"""The whole workspace schema in one place, created when the store opens (never lazily from a worker thread, where
two first writers would race on CREATE TABLE), and brought forward from older workspaces by adding columns.

Feature vectors live in one FLOAT[d] table per dimension (features_d{d}), created when a config of that d first
registers (vectors.py).
"""
from __future__ import annotations

TABLES = """
CREATE TABLE IF NOT EXISTS datasets (
    name VARCHAR PRIMARY KEY, source VARCHAR, created_at DOUBLE, n_samples INTEGER, rejected_rows INTEGER,
    report JSON);
CREATE TABLE IF NOT EXISTS samples (
    dataset VARCHAR, ordinal INTEGER, sample_id VARCHAR, content_hash VARCHAR, prompt VARCHAR, response VARCHAR,
    meta JSON, PRIMARY KEY (dataset, sample_id));
CREATE TABLE IF NOT EXISTS feature_configs (config_key VARCHAR PRIMARY KEY, identity JSON, created_at DOUBLE);
CREATE TABLE IF NOT EXISTS scores (
    dataset VARCHAR, config_key VARCHAR, metric VARCHAR, q DOUBLE, value DOUBLE, n INTEGER, computed_at DOUBLE,
    PRIMARY KEY (dataset, config_key, metric, q));
CREATE TABLE IF NOT EXISTS kv_cache (key VARCHAR PRIMARY KEY, value JSON, created_at DOUBLE);
CREATE TABLE IF NOT EXISTS jobs (
    id VARCHAR PRIMARY KEY, kind VARCHAR, dataset VARCHAR, params JSON,
    status VARCHAR,  -- queued | running | done | failed | cancelled | interrupted
    stage VARCHAR, done BIGINT, total BIGINT, message VARCHAR, error VARCHAR, result JSON,
    cancel_requested BOOLEAN, pid INTEGER, created_at DOUBLE, started_at DOUBLE, updated_at DOUBLE,
    finished_at DOUBLE);
CREATE TABLE IF NOT EXISTS map_rows (
    map_key VARCHAR, ordinal INTEGER, sample_id VARCHAR, cluster INTEGER, sparse BOOLEAN, density FLOAT, x FLOAT,
    y FLOAT, PRIMARY KEY (map_key, sample_id));
CREATE TABLE IF NOT EXISTS marks (
    dataset VARCHAR, sample_id VARCHAR, kind VARCHAR, value VARCHAR, action_id VARCHAR, created_at DOUBLE,
    PRIMARY KEY (dataset, sample_id, kind, value));  -- kind: tag (value = the tag) | exclude (value = '')
CREATE TABLE IF NOT EXISTS mark_actions (
    action_id VARCHAR PRIMARY KEY, dataset VARCHAR, op VARCHAR, value VARCHAR, ids JSON, n INTEGER,
    created_at DOUBLE, undone BOOLEAN);  -- op: tag | untag | exclude | include; ids: the rows it changed
CREATE TABLE IF NOT EXISTS row_losses (
    config_key VARCHAR, content_hash VARCHAR, loss FLOAT, loss_alone FLOAT,
    PRIMARY KEY (config_key, content_hash));  -- the proxy's mean response loss with / without the prompt (quality)
CREATE TABLE IF NOT EXISTS llm_cache (key VARCHAR PRIMARY KEY, text VARCHAR, error VARCHAR, created_at DOUBLE);
CREATE TABLE IF NOT EXISTS synth_runs (
    run_id VARCHAR PRIMARY KEY, dataset VARCHAR, config JSON, generator VARCHAR, feature_key VARCHAR,
    status VARCHAR, created_at DOUBLE, updated_at DOUBLE, summary JSON);
CREATE TABLE IF NOT EXISTS synth_rounds (
    run_id VARCHAR, round INTEGER, status VARCHAR, k INTEGER, sparse_clusters JSON, pool_n INTEGER,
    g_vendi_before DOUBLE, g_vendi_after DOUBLE, g_vendi_control DOUBLE, accepted INTEGER, candidates INTEGER,
    PRIMARY KEY (run_id, round));
CREATE TABLE IF NOT EXISTS synth_candidates (
    run_id VARCHAR, round INTEGER, request_idx INTEGER, problem_idx INTEGER, target_cluster INTEGER,
    raw_output VARCHAR, problem VARCHAR, solutions JSON, answers JSON, votes INTEGER, answer VARCHAR,
    solution VARCHAR, content_hash VARCHAR, cluster INTEGER, accepted BOOLEAN, reason VARCHAR, created_at DOUBLE,
    PRIMARY KEY (run_id, round, request_idx, problem_idx));
"""

# Columns added after a table first shipped: (table, column, type). ADD COLUMN IF NOT EXISTS is a no-op on a
# workspace that has them already.
COLUMNS = (
    ("jobs", "owner", "VARCHAR"),  # the token of the process running the job (jobs.py)
    ("jobs", "eta", "DOUBLE"),  # seconds left at the last progress (jobs.py: a smoothed rate, never climbing)
    ("synth_rounds", "clustering", "BLOB"),  # the round's clustering, written with its row in one transaction
    ("synth_rounds", "error", "VARCHAR"),
    ("datasets", "content_fp", "VARCHAR"),  # samples.content_fingerprint: what cached results are keyed by
    ("datasets", "kept_fp", "VARCHAR"),  # the same over the rows not excluded (NULL: nothing is excluded)
    ("scores", "content_fp", "VARCHAR"),  # the dataset's fingerprint when the score was computed
    ("map_rows", "mass", "FLOAT"),  # sparsity.gradient_mass of each row (the mass rule's per-sample score)
    ("map_rows", "suspect", "BOOLEAN"),  # the quality read's suspect rows (left out of the rules)
    ("synth_candidates", "source_id", "VARCHAR"),  # a pool-sourced candidate's row id in the pool
    ("synth_candidates", "control", "BOOLEAN"),  # drawn into the control arm
    ("synth_candidates", "quality", "VARCHAR"),  # a suspect candidate's reasons (JSON list of words)
    ("synth_rounds", "embedding_vendi_after", "DOUBLE"),
    ("synth_rounds", "embedding_vendi_control", "DOUBLE"),
    ("synth_rounds", "n_after", "INTEGER"),
    ("synth_rounds", "n_control", "INTEGER"),
    ("synth_rounds", "control_accepted", "INTEGER"),
    ("synth_rounds", "control_k", "INTEGER"),
    ("synth_rounds", "control_sparse", "INTEGER"),
    ("samples", "source_line", "INTEGER"),  # the record's line in its source file (ingest.Sample.line; NULL: unknown)
)


def create(cursor) -> None:
    cursor.execute(TABLES)
    for table, column, kind in COLUMNS:
        cursor.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {kind}")
