"""Sizes of a DETR-family network read from its state dict (they win over the options a checkpoint
states, which are sometimes stale). One reader for Moment-DETR, QD-DETR and CG-DETR, which share
their input projections, encoder/decoder layer naming and query embeddings."""

from __future__ import annotations

from typing import Any

from vtg.errors import CheckpointError


class StateShapes:
    """Dimensions and layer counts of ``state`` (a name -> tensor mapping) of a ``model`` network."""

    def __init__(self, state: dict[str, Any], model: str):
        self.state, self.model = state, model

    def dim(self, key: str, axis: int) -> int:
        if key not in self.state:
            raise CheckpointError(f"the checkpoint lacks {key}; is it a {self.model} model?")
        return int(self.state[key].shape[axis])

    def count(self, prefix: str) -> int:
        """How many numbered submodules sit under ``prefix`` (``transformer.encoder.layers.``)."""
        return len({k[len(prefix):].split(".")[0] for k in self.state if k.startswith(prefix)})

    def common(self) -> dict[str, int]:
        """The sizes every member of the family has under the same names."""
        return {
            "v_feat_dim": self.dim("input_vid_proj.0.LayerNorm.weight", 0),
            "t_feat_dim": self.dim("input_txt_proj.0.LayerNorm.weight", 0),
            "num_queries": self.dim("query_embed.weight", 0),
            "enc_layers": self.count("transformer.encoder.layers."),
            "dec_layers": self.count("transformer.decoder.layers."),
            "dim_feedforward": self.dim("transformer.encoder.layers.0.linear1.weight", 0),
            "max_q_l": self.dim("txt_position_embed.position_embeddings.weight", 0),
            "n_input_proj": self.count("input_vid_proj."),
        }
