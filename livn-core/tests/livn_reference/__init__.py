"""A small, correct livn backend for proving the conformance suite (selected as ``backend="livn_reference.env"``).

``env.Env`` passes every check of :class:`livn.testing.BackendConformance`; each class in
``broken`` copies it with one defect and names the check that must catch it.
"""
