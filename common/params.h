/* SPDX-License-Identifier: MIT */
/*
 * Migration capabilities and parameters, with their validation.
 *
 * The names are QEMU's where QEMU has one ("rdma-pin-all", "auto-converge",
 * "max-bandwidth", "downtime-limit"), so operators need learn nothing new.
 * The migration object refuses changes while a migration runs (see
 * rmig_migration_set_capability()); this file only knows what a valid
 * value is.
 */
#ifndef RMIG_PARAMS_H
#define RMIG_PARAMS_H

#include <stdbool.h>
#include <stdint.h>

enum rmig_capability {
	RMIG_CAP_RDMA_PIN_ALL = 0, /* "rdma-pin-all": register all RAM up front */
	RMIG_CAP_ZERO_PAGES,	   /* "zero-pages": send zero pages as markers */
	RMIG_CAP_AUTO_CONVERGE,	   /* "auto-converge": throttle writers that outrun us */
	RMIG_CAP_VERIFY,	   /* "verify": end-to-end per-block checksums */
	RMIG_CAP__COUNT,
};

#define RMIG_DOWNTIME_LIMIT_DEFAULT_MS 300
#define RMIG_DOWNTIME_LIMIT_MAX_MS 2000000 /* QEMU's ceiling */
#define RMIG_THROTTLE_INITIAL_DEFAULT 20
#define RMIG_THROTTLE_INCREMENT_DEFAULT 10
#define RMIG_THROTTLE_MAX 99

struct rmig_params {
	bool caps[RMIG_CAP__COUNT];
	uint64_t max_bandwidth;	   /* bytes/s; 0 = unlimited */
	uint64_t downtime_limit_ms;  /* 1 .. RMIG_DOWNTIME_LIMIT_MAX_MS */
	unsigned throttle_initial;   /* percent, 1..99 */
	unsigned throttle_increment; /* percent, 1..99 */
};

/* Defaults: zero-pages and verify on, the rest off; downtime-limit 300 ms. */
void rmig_params_init(struct rmig_params *p);

const char *rmig_capability_name(enum rmig_capability cap);
/* Returns the capability, or -ENOENT for an unknown name. */
int rmig_capability_from_name(const char *name);

/*
 * Set a parameter by its QEMU name from text: "max-bandwidth" takes a size
 * ("1G", "125M", "0"), "downtime-limit" milliseconds, "throttle-initial" and
 * "throttle-increment" a percentage.  Returns 0, -ENOENT for an unknown
 * name, or -EINVAL / -ERANGE for a bad value; on error @p is unchanged and
 * the reason was reported with rmig_error().
 */
int rmig_params_set(struct rmig_params *p, const char *name, const char *value);

/* Whole-object check, e.g. before a migration starts. 0 or -EINVAL (reported). */
int rmig_params_validate(const struct rmig_params *p);

/*
 * Parse a byte size: a decimal number with an optional binary suffix
 * K, M, G, T (also KiB/MiB/GiB/TiB, case-insensitive), e.g. "1G", "512M",
 * "4096", "1.5G".  Rejects empty strings, junk, negative numbers and
 * overflow.  Returns 0 or -EINVAL/-ERANGE; @out is set only on success.
 */
int rmig_parse_size(const char *s, uint64_t *out);

/* Format a size for humans: "1.00 GiB", "512.0 MiB", "4096 B". */
const char *rmig_format_size(uint64_t bytes, char *buf, unsigned len);

#endif /* RMIG_PARAMS_H */
