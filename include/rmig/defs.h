/* SPDX-License-Identifier: MIT */
/*
 * Shared by every public header: what librmig exports.
 *
 * librmig is built with -fvisibility=hidden and a version script, so only
 * declarations marked RMIG_API leave the library.  ci/check-install holds
 * the version script, these markers and `nm -D` against each other.
 */
#ifndef RMIG_DEFS_H
#define RMIG_DEFS_H

#define RMIG_API __attribute__((visibility("default")))

#endif /* RMIG_DEFS_H */
