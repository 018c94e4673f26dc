"""The live home controller (``socbal run HOME.toml``): a smart meter, several vendor devices, the home decision."""
