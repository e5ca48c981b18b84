/* SPDX-License-Identifier: MIT */
/* The transports a migration can use: built-ins plus modules on disk. */
#ifndef RMIG_TRANSPORTS_H
#define RMIG_TRANSPORTS_H

/*
 * Register the built-in transports (plugin/builtin.h) and load modules
 * from $RMIG_PLUGIN_DIR, else the install's plugin dir.  Idempotent until
 * rmig_transport_reset(); migration start and incoming listen call it, so
 * an embedder never has to.
 */
int rmig_transport_init_all(void);

#endif /* RMIG_TRANSPORTS_H */
