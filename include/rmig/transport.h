/* SPDX-License-Identifier: MIT */
/*
 * The transport plugin ABI.
 *
 * A transport is one struct rmig_transport_ops.  Built-in transports hand it
 * to rmig_transport_register(); a loadable module exports
 *
 *     const struct rmig_transport_ops *rmig_transport_init(uint32_t abi_version);
 *
 * (RMIG_TRANSPORT_INIT_SYMBOL), which receives the ABI version of the rmig
 * that loads it and returns its ops, or NULL to decline.  The same source
 * builds either way, as libfabric providers do.
 *
 * Versioning: the table starts with its own size, as libfabric's ops
 * structs do.  Slots are only ever appended; rmig treats a slot that lies
 * beyond a module's size as NULL (RMIG_TRANSPORT_HAS()), so an older module
 * keeps working with a newer rmig.  abi_version changes only when an
 * existing slot changes meaning, and a module built for another major
 * version is refused.
 *
 * Reentrancy (as SQLite documents for its VFS): a connection is used by one
 * thread at a time, except abort(), which any thread may call at any moment
 * to make blocked calls on that connection return promptly with an error.
 * The registry wrappers (plugin/registry.h) are the only callers of these
 * slots.  Transport code may use <rmig/log.h> and <rmig/ram.h>; nothing else
 * of rmig.
 *
 * All slots return 0 or a byte count on success and a negative errno on
 * failure, having reported the failure with rmig_error().
 */
#ifndef RMIG_TRANSPORT_H
#define RMIG_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <rmig/defs.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * 2: struct rmig_transport_stats gained channels and channel_bytes (rdma lanes).
 * 3: and pinned_overlap_ms.
 */
#define RMIG_TRANSPORT_ABI_VERSION 3u
#define RMIG_TRANSPORT_INIT_SYMBOL "rmig_transport_init"

struct rmig_ram;
struct rmig_ramblock;
struct rmig_transport_ops;

/*
 * A connection.  Transports embed it as the first member of their own
 * connection struct; the registry fills in ops after connect/accept.
 */
struct rmig_conn {
	const struct rmig_transport_ops *ops;
};

struct rmig_listener {
	const struct rmig_transport_ops *ops;
};

/* Options for connect and listen; grows at the end, like the ops table. */
struct rmig_conn_opts {
	uint32_t size;		/* sizeof(struct rmig_conn_opts) as the caller built it */
	int timeout_ms;		/* connect / address resolution; <= 0 means 10 s */
	bool rdma_pin_all;	/* ask for pin-all registration (rdma) */
	/*
	 * An fd that becomes readable when the caller gives up (cancel during
	 * SETUP); connect polls it alongside the connection attempt and
	 * returns -ECANCELED.  Used only when > 0, so a zero-initialised
	 * struct means "none" (fd 0 is stdin, never an eventfd of ours).
	 */
	int cancel_fd;
	/*
	 * The caller will also read what it writes to be answered (the
	 * migration's hand-over, docs/switchover.md): a transport that can
	 * only carry one direction (fd: on a pipe) must refuse.
	 */
	bool duplex;
	/*
	 * Longest wait for the peer on an open connection (a read with
	 * nothing arriving, a write that cannot proceed, a control message
	 * awaited) before the call fails with -ETIMEDOUT: the peer is frozen,
	 * gone or unreachable.  <= 0: no limit.  The migration passes its
	 * "peer-timeout" parameter.
	 */
	int peer_timeout_ms;
	/*
	 * rdma, dynamic registration: the most RAM bytes either side keeps
	 * registered; 0 derives it from RLIMIT_MEMLOCK.  The migration
	 * passes its "rdma-max-pinned" parameter.
	 */
	uint64_t rdma_max_pinned;
	/*
	 * rdma: a file holding the key both sides share; with it the peers
	 * prove they hold it before any memory is exposed (docs/rdma.txt
	 * section 17), and a peer that cannot is refused.  NULL: none.
	 */
	const char *auth_key;
	/*
	 * rdma: the multifd-channels to write pages over (queue pairs beside
	 * the control one); 0 or 1: the one QP.  A peer that cannot take
	 * channels (QEMU) gets one, and the transport says so.
	 */
	uint32_t rdma_channels;
	/*
	 * rdma, with channels: where the source's lane threads run, as the
	 * numa-node parameter: -2 the node of the RDMA device (auto), -1
	 * unbound, N node N.  The embedder's RAM is never moved.
	 */
	int rdma_numa_node;
};

/* What a RAM hook sent, added to the migration's totals by rmig. */
struct rmig_ram_counters {
	uint64_t zero_pages;   /* pages sent as "zero" markers (duplicate) */
	uint64_t normal_pages; /* pages whose contents were sent */
	uint64_t normal_bytes; /* contents bytes of those pages */
	uint64_t transferred;  /* bytes that crossed the wire, headers included */
};

/*
 * What a transport that registers memory reports of it (ram_stats).  The
 * struct grows only with RMIG_TRANSPORT_ABI_VERSION.
 */
struct rmig_transport_stats {
	uint64_t pinned_peak;	 /* most bytes of RAM registered at once */
	uint64_t pinned_limit;	 /* the bound it kept under; 0: none */
	uint64_t pinned_evicted; /* regions unregistered to stay under it */
	/* Channels the transport writes pages over itself (rdma lanes); 0: none. */
	uint32_t channels;
	uint64_t channel_bytes[64]; /* page bytes each of them carried */
	/* ms this side spent registering after SETUP, while pages moved (not setup-time) */
	uint64_t pinned_overlap_ms;
};

/* Phase argument of the RAM hooks. */
enum rmig_ram_phase {
	RMIG_RAM_PHASE_SETUP = 1, /* once, during the SETUP state */
	RMIG_RAM_PHASE_ROUND = 2, /* a bulk or dirty round */
	RMIG_RAM_PHASE_FINAL = 3, /* the last round, guest stopped */
};

/* ram_save_page() return value meaning "not mine, put it in the stream". */
#define RMIG_SAVE_PAGE_DECLINED 1

struct rmig_transport_ops {
	uint32_t size;	      /* sizeof(struct rmig_transport_ops) as the module built it */
	uint32_t abi_version; /* RMIG_TRANSPORT_ABI_VERSION the module was built for */
	const char *scheme;   /* URI scheme without the colon: "tcp", "rdma" */
	const char *description;

	/* --- connection (mandatory) --- */

	/* @addr is the URI after "scheme:". */
	int (*connect)(const char *addr, const struct rmig_conn_opts *opts, struct rmig_conn **out);
	int (*listen)(const char *addr, const struct rmig_conn_opts *opts, struct rmig_listener **out);
	/* Wait up to @timeout_ms (< 0: forever) for one peer; -ETIMEDOUT if none came. */
	int (*accept)(struct rmig_listener *l, int timeout_ms, struct rmig_conn **out);
	void (*listener_close)(struct rmig_listener *l);

	/* Stream bytes.  May be partial; 0 from read means orderly end of stream. */
	ssize_t (*write)(struct rmig_conn *c, const void *buf, size_t len);
	ssize_t (*read)(struct rmig_conn *c, void *buf, size_t len);
	/* Make blocked and future calls on @c fail with -ECANCELED.  Any thread. */
	void (*abort)(struct rmig_conn *c);
	void (*close)(struct rmig_conn *c);

	/* --- optional --- */

	/* Gather write; without it the stream falls back to write(). */
	ssize_t (*writev)(struct rmig_conn *c, const struct iovec *iov, int iovcnt);
	/* The address a listener is bound to, as a full URI ("tcp:127.0.0.1:40123"). */
	int (*listener_uri)(struct rmig_listener *l, char *buf, size_t len);

	/*
	 * RAM hooks, for transports that place pages themselves (RDMA).  All
	 * or none of them are set.  The flow, mirrored on both sides:
	 *
	 *   source                               destination
	 *   ram_attach(ram)                      ram_attach(ram)   (after the block list)
	 *   stream: HOOK record, flush     --->  reads HOOK record:
	 *   ram_before_iterate(phase)              ram_load(phase) serves the
	 *   ram_save_page() per dirty run          transport's own requests until
	 *   ram_after_iterate(phase)       --->    the source's after_iterate says done
	 *   stream: END-OF-ROUND record    --->  reads END-OF-ROUND
	 *
	 * Between the HOOK record and after_iterate the source writes nothing
	 * to the stream.  after_iterate returns only when every page saved in
	 * the round is in the destination's memory, so "round done" in the
	 * stream can never overtake the pages.
	 */
	int (*ram_attach)(struct rmig_conn *c, struct rmig_ram *ram);
	int (*ram_before_iterate)(struct rmig_conn *c, enum rmig_ram_phase phase);
	/*
	 * Take @npages pages of @b starting at page @page (never more than
	 * the caller's run; they may cross chunk boundaries, the transport
	 * splits).  Returns 0 when taken, adding what it sent to @acc, or
	 * RMIG_SAVE_PAGE_DECLINED to leave them to the stream.
	 */
	int (*ram_save_page)(struct rmig_conn *c, struct rmig_ramblock *b, uint64_t page,
			     uint64_t npages, struct rmig_ram_counters *acc);
	int (*ram_after_iterate)(struct rmig_conn *c, enum rmig_ram_phase phase,
				 struct rmig_ram_counters *acc);
	int (*ram_load)(struct rmig_conn *c, enum rmig_ram_phase phase);

	/*
	 * Change the connection's peer-timeout (see rmig_conn_opts) from now
	 * on; <= 0: no limit.  The engine lengthens it while the peer is
	 * known to be busy without talking (checksumming its RAM) and puts it
	 * back after.  Optional: without it the open-time value stays.
	 */
	int (*set_peer_timeout)(struct rmig_conn *c, int timeout_ms);
	/*
	 * End the read() waiting on @c now, or the next one, with -ECANCELED,
	 * once, and close nothing: writes still work.  Any thread.  For a
	 * cancel that still has something to tell the peer (the hand-over's
	 * ABORT, docs/switchover.md).  Optional: without it the engine aborts.
	 */
	void (*interrupt)(struct rmig_conn *c);
	/*
	 * Fill @st with what the transport pinned so far.  Called between
	 * rounds and at the end, on the thread driving @c.  Optional.
	 */
	void (*ram_stats)(struct rmig_conn *c, struct rmig_transport_stats *st);
	/*
	 * Who is at the other end, for messages: "tcp:10.0.0.1:4444 (peer
	 * 10.0.0.2:51234)".  Returns the length written.  Optional.
	 */
	int (*describe)(struct rmig_conn *c, char *buf, size_t len);
	/*
	 * The NUMA node of the device that carries @c (its netdev, its RDMA
	 * device), so the engine can run the connection's thread and keep its
	 * buffers there; -1 when it has none.  Optional: without it, none.
	 */
	int (*numa_node)(struct rmig_conn *c);
};

/* Is slot @member inside the table the module actually provided? */
#define RMIG_TRANSPORT_HAS(ops, member)                                                            \
	((ops)->size >= offsetof(struct rmig_transport_ops, member) + sizeof((ops)->member) &&     \
	 (ops)->member != NULL)

/* The smallest table rmig accepts: everything up to and including close. */
#define RMIG_TRANSPORT_OPS_MIN_SIZE                                                                \
	(offsetof(struct rmig_transport_ops, close) + sizeof(((struct rmig_transport_ops *)0)->close))

typedef const struct rmig_transport_ops *(*rmig_transport_init_fn)(uint32_t abi_version);

/*
 * The entry point a module defines (and the only symbol it need export).
 * Declared here so that the definition is visible from the module even
 * when it is compiled with -fvisibility=hidden.
 */
RMIG_API const struct rmig_transport_ops *rmig_transport_init(uint32_t abi_version);

/*
 * Add a transport that lives in the embedder's own code (SQLite's
 * sqlite3_vfs_register() idea).  Checks the table as for a module: ABI
 * version, size, scheme (lower-case letters, digits, '+', '-', '.', at
 * most 15 chars), mandatory slots, RAM hooks all or none.  -EEXIST if the
 * scheme is taken, -EPROTO/-EINVAL for a bad table (reported).
 */
RMIG_API int rmig_transport_register(const struct rmig_transport_ops *ops);

/*
 * Load one module file: dlopen, find RMIG_TRANSPORT_INIT_SYMBOL, call it,
 * register the result.  On any rejection the module is dlclosed and the
 * reason reported, naming the file.
 */
RMIG_API int rmig_transport_load(const char *path);

#ifdef __cplusplus
}
#endif

#endif /* RMIG_TRANSPORT_H */
