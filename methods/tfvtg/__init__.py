"""TFVTG (Zheng et al., ECCV 2024)."""
