/* SPDX-License-Identifier: MIT */
/*
 * Muting this thread's log, for a best-effort step after a failure that
 * was already reported: what the step itself hits (a dead connection,
 * usually) would only repeat the first report, or bury it.
 */
#ifndef RMIG_BASE_LOGMUTE_H
#define RMIG_BASE_LOGMUTE_H

#include <stdbool.h>

/* While muted, rmig_log() and rmig_error() on this thread print and store nothing. */
void rmig_log_mute(bool on);

#endif
