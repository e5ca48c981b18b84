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

#include <rmig/params.h>

#define RMIG_PARAM_PATH_MAX  256
#define RMIG_PARAM_NAME_MAX  256
#define RMIG_PARAM_AUTHZ_MAX 2048

struct rmig_params {
	bool caps[RMIG_CAP__COUNT];
	uint64_t max_bandwidth;	   /* bytes/s; 0 = unlimited */
	uint64_t downtime_limit_ms;  /* 1 .. RMIG_DOWNTIME_LIMIT_MAX_MS */
	unsigned cpu_throttle_initial;   /* percent, 1..99 */
	unsigned cpu_throttle_increment; /* percent, 1..99 */
	unsigned max_cpu_throttle;	 /* percent, 1..99: auto-converge's ceiling */
	uint64_t peer_timeout_ms;    /* longest wait for the peer; 100 .. RMIG_PEER_TIMEOUT_MAX_MS */
	uint64_t rdma_max_pinned;    /* bytes kept registered in dynamic mode; 0 = from memlock */
	unsigned multifd_channels;   /* 1 .. RMIG_MULTIFD_CHANNELS_LIMIT, used with caps[MULTIFD] */
	int numa_node;		     /* channels' node: RMIG_NUMA_NODE_AUTO, _NONE or a node */
	uint64_t max_ram;	     /* destination: most RAM a source may ask for; 0 = MemAvailable */
	/* TLS on stream transports (plugin/tls.h); "" = not set */
	char tls_creds[RMIG_PARAM_PATH_MAX];	/* x509 directory, QEMU's layout */
	char tls_psk[RMIG_PARAM_PATH_MAX];	/* "identity:hexkey" file */
	char tls_hostname[RMIG_PARAM_NAME_MAX]; /* source: default the URI's host */
	char tls_authz[RMIG_PARAM_AUTHZ_MAX];	/* destination: accepted DNs, one per line */
	char auth_key[RMIG_PARAM_PATH_MAX];	/* rdma: the shared key file (docs/rdma.txt section 17) */
};

/*
 * "numa-node": where multifd channels run and keep their buffers.  "auto"
 * (the default): the node of the device that carries each channel, when
 * it has one; "none": no binding; or a node number, for every channel.
 */
#define RMIG_NUMA_NODE_AUTO (-2)
#define RMIG_NUMA_NODE_NONE (-1)
#define RMIG_NUMA_NODE_MAX  1023

/* The parameters that hold text, not numbers. */
#define RMIG_PARAMS_TEXT_NAMES "tls-creds, tls-psk, tls-hostname, tls-authz and auth-key"
bool rmig_params_is_text(const char *name);
/*
 * Parameters that only one kind of transport honours, against @uri:
 * auth-key is for rdma, the tls-* ones for the stream transports.  Said
 * before connecting or listening, rather than ignored.  0 or -EINVAL.
 */
int rmig_params_check_uri(const struct rmig_params *p, const char *uri);

/* Defaults: zero-pages and verify on, the rest off; downtime-limit 300 ms. */
void rmig_params_init(struct rmig_params *p);


/*
 * Set a parameter by its QEMU name from text: "max-bandwidth" takes a size
 * ("1G", "125M", "0"), "downtime-limit" milliseconds, "cpu-throttle-initial",
 * "cpu-throttle-increment" and "max-cpu-throttle" a percentage ("throttle-
 * initial" and "throttle-increment", rmig's names before QEMU's, still
 * work).  Returns 0, -ENOENT for an unknown name, or -EINVAL / -ERANGE for a
 * bad value; on error @p is unchanged and the reason was reported with
 * rmig_error().
 */
int rmig_params_set(struct rmig_params *p, const char *name, const char *value);

/*
 * May @name change while a migration runs?  The ones QEMU and libvirt
 * change live (migrate-setspeed, migrate-setmaxdowntime, the throttle):
 * max-bandwidth, downtime-limit and the three cpu-throttle ones.
 */
bool rmig_params_is_live(const char *name);

/* The names rmig_params_is_live() accepts, for messages. */
#define RMIG_PARAMS_LIVE_NAMES                                                                     \
	"max-bandwidth, downtime-limit, cpu-throttle-initial, cpu-throttle-increment and "        \
	"max-cpu-throttle"

/* Whole-object check, e.g. before a migration starts. 0 or -EINVAL (reported). */
int rmig_params_validate(const struct rmig_params *p);

#endif /* RMIG_PARAMS_H */
