"""The data engine: speech engines with phone timings, the procedural teacher that animates
them, data sets (synthetic builds and recorded corpora) and forced alignment of real speech
(never imported by the live path)."""
