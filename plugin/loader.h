/* SPDX-License-Identifier: MIT */
/*
 * Transport modules on disk.  rmig_transport_load() (one file) is public,
 * in <rmig/transport.h>.
 */
#ifndef RMIG_LOADER_H
#define RMIG_LOADER_H

/*
 * Load every "*.so" in @dir.  A missing directory is not an error; a bad
 * module is reported and skipped.  Returns how many were loaded.
 */
int rmig_transport_load_dir(const char *dir);

#endif /* RMIG_LOADER_H */
