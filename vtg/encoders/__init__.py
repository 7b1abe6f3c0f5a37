"""Frame and text feature encoders."""
