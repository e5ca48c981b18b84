/* SPDX-License-Identifier: MIT */
/* The destination beyond <rmig/incoming.h>: what the stream said, for rmig's own tools. */
#ifndef RMIG_INCOMING_H
#define RMIG_INCOMING_H

#include <rmig/incoming.h>

#include "common/engine/format.h"

const struct rmig_load_info *rmig_incoming_load_info(struct rmig_incoming *in);

#endif /* RMIG_INCOMING_H */
