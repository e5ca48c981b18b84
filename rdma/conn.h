/* SPDX-License-Identifier: MIT */
/*
 * Private to rdma/: one RDMA migration connection, shared by the plugin
 * entry points (plugin.c, open.c), the source side (source.c, source_setup.c,
 * prefetch.c) and the destination's registration service (dest.c).
 */
#ifndef RMIG_RDMA_CONN_H
#define RMIG_RDMA_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include <rmig/ram.h>
#include <rmig/transport.h>

#include "rdma/cm.h"
#include "rdma/ctrl.h"
#include "rdma/keycache.h"
#include "rdma/lane.h"
#include "rdma/pinlru.h"
#include "rdma/progress.h"
#include "rdma/ramview.h"
#include "rdma/reg.h"
#include "rdma/res.h"
#include "rdma/write.h"

#define RMIG_RDMA_REQ_BATCH 16	   /* elements (runs of chunks) per REGISTER_REQUEST */
#define RMIG_RDMA_REQ_INFLIGHT 2   /* REGISTER_REQUESTs awaiting their result */
#define RMIG_RDMA_LOOKAHEAD 32	   /* chunks requested ahead of the write position */
/*
 * Chunks one REGISTER_REQUEST asks for at most.  A prefetch starts once
 * the writer is within LOOKAHEAD / 2 of the last chunk asked for, so a
 * request covers about that many anyway; the cap keeps the rule exact.
 */
#define RMIG_RDMA_REQ_MAX_CHUNKS (RMIG_RDMA_LOOKAHEAD / 2)
#define RMIG_RDMA_COMPRESS_BATCH 1024

/* One REGISTER_REQUEST awaiting its result: element i asks for chunks [chunk, chunk + count). */
struct rmig_rdma_req {
	uint32_t n;
	uint32_t block[RMIG_RDMA_REQ_BATCH];
	uint64_t chunk[RMIG_RDMA_REQ_BATCH];
	uint64_t count[RMIG_RDMA_REQ_BATCH];
};

struct rmig_rdma_conn {
	struct rmig_conn base; /* first: the registry sees this */
	struct rmig_rdma_cm cm;
	struct rmig_rdma_res res; /* on cm.id; freed before it */
	/* Polls cm and res; the abort flag, the sticky error, the peer's state. */
	struct rmig_rdma_progress prog;
	struct rmig_rdma_ctrl ctrl; /* registered with prog for SEND/RECV completions */
	struct rmig_rdma_rings ring_mem; /* rings faulted in ahead (open.c), until ctrl takes them */
	bool ctrl_ready;
	bool is_source;
	bool pin_all;	/* negotiated */
	bool credits;	/* negotiated */
	bool reg_batch;	/* negotiated: several elements per REGISTER_REQUEST / COMPRESS */
	bool pin_segments; /* negotiated: pin-all blocks may be several regions (SEGMENTS_*) */
	bool keepalive;	   /* negotiated: both send KEEPALIVEs, so silence has a deadline */
	bool pin_stream;   /* negotiated: pin-all regions pinned during the rounds (pinstream.c) */
	/* COMPRESS went out since the peer last proved it caught up (source.c). */
	bool compress_unsynced;
	bool closed_ok; /* orderly end seen */
	int peer_timeout_ms; /* the caller's peer-timeout (<= 0: none); progress.h has what applies */
	struct rmig_ram *ram;	       /* opaque: only through <rmig/ram.h> */
	struct rmig_rdma_ramview view; /* what the hooks need of each block, read at attach */
	/* destination stream read: the QEMU_FILE message being consumed */
	struct rmig_rdma_msg rd;
	bool rd_have;
	uint32_t rd_off;
	/* source */
	struct rmig_rdma_keycache *kc;
	struct rmig_rdma_writer w;
	struct rmig_ram_counters *acc;
	uint64_t *next_prefetch;	/* per block: first chunk not yet considered */
	const struct rmig_rdma_ramblk *save_blk; /* the block of the last ram_save_page */
	struct rmig_rdma_req reqs[RMIG_RDMA_REQ_INFLIGHT];
	uint32_t req_head, req_count;
	/*
	 * Chunks the next REGISTER_REQUEST may ask for: 1 at the start of a
	 * round, doubling per request up to RMIG_RDMA_REQ_MAX_CHUNKS.  The
	 * destination answers a request only once it has registered all of it
	 * (first-touch faults of fresh memory, ~2-4 ms per MiB under
	 * soft-RoCE), so a full first request would stall the first WRITE.
	 */
	uint64_t req_budget;
	bool pin_asked; /* PIN_STREAM: a SEGMENTS_REQUEST is waiting for its answer */
	bool pin_keyed; /* PIN_STREAM: every region has its key; nothing more to ask */
	/* dynamic mode: what both sides hold registered, kept under a bound (evict.h) */
	struct rmig_rdma_pinlru pins;
	uint64_t max_pinned_req; /* the caller's rdma-max-pinned; 0: from RLIMIT_MEMLOCK */
	uint8_t *cbuf;			/* COMPRESS elements being batched */
	uint32_t ncomp;
	struct rmig_rdma_compress last_comp;
	bool setup_done;
	uint32_t rounds; /* ROUND phases begun (1: the bulk round), for RMIG_RDMA_CUT_LANE */
	/* destination */
	struct rmig_rdma_dest_reg dreg;
	bool dreg_ready;
	uint64_t *bases;
	/* data lanes (multifd): WRITEs go on the lane owning their chunk; none: on res.qp */
	struct rmig_rdma_lane *lanes;
	uint32_t nlanes;
	uint32_t lanes_wanted; /* source: the caller's multifd-channels (1: no lanes) */
	int numa_param;	       /* source: numa-node for the lanes (-2 auto, -1 none, N) */
	/*
	 * While source_save hands a run to the lanes chunk by chunk: what of
	 * it is not queued yet (for the look-ahead, as the writer's rest).
	 */
	struct rmig_rdma_pending lane_rest;
	/* statistics */
	uint64_t reg_requests, reg_waits, reg_wait_ns, compress_msgs;
	uint64_t local_reg_ns; /* source: registering our own memory after SETUP */
	uint64_t local_stream_bytes; /* source, PIN_STREAM: our RAM registered so far */
};

struct rmig_rdma_listener {
	struct rmig_listener base; /* first: the registry sees this */
	struct rmig_rdma_cm cm;
	int timeout_ms;
	int peer_timeout_ms; /* for every connection accepted */
	struct rmig_rdma_auth_key *key; /* --auth-key: every source must prove it; NULL none */
	int cancel_fd;			/* the engine's cancel eventfd, polled only; -1 none */
	struct rmig_rdma_rings rings; /* the next source's, faulted in ahead (open.c) */
	bool rings_unprepared;	      /* the kernel cannot fault them in ahead: stop trying */
};

static inline struct rmig_rdma_conn *rmig_rdma_conn_of(struct rmig_conn *c)
{
	return (struct rmig_rdma_conn *)(void *)c;
}

/* What pin-all keeps locked on this side at most: all RAM, and the control rings. */
static inline uint64_t rmig_rdma_conn_pin_all_bytes(const struct rmig_rdma_conn *rc)
{
	return rmig_ram_get_total_bytes(rc->ram) +
	       (rc->ctrl.recv_mr ? rc->ctrl.recv_mr->length : 0) +
	       (rc->ctrl.send_mr ? rc->ctrl.send_mr->length : 0);
}

/* source.c: the RAM hooks of the source, one round at a time */
int rmig_rdma_source_attach(struct rmig_rdma_conn *rc, struct rmig_ram *ram);
int rmig_rdma_source_before(struct rmig_rdma_conn *rc, enum rmig_ram_phase phase);
int rmig_rdma_source_save(struct rmig_rdma_conn *rc, struct rmig_ramblock *rb, uint64_t page,
			  uint64_t npages, struct rmig_ram_counters *acc);
int rmig_rdma_source_after(struct rmig_rdma_conn *rc, enum rmig_ram_phase phase,
			   struct rmig_ram_counters *acc);
void rmig_rdma_source_fini(struct rmig_rdma_conn *rc);

/*
 * Access flags of the source's own registrations.  The NIC only reads this
 * memory, but a registration without LOCAL_WRITE pins pages read-only, and
 * for a page the guest never touched that is the kernel's shared zero page:
 * when the guest later writes the page it gets a fresh copy, while the MR
 * keeps the zero page and every later WRITE sends zeros (seen as a checksum
 * mismatch under soft-RoCE).  LOCAL_WRITE makes the pin break the sharing
 * first, so the MR and the guest see the same page, at the price of
 * populating the untouched pages of what is registered.
 */
#define RMIG_RDMA_SOURCE_ACCESS IBV_ACCESS_LOCAL_WRITE

/*
 * source_setup.c: the RAM block exchange (and SEGMENTS under pin-all with
 * PIN_SEGMENTS), with our own pin-all registration meanwhile.  Fills the
 * key cache with where each block lives on the destination.
 */
int rmig_rdma_source_setup(struct rmig_rdma_conn *rc);

/* prefetch.c: dynamic registration, asked for ahead of the writes */
/* A new round: the dirty set is new, so prefetch starts over from one chunk. */
void rmig_rdma_prefetch_restart(struct rmig_rdma_conn *rc);
/* Handle every REGISTER_RESULT queued; with @block, wait for at least one. */
int rmig_rdma_prefetch_poll(struct rmig_rdma_conn *rc, bool block);
/* The writer is at @chunk of @b: ask for it if nobody has, and wait for its key. */
int rmig_rdma_prefetch_need(struct rmig_rdma_conn *rc, const struct rmig_rdma_ramblk *b,
			    uint64_t chunk);
/*
 * The writer is done with @chunk of @b: collect what has come back and,
 * when it nears the last chunk asked for, ask for the next ones.  Never
 * blocks: it skips asking when no credit or request slot is free.
 */
int rmig_rdma_prefetch_ahead(struct rmig_rdma_conn *rc, const struct rmig_rdma_ramblk *b,
			     uint64_t chunk);

/*
 * pinstream.c: pin-all with PIN_STREAM, the source's side: one
 * SEGMENTS_REQUEST kept ahead of the writes, each answer a region's key.
 */
/* A SEGMENTS_RESULT arrived (rmig_rdma_prefetch_poll hands it over): check and store it. */
int rmig_rdma_pinstream_result(struct rmig_rdma_conn *rc, const struct rmig_rdma_msg *m);
/*
 * Ask for the next region unless one is asked for already or every
 * region has its key (then 1).  Without a credit: wait for one with
 * @wait, else ask later.
 */
int rmig_rdma_pinstream_ask(struct rmig_rdma_conn *rc, bool wait);

/* lanes.c: the CHANNELS exchange, on a connection that negotiated CHANNELS */
/* Source: build @n lanes, describe them, connect them to the destination's, start them. */
int rmig_rdma_lanes_open(struct rmig_rdma_conn *rc, uint32_t n);
/* Destination: take the source's CHANNELS_REQUEST, build and connect as many lanes, answer. */
int rmig_rdma_lanes_serve(struct rmig_rdma_conn *rc);
/* Stop and free every lane. */
void rmig_rdma_lanes_close(struct rmig_rdma_conn *rc);
/*
 * Source: wait until every WRITE posted on every lane completed.  Only
 * then may a SEND on the connection's QP speak of them: RC orders a
 * queue pair's own work, never one QP's against another's.  At a
 * @round_end every lane also proves it still reaches the destination,
 * with a zero-length WRITE, whether it carried pages in the round or not:
 * a cut lane fails the round it is cut in, as a silent tcp channel fails
 * at its SYNC.
 */
int rmig_rdma_lanes_quiesce(struct rmig_rdma_conn *rc, bool round_end);

/* The lane that carries every WRITE of @chunk of block @block. */
static inline struct rmig_rdma_lane *rmig_rdma_lane_of(const struct rmig_rdma_conn *rc,
						       uint32_t block, uint64_t chunk)
{
	return &rc->lanes[(chunk + block) % rc->nlanes];
}

/* dest.c */
int rmig_rdma_dest_attach(struct rmig_rdma_conn *rc, struct rmig_ram *ram);
int rmig_rdma_dest_load(struct rmig_rdma_conn *rc, enum rmig_ram_phase phase);
void rmig_rdma_dest_fini(struct rmig_rdma_conn *rc);

/* open.c: the ops table's connection slots, and the teardown rdma_close runs. */
int rmig_rdma_op_connect(const char *addr, const struct rmig_conn_opts *opts,
			 struct rmig_conn **out);
int rmig_rdma_op_listen(const char *addr, const struct rmig_conn_opts *opts,
			struct rmig_listener **out);
int rmig_rdma_op_accept(struct rmig_listener *base, int timeout_ms, struct rmig_conn **out);
void rmig_rdma_listener_close(struct rmig_listener *base);
int rmig_rdma_listener_uri(struct rmig_listener *base, char *buf, size_t len);
/* Everything in reverse order of creation; safe on a partly built connection. */
void rmig_rdma_conn_free(struct rmig_rdma_conn *rc);

/* plugin.c: the writer's wait callback (one blocking round of progress). */
int rmig_rdma_conn_wait(void *opaque);
/* plugin.c: the ops table (also what the module's init returns). */
const struct rmig_transport_ops *rmig_rdma_get_ops(void);

#endif /* RMIG_RDMA_CONN_H */
