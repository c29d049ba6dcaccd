"""Layering rules of the code, checked on the tree (issue 20).

- Only core/data (every table's owner) and core/jobs.py speak SQL: no SQL statement, no `.query(`/`.execute(` on a
  connection or store, no DuckDB connection anywhere else in core/, ui/, pages/, app.py or bench/ (SQL_EXEMPT: two
  benches corrupt a workspace's storage on purpose, and one holds a SQL query as junk text).
- core/ never imports streamlit; core/analysis never imports core/synthesis (writing rows is core/data's).
"""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SQL_OWNERS = ("core/data/", "core/jobs.py")
SQL_EXEMPT = {"bench/hostile_io.py": "corrupts storage on purpose", "bench/hostile_storage.py": "the same",
              "bench/junk.py": "a SQL query is one of its junk texts (data, never run)"}
SQL = re.compile(r"\b(SELECT\s+[\w*(]|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(OR\s+REPLACE\s+)?"
                 r"(TABLE|INDEX|VIEW|SEQUENCE)|ALTER\s+TABLE|DROP\s+(TABLE|INDEX|VIEW)|COPY\s+\(|PRAGMA\s+\w)")
# a statement run on a store or a connection, or a connection opened (importing duckdb for its exception types is fine)
CALLS = re.compile(r"\b(\w*store(\(\))?|con|conn|cur|cursor|connection|db)\.(query|execute|executemany|sql)\(|"
                   r"duckdb\.(connect|sql|execute)\(")


def python_files(*folders: str):
    for folder in folders:
        path = ROOT / folder
        yield from ([path] if path.is_file() else sorted(path.rglob("*.py")))


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def sql_lines(path: Path) -> list[str]:
    return [f"{rel(path)}:{i}: {line.strip()[:100]}" for i, line in enumerate(path.read_text().splitlines(), 1)
            if SQL.search(line) or CALLS.search(line)]


def test_only_core_data_and_jobs_speak_sql():
    found = []
    for path in python_files("core", "ui", "pages", "bench", "app.py"):
        name = rel(path)
        if name.startswith(SQL_OWNERS) or name in SQL_EXEMPT:
            continue
        found += sql_lines(path)
    assert not found, "SQL outside core/data and core/jobs.py:\n" + "\n".join(found)


def test_the_rule_sees_sql_where_it_is():
    """The check itself: it finds the owners' SQL (so an empty result above means none, not a blind regex)."""
    owners = [line for path in python_files("core/data", "core/jobs.py") for line in sql_lines(path)]
    assert len(owners) > 50
    assert SQL.search('store.query("SELECT id FROM jobs WHERE x = ?")') and not SQL.search("select --budget 10")
    assert CALLS.search("get_store().query(sql)") and CALLS.search("con = duckdb.connect(path)")
    assert not CALLS.search("lsh.query(m)") and not CALLS.search("import duckdb")


def test_core_never_imports_streamlit_and_analysis_never_imports_synthesis():
    bad = []
    for path in python_files("core"):
        text = path.read_text()
        if re.search(r"^\s*(import|from)\s+streamlit\b", text, re.M):
            bad.append(f"{rel(path)} imports streamlit")
        if rel(path).startswith("core/analysis/") and re.search(r"^\s*from\s+core\.synthesis\b|^\s*import\s+core\."
                                                                  r"synthesis\b", text, re.M):
            bad.append(f"{rel(path)} imports core.synthesis")
    assert not bad, bad
