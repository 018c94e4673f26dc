"""The home layer: one smart meter, several storage devices; the home decision and its simulation."""
