"""Belle-like Monte Carlo: event generators, detector response and ntuple writing.

The package lives in ``datasets/belle_mc`` and is imported as ``belle_mc`` (the
``datasets/`` folder itself is not a package, so it shadows nothing).

* :mod:`belle_mc.processes` - physics of each channel (matrix elements, radiators)
* :mod:`belle_mc.tau_decays` - tau decays with visible daughters
* :mod:`belle_mc.detector` - Belle detector response (acceptance, smearing, PID, ECL)
* :mod:`belle_mc.production` - seeded, chunked production of ROOT files + fileset
* :mod:`belle_mc.catalog` - which channels exist and the embedded default sample
"""
