"""SlowFast R50 clip features (Feichtenhofer et al., "SlowFast Networks for Video Recognition",
ICCV 2019), as the released SlowFast+CLIP moment-retrieval checkpoints (Moment-DETR, QD-DETR,
CG-DETR, UniVTG) were trained on: the HERO / Moment-DETR extractor's sampling (:mod:`.sampling`),
PySlowFast's 8x8 R50 network (:mod:`.network`), its Kinetics-400 weights read without running
code (:mod:`.weights`), 2304 values per 2-s clip (:mod:`.features`).

Importing this package is cheap; torch loads when features are computed.
"""

from __future__ import annotations

SLOWFAST_DIM = 2304
