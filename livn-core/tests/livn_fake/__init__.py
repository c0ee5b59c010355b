"""A tiny fake livn backend for livn-core's own tests (selected as ``backend="livn_fake.env"``)."""
