#!/usr/bin/env python3
"""Writes the small .npy inputs of the tool tests (run again to regenerate them)."""
import os

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(0)
np.save(os.path.join(here, "x_3x64.npy"), rng.standard_normal((3, 64)).astype(np.float32))
np.save(os.path.join(here, "x_3x65.npy"), rng.standard_normal((3, 65)).astype(np.float32))
np.save(os.path.join(here, "x_3x64_f64.npy"), rng.standard_normal((3, 64)))
