"""Write tests/files/format_v<N>.nc for the current format version (run once per new version).

Each released format version keeps one small file here; tests load every one of them.
"""

from pathlib import Path

from bayes_scaling import _constants as K
from bayes_scaling.testing import fabricated_fit

if __name__ == "__main__":
    path = Path(__file__).with_name(f"format_v{K.FORMAT_VERSION}.nc")
    fabricated_fit(chains=1, draws=100, random_seed=0).save(path)
    print(f"wrote {path} ({path.stat().st_size} bytes)")
