/* SPDX-License-Identifier: MIT */
/* Everything an embedder needs, in one include. */
#ifndef RMIG_H
#define RMIG_H

#include "embedder.h"
#include "guest.h"
#include "incoming.h"
#include "log.h"
#include "migration.h"
#include "params.h"
#include "ram.h"
#include "registry.h"
#include "state.h"
#include "stats.h"
#include "transport.h"

#endif /* RMIG_H */
