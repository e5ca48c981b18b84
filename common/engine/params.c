/* SPDX-License-Identifier: MIT */
/*
 * Capabilities, parameters and their validation.  All text parsing here is
 * done by hand rather than with strtoull/strtod: those accept leading blanks,
 * signs ("-1" wraps to 2^64-1) and locale-specific decimal points, none of
 * which an operator typing "1.5G" means.
 */
#include "common/engine/params.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <rmig/log.h>

#include "common/base/size.h"
#include "common/base/util.h"

static const char *const cap_names[RMIG_CAP__COUNT] = {
	[RMIG_CAP_RDMA_PIN_ALL] = "rdma-pin-all",
	[RMIG_CAP_ZERO_PAGES] = "zero-pages",
	[RMIG_CAP_AUTO_CONVERGE] = "auto-converge",
	[RMIG_CAP_VERIFY] = "verify",
	[RMIG_CAP_MULTIFD] = "multifd",
};

void rmig_params_init(struct rmig_params *p)
{
	memset(p, 0, sizeof(*p));
	p->caps[RMIG_CAP_ZERO_PAGES] = true;
	p->caps[RMIG_CAP_VERIFY] = true;
	p->max_bandwidth = 0;
	p->downtime_limit_ms = RMIG_DOWNTIME_LIMIT_DEFAULT_MS;
	p->cpu_throttle_initial = RMIG_THROTTLE_INITIAL_DEFAULT;
	p->cpu_throttle_increment = RMIG_THROTTLE_INCREMENT_DEFAULT;
	p->max_cpu_throttle = RMIG_THROTTLE_MAX;
	p->peer_timeout_ms = RMIG_PEER_TIMEOUT_DEFAULT_MS;
	p->multifd_channels = RMIG_MULTIFD_CHANNELS_DEFAULT;
	p->numa_node = RMIG_NUMA_NODE_AUTO;
}

const char *rmig_capability_get_name(enum rmig_capability cap)
{
	/* Never NULL: callers pass the result straight to "%s". */
	return (unsigned)cap < RMIG_CAP__COUNT ? cap_names[cap] : "invalid";
}

/* Silent lookup, so rmig_params_set() can recognise a capability name without reporting. */
static int capability_lookup(const char *name)
{
	for (int i = 0; i < RMIG_CAP__COUNT; i++)
		if (strcmp(name, cap_names[i]) == 0)
			return i;
	return -ENOENT;
}

int rmig_capability_parse(const char *name)
{
	int cap = name ? capability_lookup(name) : -ENOENT;

	if (cap < 0)
		rmig_error("unknown capability '%.64s': known capabilities are rdma-pin-all, "
			   "zero-pages, auto-converge, verify and multifd",
			   name ? name : "");
	return cap;
}

/* ---- numbers ------------------------------------------------------------ */

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int parse_bounded(const char *name, const char *value, const char *unit, uint64_t min,
			 uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	bool overflow = false;
	const char *p = value;

	if (!is_digit(*p))
		goto bad;
	for (; is_digit(*p); p++)
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(*p - '0'), &v))
			overflow = true;
	if (*p)
		goto bad;
	if (overflow || v < min || v > max) {
		rmig_error("%s %.64s is out of range: expected %s from %" PRIu64 " to %" PRIu64,
			   name, value, unit, min, max);
		return -ERANGE;
	}
	*out = v;
	return 0;
bad:
	rmig_error("invalid %s '%.64s': expected a whole number of %s from %" PRIu64 " to %" PRIu64,
		   name, value, unit, min, max);
	return -EINVAL;
}

/* A text parameter into its fixed buffer, refused rather than cut. */
static int set_text(char *dst, size_t size, const char *name, const char *value)
{
	size_t len = strlen(value);

	if (len >= size) {
		rmig_error("%s is too long: %zu bytes, at most %zu", name, len, size - 1);
		return -ERANGE;
	}
	memcpy(dst, value, len + 1);
	return 0;
}

bool rmig_params_is_text(const char *name)
{
	static const char *const text[] = { "tls-creds", "tls-psk", "tls-hostname", "tls-authz",
					    "auth-key" };

	for (size_t i = 0; name && i < sizeof(text) / sizeof(text[0]); i++)
		if (strcmp(name, text[i]) == 0)
			return true;
	return false;
}

int rmig_params_set(struct rmig_params *p, const char *name, const char *value)
{
	uint64_t v;
	int rc;

	if (!p || !name || !value) {
		rmig_error("cannot set a migration parameter: %s missing",
			   !name ? "name" : !value ? "value" : "parameter object");
		return -EINVAL;
	}
	if (strcmp(name, "max-bandwidth") == 0) {
		rc = rmig_size_parse(value, &v);
		if (rc)
			return rc;
		p->max_bandwidth = v;
	} else if (strcmp(name, "downtime-limit") == 0) {
		rc = parse_bounded(name, value, "milliseconds", 1, RMIG_DOWNTIME_LIMIT_MAX_MS, &v);
		if (rc)
			return rc;
		p->downtime_limit_ms = v;
	} else if (strcmp(name, "cpu-throttle-initial") == 0 ||
		   strcmp(name, "throttle-initial") == 0) {
		rc = parse_bounded(name, value, "percent", 1, RMIG_THROTTLE_MAX, &v);
		if (rc)
			return rc;
		p->cpu_throttle_initial = (unsigned)v;
	} else if (strcmp(name, "cpu-throttle-increment") == 0 ||
		   strcmp(name, "throttle-increment") == 0) {
		rc = parse_bounded(name, value, "percent", 1, RMIG_THROTTLE_MAX, &v);
		if (rc)
			return rc;
		p->cpu_throttle_increment = (unsigned)v;
	} else if (strcmp(name, "max-cpu-throttle") == 0) {
		rc = parse_bounded(name, value, "percent", 1, RMIG_THROTTLE_MAX, &v);
		if (rc)
			return rc;
		p->max_cpu_throttle = (unsigned)v;
	} else if (strcmp(name, "peer-timeout") == 0) {
		rc = parse_bounded(name, value, "milliseconds", 100, RMIG_PEER_TIMEOUT_MAX_MS, &v);
		if (rc)
			return rc;
		p->peer_timeout_ms = v;
	} else if (strcmp(name, "multifd-channels") == 0) {
		rc = parse_bounded(name, value, "channels", 1, RMIG_MULTIFD_CHANNELS_LIMIT, &v);
		if (rc)
			return rc;
		p->multifd_channels = (unsigned)v;
	} else if (strcmp(name, "numa-node") == 0) {
		if (strcmp(value, "auto") == 0) {
			p->numa_node = RMIG_NUMA_NODE_AUTO;
		} else if (strcmp(value, "none") == 0) {
			p->numa_node = RMIG_NUMA_NODE_NONE;
		} else {
			rc = parse_bounded(name, value, "node (or auto, none)", 0,
					   RMIG_NUMA_NODE_MAX, &v);
			if (rc)
				return rc;
			p->numa_node = (int)v;
		}
	} else if (strcmp(name, "max-ram") == 0) {
		rc = rmig_size_parse(value, &v);
		if (rc)
			return rc;
		p->max_ram = v;
	} else if (strcmp(name, "rdma-max-pinned") == 0) {
		rc = rmig_size_parse(value, &v);
		if (rc)
			return rc;
		if (v && v < RMIG_RDMA_MAX_PINNED_MIN) {
			rmig_error("rdma-max-pinned %.64s is too small: dynamic registration needs "
				   "at least 4 MiB (4 chunks), or 0 to derive it from the "
				   "locked-memory limit",
				   value);
			return -ERANGE;
		}
		p->rdma_max_pinned = v;
	} else if (strcmp(name, "tls-creds") == 0) {
		return set_text(p->tls_creds, sizeof(p->tls_creds), name, value);
	} else if (strcmp(name, "tls-psk") == 0) {
		return set_text(p->tls_psk, sizeof(p->tls_psk), name, value);
	} else if (strcmp(name, "tls-hostname") == 0) {
		return set_text(p->tls_hostname, sizeof(p->tls_hostname), name, value);
	} else if (strcmp(name, "tls-authz") == 0) {
		return set_text(p->tls_authz, sizeof(p->tls_authz), name, value);
	} else if (strcmp(name, "auth-key") == 0) {
		return set_text(p->auth_key, sizeof(p->auth_key), name, value);
	} else if (capability_lookup(name) >= 0) {
		rmig_error("'%s' is a capability, not a parameter: turn it on or off instead",
			   name);
		return -ENOENT;
	} else {
		rmig_error("unknown migration parameter '%.64s': known parameters are "
			   "max-bandwidth, downtime-limit, cpu-throttle-initial, "
			   "cpu-throttle-increment, max-cpu-throttle, peer-timeout, rdma-max-pinned, "
			   "multifd-channels, numa-node, "
			   "max-ram, tls-creds, tls-psk, tls-hostname, tls-authz and auth-key",
			   name);
		return -ENOENT;
	}
	return 0;
}

bool rmig_params_is_live(const char *name)
{
	static const char *const live[] = {
	    "max-bandwidth",	    "downtime-limit",	 "cpu-throttle-initial", "throttle-initial",
	    "cpu-throttle-increment", "throttle-increment", "max-cpu-throttle",
	};

	for (size_t i = 0; name && i < sizeof(live) / sizeof(live[0]); i++)
		if (strcmp(name, live[i]) == 0)
			return true;
	return false;
}

int rmig_params_check_uri(const struct rmig_params *p, const char *uri)
{
	bool rdma = uri && strncmp(uri, "rdma:", 5) == 0;

	if (p->caps[RMIG_CAP_MULTIFD] && uri && strncmp(uri, "fd:", 3) == 0) {
		rmig_error("multifd needs more connections than fd: can give (it is one "
			   "descriptor); use tcp: or unix:, or leave multifd off");
		return -EINVAL;
	}
	if (p->auth_key[0] && !rdma) {
		rmig_error("auth-key authenticates rdma peers; over %.16s use tls-psk or tls-creds",
			   uri ? uri : "this transport");
		return -EINVAL;
	}
	if ((p->tls_creds[0] || p->tls_psk[0]) && rdma) {
		rmig_error("TLS protects stream transports; over rdma the pages bypass any stream: "
			   "use auth-key to authenticate the peer");
		return -EINVAL;
	}
	return 0;
}

int rmig_params_validate(const struct rmig_params *p)
{
	if (!p) {
		rmig_error("no migration parameters given");
		return -EINVAL;
	}
	if (p->tls_creds[0] && p->tls_psk[0]) {
		rmig_error("TLS: give tls-creds or tls-psk, not both");
		return -EINVAL;
	}
	if ((p->tls_hostname[0] || p->tls_authz[0]) && !p->tls_creds[0]) {
		rmig_error("TLS: tls-hostname and tls-authz check certificates, so they need "
			   "tls-creds (x509)%s",
			   p->tls_psk[0] ? "; with tls-psk the key itself is the identity" : "");
		return -EINVAL;
	}
	if (p->downtime_limit_ms < 1 || p->downtime_limit_ms > RMIG_DOWNTIME_LIMIT_MAX_MS) {
		rmig_error("downtime-limit %" PRIu64 " ms is out of range: expected 1 to %u",
			   p->downtime_limit_ms, (unsigned)RMIG_DOWNTIME_LIMIT_MAX_MS);
		return -EINVAL;
	}
	if (p->cpu_throttle_initial < 1 || p->cpu_throttle_initial > RMIG_THROTTLE_MAX) {
		rmig_error("cpu-throttle-initial %u%% is out of range: expected 1 to %u",
			   p->cpu_throttle_initial, (unsigned)RMIG_THROTTLE_MAX);
		return -EINVAL;
	}
	if (p->cpu_throttle_increment < 1 || p->cpu_throttle_increment > RMIG_THROTTLE_MAX) {
		rmig_error("cpu-throttle-increment %u%% is out of range: expected 1 to %u",
			   p->cpu_throttle_increment, (unsigned)RMIG_THROTTLE_MAX);
		return -EINVAL;
	}
	if (p->max_cpu_throttle < 1 || p->max_cpu_throttle > RMIG_THROTTLE_MAX) {
		rmig_error("max-cpu-throttle %u%% is out of range: expected 1 to %u",
			   p->max_cpu_throttle, (unsigned)RMIG_THROTTLE_MAX);
		return -EINVAL;
	}
	if (p->multifd_channels < 1 || p->multifd_channels > RMIG_MULTIFD_CHANNELS_LIMIT) {
		rmig_error("multifd-channels %u is out of range: expected 1 to %u",
			   p->multifd_channels, (unsigned)RMIG_MULTIFD_CHANNELS_LIMIT);
		return -EINVAL;
	}
	if (p->peer_timeout_ms < 100 || p->peer_timeout_ms > RMIG_PEER_TIMEOUT_MAX_MS) {
		rmig_error("peer-timeout %" PRIu64 " ms is out of range: expected 100 to %u",
			   p->peer_timeout_ms, (unsigned)RMIG_PEER_TIMEOUT_MAX_MS);
		return -EINVAL;
	}
	return 0;
}
