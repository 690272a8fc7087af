"""Train the compact form's zstd dictionary: `python -m tiphys.core.status._train [out]`.

Offline and deterministic: 300 generated statuses of 12-1,200 nodes (`synth`), laid out as the
compact encoder lays them out, fed to `zstandard.train_dictionary`. The result ships as
`nodes.zdict`. Its ID is written into every compact frame, so a status written with one
dictionary is refused (not misread) by a build that ships another — retraining is a format
change: bump `compact.LAYOUT_VERSION` and keep the old dictionary readable if statuses exist.

The dictionary mostly helps small statuses (~3x at 12 nodes, ~1.4x at 100); at 5,000 nodes
the columns are their own dictionary and it changes the size by <1%.
"""
from __future__ import annotations

import random
import sys
from pathlib import Path

import zstandard

__all__ = ["train", "main"]

DICT_SIZE = 32 * 1024


def train(*, node_type: type, samples: int = 300, seed: int = 7) -> bytes:
    """The dictionary bytes, trained on `samples` generated statuses."""
    import msgspec

    from tiphys.core.status.compact import CompactCodec
    from tiphys.core.status.synth import synthetic_nodes

    codec = CompactCodec(node_type)
    rng = random.Random(seed)
    layouts = []
    for i in range(samples):
        size = rng.choice([12, 20, 40, 80, 150, 300, 600, 1200])
        nodes = msgspec.convert(synthetic_nodes(size, seed=1000 + i), dict[str, node_type])
        layouts.append(codec.layout(nodes))
    return zstandard.train_dictionary(DICT_SIZE, layouts, level=9, threads=1).as_bytes()


def main(argv: list[str] | None = None) -> int:
    from tiphys.core.spec import NodeStatus

    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else Path(__file__).with_name("nodes.zdict")
    out.write_bytes(train(node_type=NodeStatus))
    print(f"wrote {out} ({out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
