"""Regenerate data/demo/demo_features.npz: the demo's features, MiniLM embeddings and layout under today's default
analysis options. Run it whenever the default feature identity changes (FEATURE_CODE_VERSION, the default mode or
sketch), then commit the file; tests/analysis/test_demo.py checks the shipped identity is today's default.

    python tools/make_demo_features.py [WORKSPACE]   # a workspace where the demo is already analysed is reused
    python tools/make_demo_features.py --losses      # add the quality read's losses to today's file only
"""
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--losses"]
    os.environ["PRISM_HOME"] = args[0] if args else tempfile.mkdtemp(prefix="prism-demo-")
    from core.analysis.analyse import AnalysisOptions
    from core.analysis.demo import add_losses, write_shipped
    from core.data.store import Store

    with Store() as store:
        print((add_losses if "--losses" in sys.argv else write_shipped)(store, AnalysisOptions()))
