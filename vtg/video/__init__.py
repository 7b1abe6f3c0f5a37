"""Video input: probing and frame sampling with true timestamps."""
