"""Regenerate data/demo/demo_features.npz: the demo's features, MiniLM embeddings and layout under today's default
analysis options. Run it whenever the default feature identity changes (FEATURE_CODE_VERSION, the default mode or
sketch), then commit the file; tests/analysis/test_demo.py checks the shipped identity is today's default.

    python tools/make_demo_features.py [WORKSPACE]   # a workspace where the demo is already analysed is reused
"""
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

if __name__ == "__main__":
    os.environ["PRISM_HOME"] = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="prism-demo-")
    from core.analysis.analyse import AnalysisOptions
    from core.analysis.demo import write_shipped
    from core.data.store import Store

    with Store() as store:
        print(write_shipped(store, AnalysisOptions()))
