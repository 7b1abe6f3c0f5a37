"""Frame overlays (NumPro frame numbers, timestamps), installed as vtg.overlays."""
