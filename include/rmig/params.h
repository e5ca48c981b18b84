/* SPDX-License-Identifier: MIT */
/*
 * Migration capabilities and parameters, by QEMU's names where QEMU has
 * one ("rdma-pin-all", "auto-converge", "max-bandwidth", "downtime-limit"),
 * so operators need learn nothing new.
 */
#ifndef RMIG_PUBLIC_PARAMS_H
#define RMIG_PUBLIC_PARAMS_H

#include <rmig/defs.h>

#ifdef __cplusplus
extern "C" {
#endif

enum rmig_capability {
	RMIG_CAP_RDMA_PIN_ALL = 0, /* "rdma-pin-all": register all RAM up front */
	RMIG_CAP_ZERO_PAGES,	   /* "zero-pages": send zero pages as markers */
	RMIG_CAP_AUTO_CONVERGE,	   /* "auto-converge": throttle writers that outrun us */
	RMIG_CAP_VERIFY,	   /* "verify": end-to-end per-block checksums */
	RMIG_CAP_MULTIFD,	   /* "multifd": pages over multifd-channels extra connections */
	RMIG_CAP__COUNT,
};

#define RMIG_DOWNTIME_LIMIT_DEFAULT_MS 300
#define RMIG_DOWNTIME_LIMIT_MAX_MS 2000000 /* QEMU's ceiling */
#define RMIG_THROTTLE_INITIAL_DEFAULT 20
#define RMIG_THROTTLE_INCREMENT_DEFAULT 10
#define RMIG_THROTTLE_MAX 99
/* "peer-timeout": how long either side waits for the other before giving up. */
#define RMIG_PEER_TIMEOUT_DEFAULT_MS 10000
#define RMIG_PEER_TIMEOUT_MAX_MS 3600000
/*
 * "rdma-max-pinned": bytes of RAM each side keeps registered in dynamic
 * mode; least recently used chunks are unregistered past it.  0 (the
 * default) derives it from RLIMIT_MEMLOCK; no bound when that is unlimited
 * or the process holds CAP_IPC_LOCK.
 */
#define RMIG_RDMA_MAX_PINNED_MIN (4ULL << 20)
/* "multifd-channels": connections that carry pages when multifd is on (QEMU's default 2). */
#define RMIG_MULTIFD_CHANNELS_DEFAULT 2
#define RMIG_MULTIFD_CHANNELS_LIMIT 64

RMIG_API const char *rmig_capability_get_name(enum rmig_capability cap);
/* Returns the capability, or -ENOENT for an unknown name. */
RMIG_API int rmig_capability_parse(const char *name);

#ifdef __cplusplus
}
#endif

#endif /* RMIG_PUBLIC_PARAMS_H */
