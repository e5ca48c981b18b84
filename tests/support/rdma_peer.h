/* SPDX-License-Identifier: MIT */
/*
 * A scripted RDMA destination on the fake glue table, for the source's
 * engine tests (tests/rdma/test_rdma_source.c): it answers REGISTER_REQUESTs
 * and, under PIN_STREAM, SEGMENTS_REQUESTs lazily (or with the lie a test
 * asks for), counts WRITEs and COMPRESSes,
 * and keeps its own copy of the block so a test can compare memory.
 */
#ifndef RMIG_TEST_RDMA_PEER_H
#define RMIG_TEST_RDMA_PEER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/ram/ram.h"
#include "rdma/conn.h"
#include "rdma/wire.h"

#define MiB	    (1024ull * 1024)
#define CHUNK	    RMIG_RDMA_CHUNK_SIZE
#define MAX_CHUNKS  64
#define MAX_REQS    256
#define REMOTE_HOST 0x7f0000000000ull /* the destination's address of the block */
#define REMOTE_BASE 0x40000000ull     /* the block's base in the destination's RAM space */
#define BOGUS_RKEY  0xbad00000u	      /* keys of lying answers; no WRITE may carry one */
#define IDLE_MAX    10000	      /* waits in a row with nothing to answer: a hang */

/* A REGISTER_RESULT, one element longer than any honest one (for LIE_EXTRA_RESULT). */
#define ANSWER_MAX (RMIG_RDMA_HDR_SIZE + (RMIG_RDMA_REQ_BATCH + 1) * RMIG_RDMA_REGISTER_RESULT_SIZE)

#define CAPS_RMIG (RMIG_RDMA_CAP_CREDITS | RMIG_RDMA_CAP_REG_BATCH)
#define CAPS_QEMU 0u

enum peer_lie {
	LIE_NONE,
	LIE_EXTRA_RESULT,  /* one result more than asked for */
	LIE_FEWER_RESULTS, /* one result less */
	LIE_QEMU_LEN,	   /* len 16 whatever the repeat, as QEMU answers a batch */
	LIE_TRUNCATED,	   /* fewer bytes arrive than the header says */
	LIE_SEG_GAP,	   /* PIN_STREAM: the region after the next one */
	LIE_SEG_PAST_END,  /* PIN_STREAM: a region running past the block */
};

/* A REGISTER_RESULT not sent yet. */
struct peer_answer {
	uint8_t msg[ANSWER_MAX];
	uint32_t len;
	bool honest;
	uint32_t n;
	uint64_t chunk[RMIG_RDMA_REQ_BATCH], count[RMIG_RDMA_REQ_BATCH];
	uint32_t rkey[RMIG_RDMA_REQ_BATCH];
};

struct peer {
	struct rmig_rdma_conn *rc; /* NULL once the test closes the connection */
	uint32_t caps;		   /* negotiated: which message types decode */
	struct rmig_ramblock *b;
	uint8_t *mem; /* the destination's copy of the block */
	uint64_t nchunks;
	/* REGISTER_REQUESTs this round, in arrival order */
	unsigned nreq;
	uint64_t req_chunks[MAX_REQS]; /* sum over elements of (chunks + 1) */
	uint32_t req_elems[MAX_REQS];
	uint64_t req_first[MAX_REQS]; /* chunk of the first element */
	uint64_t req_max_extra;	      /* largest element .chunks seen */
	unsigned requested[MAX_CHUNKS];
	/* answers held back until the engine waits */
	struct peer_answer held[RMIG_RDMA_REQ_INFLIGHT + 1];
	unsigned held_head, nheld, max_unanswered;
	uint32_t next_rkey;
	/* registrations outlive rounds, as on a real destination */
	bool answered[MAX_CHUNKS];
	uint32_t rkey[MAX_CHUNKS];
	enum peer_lie lie;
	unsigned lie_at; /* index of the request to lie about */
	/* what arrived this round */
	uint64_t written[MAX_CHUNKS];
	unsigned nwrites, bogus_writes, errors, compress_max_elems;
	unsigned idle;
	bool hung;
	unsigned violations;
	char violation[256];
	/* bounded pinning */
	uint64_t max_pinned_opt;	/* the source's rdma-max-pinned, set before peer_connect */
	uint64_t run_pages;		/* round_run's runs, in pages (0: RMIG_RECORD_MAX_PAGES) */
	unsigned unregistered;		/* regions dropped by UNREGISTER_REQUEST */
	unsigned unreg_max_elems;	/* most elements in one UNREGISTER_REQUEST */
	bool unreg_error;		/* answer UNREGISTER_REQUEST with ERROR, dropping nothing */
	bool fail_register_send;	/* posting a REGISTER_REQUEST's SEND fails (EIO) */
	unsigned pinned_chunks, max_pinned_chunks; /* answered and not unregistered */
	/* PIN_STREAM: regions of seg_chunks chunks, pinned in order from seg_next */
	uint64_t seg_chunks, seg_next;
	unsigned seg_requests; /* over the whole connection */
	uint64_t seg_asked_at[MAX_CHUNKS]; /* bytes written this round when each request came */
};

/* The destination's state: tests read it and set its lie. */
extern struct peer peer;
/* The guest, writing while a round runs: called before each run is handed over. */
extern void (*guest_write)(struct rmig_ramblock *b, uint64_t page);

void peer_reset(void);
int peer_setup(void **state);
int peer_teardown(void **state);
void peer_assert_clean(void);
int round_run(struct rmig_conn *c, struct rmig_ram *ram, enum rmig_ram_phase phase);
struct rmig_conn *peer_connect(uint32_t flags, struct rmig_ram *ram);
void peer_close(struct rmig_conn *c);
struct rmig_ramblock *ram_make(struct rmig_ram *ram, uint64_t len);
void assert_same_memory(void);
void assert_ramp(unsigned exact);

#endif /* RMIG_TEST_RDMA_PEER_H */
