//! Properties checked by the fuzz targets in `fuzz/` and by the corpus replay tests.
